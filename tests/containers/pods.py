"""Run Kubernetes pod specs as docker containers, the way the kubelet would run them.

Generic: it takes pod specs (from any manifest: a TFJob's replica templates, an
InferenceService's predictor) and maps what a pod declares onto `docker create`:

- command/args: command replaces the image's ENTRYPOINT, args its CMD;
- env: values, and the downward API the kubelet resolves (resourceFieldRef, fieldRef to
  the pod's name, namespace, labels and annotations); `$(VAR)` in command and args;
- volumes: a PersistentVolumeClaim is a host folder bound in (subPath, readOnly honoured);
  emptyDir is a tmpfs;
- securityContext (pod and container): runAsUser/runAsGroup, fsGroup and
  supplementalGroups as supplementary groups, runAsNonRoot checked as the kubelet checks
  it, capabilities, allowPrivilegeEscalation, readOnlyRootFilesystem, seccomp;
- resources.limits: CPU and memory limits;
- probes: httpGet readiness/liveness polled from here.

Anything else a spec asks for raises, so a manifest cannot silently ask for what this
stand-in does not do.
"""

import math
import re
import time
import urllib.request

from tests.containers.engine import docker, inspect

QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "Ki": 2**10,
    "M": 1e6,
    "Mi": 2**20,
    "G": 1e9,
    "Gi": 2**30,
    "T": 1e12,
    "Ti": 2**40,
}


class Unsupported(AssertionError):
    pass


def quantity(value):
    match = QUANTITY.match(str(value))
    if not match:
        raise Unsupported(f"resource quantity {value!r}")
    return float(match[1]) * FACTORS[match[2]]


def single_container(pod_spec):
    containers = pod_spec["containers"]
    if len(containers) != 1 or pod_spec.get("initContainers"):
        raise Unsupported("pods with one container only")
    return containers[0]


def resolve_env(container, pod_name, namespace, labels, annotations=None):
    """{name: value} of the container's env as the kubelet resolves it."""
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        source = var.get("valueFrom", {})
        if "resourceFieldRef" in source:  # the kubelet rounds up to whole divisors
            ref = source["resourceFieldRef"]
            kind, resource = ref["resource"].split(".")
            value = quantity(container["resources"][kind][resource])
            env[var["name"]] = str(math.ceil(value / quantity(ref.get("divisor", "1"))))
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": pod_name, "metadata.namespace": namespace}
            for kind, values in (("labels", labels), ("annotations", annotations or {})):
                key = re.match(rf"metadata\.{kind}\['(.+)'\]$", path)
                if key:
                    fields[path] = values.get(key[1], "")
            if path not in fields:
                raise Unsupported(f"fieldRef {path}")
            env[var["name"]] = fields[path]
        else:
            raise Unsupported(f"env {var['name']} from {sorted(source)}")
    return env


def expand(text, env):
    """The kubelet's $(VAR) expansion in command and args ($$ escapes; unknown names stay)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]) if m[1] else "$", text)


def security_args(pod_spec, container, image):
    pod_sc, sc = pod_spec.get("securityContext", {}), container.get("securityContext", {})
    merged = {**pod_sc, **sc}
    args = []
    user = merged.get("runAsUser")
    if user is None:
        image_user = inspect("image", image)["Config"].get("User", "")
        user_part = image_user.split(":")[0]
        if merged.get("runAsNonRoot") and not user_part.isdigit():
            raise AssertionError(
                f"runAsNonRoot with non-numeric image user {image_user!r}: the kubelet refuses to start it"
            )
        user = int(user_part) if user_part.isdigit() else 0
    if merged.get("runAsNonRoot") and int(user) == 0:
        raise AssertionError("runAsNonRoot, but the container would run as root: the kubelet refuses to start it")
    if user is not None:
        group = merged.get("runAsGroup")
        args += ["--user", f"{user}:{group}" if group is not None else str(user)]
    for group in [pod_sc.get("fsGroup"), *pod_sc.get("supplementalGroups", [])]:
        if group is not None:
            args += ["--group-add", str(group)]
    caps = merged.get("capabilities", {})
    args += [f"--cap-drop={c}" for c in caps.get("drop", [])] + [f"--cap-add={c}" for c in caps.get("add", [])]
    if merged.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if merged.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    seccomp = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise Unsupported(f"seccompProfile {seccomp}")
    if merged.get("privileged"):
        raise Unsupported("privileged containers")
    return args


def volume_args(pod_spec, container, claims):
    """-v/--tmpfs for each volumeMount; claims maps a PVC name to its host folder."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    args = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "persistentVolumeClaim" in volume:
            pvc = volume["persistentVolumeClaim"]
            host = claims[pvc["claimName"]]
            if mount.get("subPath"):
                host = host / mount["subPath"]
            read_only = mount.get("readOnly") or pvc.get("readOnly")
            args += ["-v", f"{host}:{mount['mountPath']}:{'ro' if read_only else 'rw'}"]
        elif "emptyDir" in volume:
            args += ["--tmpfs", f"{mount['mountPath']}:mode=1777"]
        else:
            raise Unsupported(f"volume {mount['name']} of kind {sorted(set(volume) - {'name'})}")
    return args


def resource_args(container):
    limits = container.get("resources", {}).get("limits", {})
    args = []
    if "cpu" in limits:
        args += ["--cpus", f"{quantity(limits['cpu']):g}"]
    if "memory" in limits:
        args += ["--memory", str(int(quantity(limits["memory"])))]
    if set(limits) - {"cpu", "memory"}:
        raise Unsupported(f"resource limits {sorted(set(limits) - {'cpu', 'memory'})}")
    return args


def create(
    pod_name,
    pod_spec,
    *,
    network,
    claims,
    namespace="default",
    labels=None,
    annotations=None,
    hostname=None,
    extra_env=None,
    aliases=(),
    image=None,
):
    """`docker create` the pod's container as `pod_name` on `network`; return the name.
    `extra_env` is what a controller injects (TF_CONFIG): appended after the spec's env,
    as the Training Operator appends it. `hostname` is the pod's spec.hostname (default:
    its name). `image` overrides the spec's (a locally built tag)."""
    container = single_container(pod_spec)
    image = image or container["image"]
    env = {**resolve_env(container, pod_name, namespace, labels or {}, annotations), **(extra_env or {})}
    hostname = hostname or pod_name[:63]
    args = ["create", "--name", pod_name, "--hostname", hostname, "--network", network]
    for alias in aliases:
        args += ["--network-alias", alias]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    args += security_args(pod_spec, container, image) + volume_args(pod_spec, container, claims)
    args += resource_args(container)
    if container.get("workingDir"):
        args += ["-w", container["workingDir"]]
    command = container.get("command")
    if command:
        args += ["--entrypoint", expand(command[0], env)]
    args.append(image)
    args += [expand(a, env) for a in [*(command[1:] if command else []), *container.get("args", [])]]
    docker(*args)
    return pod_name


def exit_state(name):
    """(running, exit code) of a container."""
    state = inspect("container", name)["State"]
    return state["Running"], state["ExitCode"]


def wait_http_probe(url_base, probe, *, timeout, container=None):
    """Poll an httpGet probe as the kubelet does until it succeeds (2xx/3xx); return the
    seconds it took. Fails at once if the container exits."""
    path = probe["httpGet"].get("path", "/")
    url = f"{url_base}:{probe['httpGet']['port']}{path}"
    period = probe.get("periodSeconds", 10)
    start = time.monotonic()
    time.sleep(min(probe.get("initialDelaySeconds", 0), timeout))
    while True:
        try:
            with urllib.request.urlopen(url, timeout=probe.get("timeoutSeconds", 1)) as response:
                if 200 <= response.status < 400:
                    return time.monotonic() - start
        except OSError:
            pass
        if container and not exit_state(container)[0]:
            raise AssertionError(f"{container} exited before its probe {path} passed:\n{logs(container)}")
        if time.monotonic() - start > timeout:
            raise AssertionError(f"probe {url} did not pass in {timeout} s")
        time.sleep(min(period, 1.0))  # poll faster than the kubelet: the test only waits less


def logs(name, tail=80):
    result = docker("logs", "--tail", str(tail), name, check=False)
    return result.stdout + result.stderr

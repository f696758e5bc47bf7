"""A TFJob run as the Training Operator v1.9 runs it, with docker containers for pods.

From kubeflow/training-operator v1.9.0, pkg/controller.v1/tensorflow:
- one pod per replica, named and reachable (headless service) as `<job>-<type>-<index>`,
  `<job>-<type>-<index>.<namespace>.svc` in TF_CONFIG (tensorflow.go genClusterSpec), on the
  port of the `tensorflow` container named `tfjob-port` (default 2222, util.go);
- TF_CONFIG only for distributed jobs (more than one replica), appended to the env of the
  `tensorflow` container: Go's json.Marshal of {cluster (keys sorted), task {type, index},
  environment: "cloud"}, no spaces (tensorflow.go genTFConfigJSONStr);
- restartPolicy OnFailure: a failed container restarts in place (same pod, same name);
  ExitCode: a pod whose exit code is retryable (>= 128: killed by a signal) is recreated,
  1-127 fail the job; Never: the job fails; runPolicy.backoffLimit bounds the restarts;
- success (no chief): worker 0 completed; successPolicy AllWorkers: every worker; then
  cleanPodPolicy Running removes what still runs.
"""

import json
import time

from tests.containers import pods
from tests.containers.engine import docker

CONTAINER, PORT_NAME, DEFAULT_PORT = "tensorflow", "tfjob-port", 2222


def replica_port(replica_spec):
    for container in replica_spec["template"]["spec"]["containers"]:
        if container["name"] == CONTAINER:
            for port in container.get("ports", []):
                if port.get("name") == PORT_NAME:
                    return port["containerPort"]
    return DEFAULT_PORT


def pod_name(job, rtype, index):
    return f"{job}-{rtype.lower()}-{index}".replace("/", "-")


def operator_tf_config(tfjob, rtype, index):
    """TF_CONFIG exactly as the operator writes it."""
    name, namespace = tfjob["metadata"]["name"], tfjob["metadata"].get("namespace", "default")
    cluster = {}
    for rt, spec in tfjob["spec"]["tfReplicaSpecs"].items():
        port = replica_port(spec)
        cluster[rt.lower()] = [
            f"{pod_name(name, rt, i)}.{namespace}.svc:{port}" for i in range(spec.get("replicas", 1))
        ]
    config = {
        "cluster": dict(sorted(cluster.items())),
        "task": {"type": rtype.lower(), "index": index},
        "environment": "cloud",
    }
    return json.dumps(config, separators=(",", ":"))


def is_distributed(tfjob):
    specs = tfjob["spec"]["tfReplicaSpecs"].values()
    return len(specs) > 1 or sum(s.get("replicas", 1) for s in specs) > 1


class TFJobRun:
    """The job's pods as containers on `network`; PVCs are the host folders in `claims`."""

    def __init__(self, tfjob, *, network, claims, image=None):
        self.tfjob, self.network, self.claims, self.image = tfjob, network, claims, image
        self.name = tfjob["metadata"]["name"]
        self.namespace = tfjob["metadata"].get("namespace", "default")
        self.run_policy = tfjob["spec"].get("runPolicy", {})
        self.replicas = {}  # pod name -> (rtype, index, replica spec)
        for rtype, spec in tfjob["spec"]["tfReplicaSpecs"].items():
            for index in range(spec.get("replicas", 1)):
                self.replicas[pod_name(self.name, rtype, index)] = (rtype, index, spec)
        self.restarts = {name: 0 for name in self.replicas}
        self.events = []

    def _create(self, name):
        rtype, index, spec = self.replicas[name]
        template = spec["template"]
        env = {"TF_CONFIG": operator_tf_config(self.tfjob, rtype, index)} if is_distributed(self.tfjob) else {}
        pods.create(
            name,
            template["spec"],
            network=self.network,
            claims=self.claims,
            namespace=self.namespace,
            labels=template.get("metadata", {}).get("labels", {}),
            extra_env=env,
            aliases=[f"{name}.{self.namespace}.svc"],
            image=self.image,
        )
        docker("start", name)

    def start(self):
        for name in self.replicas:
            self._create(name)
        return self

    def total_restarts(self):
        return sum(self.restarts.values())

    def wait(self, timeout):
        """Supervise until the job succeeds (return "Succeeded") or fails (return "Failed: why")."""
        deadline = time.monotonic() + timeout
        backoff_limit = self.run_policy.get("backoffLimit")
        while time.monotonic() < deadline:
            states = {name: pods.exit_state(name) for name in self.replicas}
            for name, (running, code) in states.items():
                if running or code == 0:
                    continue
                policy = self.replicas[name][2].get("restartPolicy", "Never")
                retry = policy in ("OnFailure", "Always") or (policy == "ExitCode" and code >= 128)
                if not retry:
                    return f"Failed: {name} exited {code} (restartPolicy {policy})"
                if backoff_limit is not None and self.total_restarts() >= backoff_limit:
                    return f"Failed: backoffLimit {backoff_limit} reached ({name} exited {code})"
                self.restarts[name] += 1
                self.events.append(f"{name} exited {code}: restarted ({policy})")
                if policy == "ExitCode":  # the operator deletes the pod and creates a new one
                    docker("rm", "-f", name)
                    self._create(name)
                else:  # the kubelet restarts the container in its pod
                    docker("start", name)
            if self._succeeded(states):
                self._clean_up()
                return "Succeeded"
            time.sleep(1)
        return f"Failed: not finished in {timeout} s"

    def _succeeded(self, states):
        workers = [n for n, (rtype, _, _) in self.replicas.items() if rtype == "Worker"]
        chiefs = [n for n, (rtype, _, _) in self.replicas.items() if rtype in ("Chief", "Master")]
        done = lambda names: all(states[n] == (False, 0) for n in names)  # noqa: E731
        if chiefs:
            return done(chiefs)
        if self.tfjob["spec"].get("successPolicy") == "AllWorkers":
            return done(workers)
        return done([pod_name(self.name, "Worker", 0)])

    def _clean_up(self):
        policy = self.run_policy.get("cleanPodPolicy", "Running")
        for name in self.replicas:
            running, _ = pods.exit_state(name)
            if policy == "All" or (policy == "Running" and running):
                docker("rm", "-f", name, check=False)

    def logs(self):
        return "\n".join(f"--- {name}\n{pods.logs(name)}" for name in self.replicas)

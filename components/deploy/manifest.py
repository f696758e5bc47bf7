"""The serving.kserve.io/v1beta1 InferenceService distml deploys, as a plain dict.

Two predictors:
- `tfserving`: KServe's TensorFlow Serving runtime (`modelFormat: tensorflow`) reading
  `storageUri` (e.g. pvc://distml-models/<name>, the model's folder in the repository:
  TF Serving serves its newest numeric version). V1 REST; no class names in responses.
- `distml`: the distml image running `distml serve` on the models PVC mounted read-only,
  so it hot-swaps when `distml select` pushes a new version. V1 + V2, REST + gRPC, with
  class names.
With `request_logger_url`, KServe's inference logger (`spec.predictor.logger`) posts every
request and response to that sink for `distml monitor` (components/monitor/kserve_logger.py).

It is the only InferenceService builder: the deploy component, `distml deploy` and the Argo
deploy template all call it; the Argo template passes placeholders (`{{inputs.parameters.x}}`)
for what is known only when the workflow runs. The model version goes into a predictor
annotation, so every path rolls out a new version the same way: a new annotation value is
a new predictor revision, even though the storage URI (the model's folder) is unchanged.
"""

import re
from pathlib import PurePosixPath

from distml.components.common import k8s
from distml.components.common.errors import UsageError
from distml.components.common.k8s import is_placeholder
from distml.components.common.ports import GRPC_PORT, HTTP_PORT
from distml.components.deploy.spec import (
    DEFAULTS,
    DEPLOYMENT_MODES,
    DEPRECATED_DEPLOYMENT_MODES,
    RUNTIMES,
    TF_SERVING_VERSION,
)
from distml.components.deploy.standard import DEPLOYMENT_MODE_ANNOTATION, STANDARD
from distml.components.monitor.kserve_logger import predictor_logger
from distml.components.serve.spec import serve_command as build_serve_command

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
MODEL_VERSION_ANNOTATION = "distml.io/model-version"
# KServe's predictor container (constants.InferenceServiceContainerName, its runtimes' container)
KSERVE_CONTAINER = "kserve-container"
CANARY_PREFIX = "v"  # Standard mode: the canary predictor of model version N is named vN
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PVC_URI = re.compile(r"^pvc://([^/]+)(?:/(.*))?$")


def check_service_name(name):
    if is_placeholder(name):
        return name
    # KServe derives Knative/Service host names from it: a DNS-1035 label, kept short.
    if not name or len(name) > 45 or not _DNS_1035.match(name):
        raise UsageError(
            f"InferenceService name {name!r} must be lowercase letters, digits and '-', start with a letter "
            "and be at most 45 characters"
        )
    return name


def service_name_for(model_name: str, service_name: str = "") -> str:
    """The InferenceService that serves `model_name`: `service_name` if given, else the model's
    own name, so the model name a run sets (the KFP UI's model_name) names the service too."""
    return service_name or model_name


def storage_uri_for(model_name: str, model_repo: str = k8s.MODEL_REPO_FOLDER) -> str:
    """Where select pushes `model_name` (`<models volume>/<model_repo>/<model_name>`), as KServe
    reads it: pvc://<models claim>/<repo>/<model>. `model_repo` is a folder of the models volume,
    or an absolute path under its mount; placeholders pass through."""
    repo = PurePosixPath(model_repo or k8s.MODEL_REPO_FOLDER)
    mount = PurePosixPath(k8s.MODELS_MOUNT)
    if repo.is_absolute():
        if not repo.is_relative_to(mount):
            raise UsageError(
                f"model repository {model_repo} is not on the models volume ({k8s.MODELS_MOUNT}): KServe cannot read it"
            )
        repo = repo.relative_to(mount)
    return f"pvc://{k8s.MODELS_PVC}/" + "/".join(part for part in (*repo.parts, model_name) if part != ".")


def parse_pvc_uri(storage_uri):
    """pvc://<claim>/<path> -> (claim, path); the distml predictor mounts the claim itself."""
    match = _PVC_URI.match(storage_uri or "")
    if not match or not match[2]:
        raise UsageError(
            f"the distml predictor reads a PVC: expected --storage-uri pvc://<claim>/<repo path>/<model>, got {storage_uri!r}"
        )
    return match[1], match[2].strip("/")


def build_inference_service(
    name,
    *,
    runtime=DEFAULTS.runtime,
    model_name=None,
    model_version=DEFAULTS.model_version,
    storage_uri=None,
    model_repo=k8s.MODEL_REPO_FOLDER,
    namespace=DEFAULTS.namespace,
    image=None,
    cpu=DEFAULTS.cpu,
    memory=DEFAULTS.memory,
    gpus=DEFAULTS.gpus,
    min_replicas=DEFAULTS.min_replicas,
    max_replicas=DEFAULTS.max_replicas,
    canary_traffic_percent=None,
    service_account=DEFAULTS.service_account,
    priority_class=DEFAULTS.priority_class,
    deployment_mode=None,
    runtime_version=None,
    max_batch_size=DEFAULTS.max_batch_size,
    request_logger_url=DEFAULTS.request_logger_url,
    labels=None,
):
    """The InferenceService for model `model_name` (default: `name`) of the model repository.

    `model_version` (the version being rolled out) goes into the predictor's annotations;
    `canary_traffic_percent` None or negative: all traffic to the new revision."""
    if canary_traffic_percent is not None and int(canary_traffic_percent) < 0:
        canary_traffic_percent = None
    deployment_mode = DEPRECATED_DEPLOYMENT_MODES.get(deployment_mode, deployment_mode) or None
    check_service_name(name)
    model_name = model_name or name
    storage_uri = storage_uri or storage_uri_for(model_name, model_repo)
    _check_numbers(gpus, min_replicas, max_replicas, canary_traffic_percent, max_batch_size)
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
    if deployment_mode is not None and deployment_mode not in DEPLOYMENT_MODES:
        raise UsageError(f"unknown deployment mode {deployment_mode!r} (known: {', '.join(DEPLOYMENT_MODES[1:])})")
    if deployment_mode == STANDARD and canary_traffic_percent is not None and runtime != "tfserving":
        # KServe's webhook: "canary requires a stable predictor with a model"; distml's runs a container.
        raise UsageError(
            "a canary in Standard mode needs --runtime tfserving (KServe serves Standard canaries of model "
            "predictors only); use --deployment-mode Knative for a canary of the distml runtime"
        )

    resources = k8s.resources(cpu=cpu, memory=memory, gpus=gpus)
    predictor = {
        "annotations": {MODEL_VERSION_ANNOTATION: str(model_version)} if model_version else {},
        "minReplicas": int(min_replicas),
        "maxReplicas": int(max_replicas),
        "serviceAccountName": service_account,
        "securityContext": k8s.pod_security_context(),
        **k8s.gpu_scheduling(gpus),
    }
    if not predictor["annotations"]:
        del predictor["annotations"]
    if priority_class:
        predictor["priorityClassName"] = priority_class
    if request_logger_url:  # KServe's agent logs for the monitor (docs/monitoring.md); canaries too
        predictor["logger"] = predictor_logger(request_logger_url)
    if runtime == "tfserving":
        predictor["model"] = _tfserving_model(storage_uri, resources, runtime_version or _tf_serving_tag(gpus))
    else:
        claim, path = parse_pvc_uri(storage_uri)
        container, volume = _distml_container(
            name,
            claim,
            path,
            image or (k8s.GPU_IMAGE if int(gpus) else k8s.IMAGE),
            resources,
            max_batch_size,
            deployment_mode,
        )
        predictor["containers"] = [container]
        predictor["volumes"] = [volume]

    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": "distml",
            "app.kubernetes.io/component": "predictor",
            "distml.io/runtime": runtime,
            **(labels or {}),
        },
    }
    if deployment_mode:
        metadata["annotations"] = {DEPLOYMENT_MODE_ANNOTATION: deployment_mode}
    spec = {"predictor": predictor}
    if canary_traffic_percent is not None:
        if deployment_mode == STANDARD:
            # KServe >= 0.20: a named canary Deployment beside the stable predictor; the
            # rollout puts the live stable predictor back under spec.predictor.
            spec["canary"] = [
                {"trafficPercent": int(canary_traffic_percent), "predictor": _standard_canary(predictor, model_version)}
            ]
        else:
            predictor["canaryTrafficPercent"] = int(canary_traffic_percent)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _standard_canary(predictor, model_version):
    """The canary's predictor: its own name (its Deployment's) and the model, without replica
    bounds: KServe runs a canary at fixed replicas, derived from its traffic share, and its
    webhook refuses a canary with maxReplicas (or minReplicas above the stable predictor's).
    KServe 0.20's CRD requires a canary model's container name: the runtime's own, which
    KServe merges it into."""
    canary = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")}
    canary["model"] = {**canary["model"], "name": KSERVE_CONTAINER}
    return {"name": canary_name(model_version), **canary}


def canary_name(model_version):
    version = str(model_version or "")
    return f"{CANARY_PREFIX}{version}" if version.isdigit() else "canary"


def _tf_serving_tag(gpus):
    if is_placeholder(gpus):
        return TF_SERVING_VERSION
    return f"{TF_SERVING_VERSION}-gpu" if int(gpus) else TF_SERVING_VERSION


def _check_numbers(gpus, min_replicas, max_replicas, canary, max_batch_size):
    if int(gpus) < 0:
        raise UsageError(f"--gpus must be 0 or more, got {gpus}")
    if int(min_replicas) < 0 or int(max_replicas) < 1 or int(max_replicas) < int(min_replicas):
        raise UsageError(
            f"--min-replicas {min_replicas} and --max-replicas {max_replicas}: "
            "need 0 <= --min-replicas <= --max-replicas and --max-replicas >= 1"
        )
    if canary is not None and not 0 <= int(canary) <= 100:
        raise UsageError(f"--canary-traffic-percent must be 0-100, got {canary}")
    if int(max_batch_size) < 1:
        raise UsageError(f"--max-batch-size must be at least 1, got {max_batch_size}")


def _tfserving_model(storage_uri, resources, runtime_version):
    model = {
        "modelFormat": {"name": "tensorflow"},
        "storageUri": storage_uri,
        "resources": resources,
        "securityContext": k8s.container_security_context(),
    }
    if runtime_version:
        model["runtimeVersion"] = runtime_version  # the tensorflow/serving image tag
    return model


def _ports(deployment_mode):
    """The predictor's ports. Standard mode: REST and gRPC (KServe >= 0.19 routes both behind the
    service's host, telling gRPC by a port name holding "grpc", kserve/kserve#5451). Knative
    routes one port per container and refuses a second: REST only (gRPC stays inside the pod)."""
    ports = [{"name": "http1", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    if deployment_mode == "Standard":
        ports.append({"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"})
    return ports


def _distml_container(service_name, claim, path, image, resources, max_batch_size, deployment_mode):
    repo_path, _, model_folder = path.rpartition("/")
    repo = f"{k8s.MODELS_MOUNT}/{repo_path}" if repo_path else k8s.MODELS_MOUNT
    serve_command = build_serve_command(
        repo,
        model_folder,
        served_name=service_name,
        host="0.0.0.0",  # the pod's interfaces; the predictor NetworkPolicy limits who reaches them
        http_port=HTTP_PORT,
        grpc_port=GRPC_PORT,
        max_batch_size=int(max_batch_size),
    )
    container = {
        "name": KSERVE_CONTAINER,
        "image": image,
        "command": serve_command[:2],
        "args": serve_command[2:],
        "ports": _ports(deployment_mode),
        "resources": resources,
        "securityContext": k8s.container_security_context(),
        "volumeMounts": [{"name": "models", "mountPath": k8s.MODELS_MOUNT, "readOnly": True}],
        # Ready and live only while a version is loaded and registered (distml serve's ServingDataPlane).
        "readinessProbe": {
            "httpGet": {"path": f"/v2/models/{service_name}/ready", "port": HTTP_PORT},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": HTTP_PORT},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
    }
    volume = {"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    return container, volume

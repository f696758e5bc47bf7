"""Kubernetes pieces every component that creates pods uses (TFJob workers, predictors,
workflow steps): the restricted pod-security settings, resources and Kueue labels.

Plain dicts in the API's camelCase, so they drop into manifests built by hand, by Hera or
by the kubernetes client's models alike.
"""

from __future__ import annotations

# Names shared by the components, the pipelines and manifests/ (which creates these objects).
NAMESPACE = "distml"
IMAGE = "ghcr.io/distml/distml:0.1.0"  # CPU image
GPU_IMAGE = IMAGE + "-gpu"  # TensorFlow with CUDA: what a pod that asks for GPUs runs
SLIM_IMAGE = "ghcr.io/distml/distml-slim:0.1.0"  # no TensorFlow: steps that only call the Kubernetes API
PIPELINE_SERVICE_ACCOUNT = "distml-pipeline"  # workflow / KFP step pods: create TFJobs and InferenceServices
TRAINER_SERVICE_ACCOUNT = "distml-trainer"  # TFJob worker pods: no API access
PREDICTOR_SERVICE_ACCOUNT = "distml-predictor"  # InferenceService pods: no API access
DATASETS_PVC = "distml-datasets"
MODELS_PVC = "distml-models"
DATASETS_MOUNT = "/mnt/datasets"
MODELS_MOUNT = "/mnt/models"
MODEL_REPO_FOLDER = "repo"  # the model repository: this folder of the models volume
MODEL_NAME = "distml-classifier"  # the served model: its folder in the repository, the InferenceService name
LOCAL_QUEUE = "distml-queue"
# PriorityClass and Kueue WorkloadPriorityClass names, highest first.
PRIORITY_INTERACTIVE = "distml-interactive"
PRIORITY_PRODUCTION = "distml-production"
PRIORITY_BATCH = "distml-batch"
MEMOIZE_CACHE_CONFIGMAP = "distml-memoize-cache"
GPU_SEMAPHORE_CONFIGMAP = "distml-gpu-semaphore"
GPU_SEMAPHORE_KEY = "gpu-trainings"

# The distml images run as this user (see containers/).
RUN_AS_USER = 1000

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
GPU_RESOURCE = "nvidia.com/gpu"


def is_placeholder(value: object) -> bool:
    """An orchestrator expression (Argo `{{inputs.parameters.x}}`), resolved when the workflow runs."""
    return isinstance(value, str) and "{{" in value


def image_for(gpus: int | str, image: str = "", gpu_image: str = "") -> str:
    """The image of a pod with `gpus` GPUs: `gpu_image` (empty: GPU_IMAGE) when it asks for
    GPUs, else `image` (empty: IMAGE). TensorFlow-CPU on a reserved GPU would leave it idle.
    A count known only at run time (a placeholder) cannot choose here: `image`, and the
    orchestrator picks (the Argo library with an expression)."""
    if not is_placeholder(gpus) and int(gpus) > 0:
        return gpu_image or GPU_IMAGE
    return image or IMAGE


def pod_security_context() -> dict[str, object]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, object]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(
    cpu: str | int | float = "1",
    memory: str = "2Gi",
    gpus: int | str = 0,
    cpu_limit: str | int | float | None = None,
    memory_limit: str | None = None,
) -> dict[str, dict[str, str]]:
    """Requests and limits; GPUs are requested and limited alike, as the device plugin requires.
    A GPU count known only at run time (a placeholder) is written as it is (see gpu_scheduling)."""
    requests = {"cpu": str(cpu), "memory": str(memory)}
    limits = {"cpu": str(cpu_limit or cpu), "memory": str(memory_limit or memory)}
    if is_placeholder(gpus) or int(gpus):
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = gpus if is_placeholder(gpus) else str(int(gpus))
    return {"requests": requests, "limits": limits}


# Pipeline step pods (not the training workers: train's cpu/memory parameters size those).
# The KFP train step only waits for its TFJob/TrainJob and copies the model; with the local
# or in-process launcher it would train inside these limits.
STEP_RESOURCES = {
    "data_version": resources(cpu="250m", memory="1Gi", cpu_limit="1", memory_limit="2Gi"),  # TFDS imports TensorFlow
    "ingest": resources(cpu="1", memory="4Gi", cpu_limit="2", memory_limit="8Gi"),
    "train": resources(cpu="250m", memory="1Gi", cpu_limit="1", memory_limit="2Gi"),
    "select": resources(cpu="2", memory="4Gi", cpu_limit="2", memory_limit="6Gi"),
    "deploy": resources(cpu="250m", memory="512Mi", cpu_limit="500m", memory_limit="1Gi"),
    "monitor": resources(cpu="1", memory="2Gi", cpu_limit="2", memory_limit="4Gi"),
}


def trainer_env() -> list[dict[str, object]]:
    """Environment of a TensorFlow worker container. Its thread pools follow the container's
    CPU limit (rounded up to whole cores): TensorFlow would size them to the node's cores and
    oversubscribe the limit."""

    def cpu_limit(name):
        return {"name": name, "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}}

    return [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"},
        cpu_limit("TF_NUM_INTRAOP_THREADS"),
        cpu_limit("TF_NUM_INTEROP_THREADS"),
    ]


def kueue_labels(queue: str | None = None, priority_class: str | None = None) -> dict[str, str]:
    labels = {}
    if queue:
        labels[QUEUE_LABEL] = queue
    if priority_class:
        labels[PRIORITY_LABEL] = priority_class
    return labels


def gpu_scheduling(gpus: int | str) -> dict[str, object]:
    """Node selector and toleration that put GPU pods on GPU nodes (and only those). A count
    known only at run time (a placeholder) stands for one or more: a caller that may get 0
    picks a template without GPUs then (the Argo library's train does, with `when`)."""
    if not is_placeholder(gpus) and not int(gpus):
        return {}
    toleration = {"tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]}
    return {"nodeSelector": {"nvidia.com/gpu.present": "true"}, **toleration}


def load_client_config() -> None:
    """Configure the kubernetes client: the pod's service account, else the local kubeconfig."""
    from kubernetes import config

    from distml.components.common.errors import DistmlError

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError, TypeError) as e:
            raise DistmlError(
                f"no Kubernetes configuration (not in a pod, no usable kubeconfig: {e}); use --dry-run to print the manifest"
            ) from None


def training_volumes(gpus: int | str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A training worker pod's volumes and its container's mounts (TFJob and the TrainJob
    runtime): the datasets and models PVCs, and for GPUs a memory-backed /dev/shm (NCCL
    exchanges tensors through it; 64 MB is too small)."""
    volumes = [
        {"name": "datasets", "persistentVolumeClaim": {"claimName": DATASETS_PVC, "readOnly": True}},
        {"name": "models", "persistentVolumeClaim": {"claimName": MODELS_PVC}},
    ]
    mounts = [
        {"name": "datasets", "mountPath": DATASETS_MOUNT, "readOnly": True},
        {"name": "models", "mountPath": MODELS_MOUNT},
    ]
    if gpus:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def training_pod_spec(container: dict[str, object], *, cpu: str, memory: str, gpus: int | str) -> dict[str, object]:
    """The pod spec of a training worker (a TFJob replica, a Trainer runtime node) around
    `container` (name, image, command, env, ports): its resources, the restricted security
    contexts, the trainer service account without an API token, the training volumes and
    GPU scheduling. `gpus` may be an orchestrator placeholder."""
    volumes, mounts = training_volumes(is_placeholder(gpus) or int(gpus) > 0)
    container = {
        **container,
        "resources": resources(cpu=cpu, memory=memory, gpus=gpus),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    return {
        "serviceAccountName": TRAINER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
        **gpu_scheduling(gpus),
    }

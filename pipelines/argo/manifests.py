"""Kubernetes objects that Argo resource templates create: the TFJob and the InferenceService.

Plain dicts holding Argo `{{...}}` expressions, rendered to the manifest text Argo
substitutes before parsing. Where the API wants an integer (replicas, deadlines) the
expression must stay unquoted, so that `replicas: {{inputs.parameters.workers}}` becomes
`replicas: 2` and not the string "2", which the TFJob schema refuses: `argo_int()` marks
those values and `manifest_yaml()` unquotes them.
"""

import re

import yaml

from distml.components.common import k8s
from distml.components.train.tfjob import CONTAINER_NAME as TFJOB_CONTAINER
from distml.components.train.tfjob import PORT, PORT_NAME

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"  # what `argo logs` selects pods by
_INT_MARK = "__argo_int__"
_INT_PATTERN = re.compile(r"""(['"]?)__argo_int__\{\{(.+?)\}\}\1""")


def argo_int(expression):
    """An Argo expression whose substituted value must land in the manifest as an integer."""
    return f"{_INT_MARK}{{{{{expression}}}}}"


def manifest_yaml(obj):
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000)
    return _INT_PATTERN.sub(lambda m: "{{" + m.group(2) + "}}", text)


def volumes(datasets_read_only):
    return [
        {"name": "datasets", "persistentVolumeClaim": {"claimName": k8s.DATASETS_PVC, "readOnly": datasets_read_only}},
        {"name": "models", "persistentVolumeClaim": {"claimName": k8s.MODELS_PVC}},
    ]


def volume_mounts(datasets_read_only):
    return [
        {"name": "datasets", "mountPath": k8s.DATASETS_MOUNT, "readOnly": datasets_read_only},
        {"name": "models", "mountPath": k8s.MODELS_MOUNT},
    ]


def tfjob_volumes():
    # NCCL exchanges tensors through /dev/shm; the container default (64 MB) is too small.
    # A memory-backed emptyDir costs nothing until written.
    return volumes(datasets_read_only=True) + [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]


def tfjob_volume_mounts():
    return volume_mounts(datasets_read_only=True) + [{"name": "dshm", "mountPath": "/dev/shm"}]


def tfjob(*, generate_name, namespace, image, command, workers, gpus, cpu, memory, priority_class, queue,
          workflow_name, active_deadline_seconds, backoff_limit):
    """A TFJob of `workers` identical workers (MultiWorkerMirroredStrategy; TF_CONFIG set by the operator).

    restartPolicy OnFailure restarts a crashed worker in place (its pod stays Running, and
    training resumes from the checkpoint), so a Failed worker pod means the job gave up.
    Container, port and volumes match components/train/tfjob.py (`distml train --launcher
    tfjob`); that builder needs concrete values, this one Argo expressions.
    """
    pod_labels = {WORKFLOW_LABEL: workflow_name, "app.kubernetes.io/part-of": "distml"}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {
            "generateName": generate_name,
            "namespace": namespace,
            "labels": {**pod_labels, **k8s.kueue_labels(queue, priority_class)},
        },
        "spec": {
            "successPolicy": "AllWorkers",
            "runPolicy": {
                "cleanPodPolicy": "Running",
                "backoffLimit": backoff_limit,
                "activeDeadlineSeconds": active_deadline_seconds,
            },
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": workers,
                    "restartPolicy": "OnFailure",
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "serviceAccountName": k8s.TRAINER_SERVICE_ACCOUNT,
                            "automountServiceAccountToken": False,
                            "priorityClassName": priority_class,
                            "securityContext": k8s.pod_security_context(),
                            # Tolerating the GPU taint is harmless without GPUs; the GPU request
                            # below is what puts the pod on a GPU node.
                            "tolerations": [{"key": k8s.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
                            "containers": [{
                                "name": TFJOB_CONTAINER,
                                "image": image,
                                "command": command,
                                "env": k8s.trainer_env(),
                                "ports": [{"name": PORT_NAME, "containerPort": PORT}],
                                "resources": {
                                    "requests": {"cpu": cpu, "memory": memory, k8s.GPU_RESOURCE: gpus},
                                    "limits": {"cpu": cpu, "memory": memory, k8s.GPU_RESOURCE: gpus},
                                },
                                "securityContext": k8s.container_security_context(),
                                "volumeMounts": tfjob_volume_mounts(),
                            }],
                            "volumes": tfjob_volumes(),
                        },
                    },
                },
            },
        },
    }


def inference_service(*, name, namespace, storage_uri, model_version, priority_class, workflow_name):
    """A KServe InferenceService serving a model repository folder with the TF Serving runtime.

    The model version goes into a predictor annotation, so pushing a new version makes a
    new predictor revision even though the storage URI (the repository folder) is unchanged.
    """
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {WORKFLOW_LABEL: workflow_name, "app.kubernetes.io/part-of": "distml"},
        },
        "spec": {
            "predictor": {
                "annotations": {"distml.io/model-version": model_version},
                "serviceAccountName": k8s.PREDICTOR_SERVICE_ACCOUNT,
                "priorityClassName": priority_class,
                "securityContext": k8s.pod_security_context(),
                "minReplicas": 1,
                "model": {
                    "modelFormat": {"name": "tensorflow"},
                    "storageUri": storage_uri,
                    "resources": k8s.resources(cpu="1", memory="2Gi"),
                    "securityContext": k8s.container_security_context(),
                },
            },
        },
    }

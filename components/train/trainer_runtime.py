"""distml's TensorFlow runtime for Kubeflow Trainer v2: a ClusterTrainingRuntime (or a
namespaced TrainingRuntime) whose JobSet runs N `distml train --launcher worker` pods under
MultiWorkerMirroredStrategy.

Modelled on kubeflow/trainer manifests/base/runtimes (torch_distributed.yaml, ...): one
replicatedJob named `node` labelled `trainer.kubeflow.org/trainjob-ancestor-step: trainer`
with one container named `node` (Trainer's constants.Node: the container a TrainJob's
`spec.trainer` image/command/args/env/resourcesPerNode land in), and `mlPolicy.numNodes`
as the default worker count. There is no TensorFlow ML policy in Trainer, so the policy is
plainML (numNodes only); each worker derives its TF_CONFIG at start from JobSet's names
(components/common/tf_config.py `from_jobset`), which the runtime hands it through the
downward API.

A failed worker fails its Job (backoffLimit 0) and JobSet restarts the whole group
(failurePolicy.maxRestarts): MultiWorkerMirroredStrategy needs every peer back, and the
group resumes from the run's latest checkpoint, as the local launcher does.

`render()` gives the files under manifests/trainer/; `distml compile` writes them.
"""

import yaml

from distml.components.common import k8s, tf_config
from distml.components.train.config import WORKER_COMMAND
from distml.components.train.spec import RUNTIME_KINDS, SPEC

GROUP, VERSION = "trainer.kubeflow.org", "v1alpha1"
CLUSTER_KIND, NAMESPACED_KIND = RUNTIME_KINDS
RUNTIME = "distml-tensorflow"  # CPU workers
GPU_RUNTIME = "distml-tensorflow-gpu"  # GPU workers: GPU image, GPU nodes, NCCL shared memory
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
ANCESTOR_TRAINER = "trainer"
FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"
NODE = "node"  # Trainer's name for the trainer replicatedJob and its container
PORT_NAME, PORT = "tf-worker", 2222  # each worker's gRPC server (TF_CONFIG's port)
DEFAULT_NUM_NODES = 2
GPUS_PER_NODE = 1  # the GPU runtime's default; a TrainJob's resourcesPerNode overrides it
MAX_RESTARTS = 3  # whole-group restarts (JobSet failurePolicy)
# What a TrainJob that names only the runtime trains: the digits dataset ingested to the
# datasets volume (`distml ingest --dataset digits --output /mnt/datasets/digits`), into a
# model folder of its own; the run id (checkpoints) defaults to the TrainJob's name.
DEFAULT_ARGS = SPEC.cli_args(
    {"dataset": f"{k8s.DATASETS_MOUNT}/digits", "model": f"{k8s.MODELS_MOUNT}/trainjobs/$({tf_config.JOBSET_NAME})"}
)
LABELS = {"app.kubernetes.io/name": "distml", "app.kubernetes.io/component": "train"}


def runtime_manifest(*, gpus=False, namespace=None, num_nodes=DEFAULT_NUM_NODES, image=None, cpu="2", memory="4Gi"):
    """The runtime as a dict: a ClusterTrainingRuntime, or a TrainingRuntime in `namespace`."""
    gpu_count = GPUS_PER_NODE if gpus else 0
    volumes, mounts = k8s.training_volumes(gpu_count)
    container = {
        "name": NODE,
        "image": image or (k8s.GPU_IMAGE if gpus else k8s.IMAGE),
        "command": WORKER_COMMAND,
        "args": DEFAULT_ARGS,
        # JobSet's names first: the args may refer to them as $(NAME).
        "env": [*tf_config.jobset_env(num_nodes, PORT), *k8s.trainer_env()],
        "ports": [{"name": PORT_NAME, "containerPort": PORT}],
        "resources": k8s.resources(cpu=cpu, memory=memory, gpus=gpu_count),
        "securityContext": k8s.container_security_context(),
        "volumeMounts": mounts,
    }
    pod_spec = {
        "restartPolicy": "Never",  # a dead worker fails the Job; JobSet restarts the group
        "serviceAccountName": k8s.TRAINER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": k8s.pod_security_context(),
        "containers": [container],
        "volumes": volumes,
        **k8s.gpu_scheduling(gpu_count),
    }
    name = GPU_RUNTIME if gpus else RUNTIME
    metadata = {"name": name, "labels": {**LABELS, FRAMEWORK_LABEL: "tensorflow"}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": NAMESPACED_KIND if namespace else CLUSTER_KIND,
        "metadata": metadata,
        "spec": {
            "mlPolicy": {"numNodes": num_nodes},
            "template": {
                "spec": {
                    "failurePolicy": {"maxRestarts": MAX_RESTARTS},
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                "metadata": {"labels": {ANCESTOR_LABEL: ANCESTOR_TRAINER}},
                                "spec": {
                                    "backoffLimit": 0,
                                    "template": {"metadata": {"labels": LABELS}, "spec": pod_spec},
                                },
                            },
                        }
                    ],
                },
            },
        },
    }


def render():
    """{path relative to the source tree: text} of manifests/trainer/ (cluster-wide runtimes)
    and manifests/trainer/namespaced/ (the same runtimes as TrainingRuntimes in distml's namespace)."""
    header = (
        "# Generated by `distml compile` from components/train/trainer_runtime.py; do not edit.\n"
        "# distml's TensorFlow (MultiWorkerMirroredStrategy) runtimes for Kubeflow Trainer v2.\n"
    )

    def documents(namespace):
        return header + "---\n".join(
            yaml.safe_dump(runtime_manifest(gpus=gpus, namespace=namespace), sort_keys=False) for gpus in (False, True)
        )

    def kustomization(resource):
        return header + yaml.safe_dump(
            {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [resource]},
            sort_keys=False,
        )

    return {
        "manifests/trainer/cluster-training-runtimes.yaml": documents(None),
        "manifests/trainer/kustomization.yaml": kustomization("cluster-training-runtimes.yaml"),
        "manifests/trainer/namespaced/training-runtimes.yaml": documents(k8s.NAMESPACE),
        "manifests/trainer/namespaced/kustomization.yaml": kustomization("training-runtimes.yaml"),
    }

"""The Kubeflow pipeline `train-and-deploy`:

    [data version] -> ingest (cached) -> ParallelFor(model types) train -> Collected -> select -> If(blessed) deploy

`build_pipeline(for_cluster=True)` is what is compiled and uploaded to the Kubeflow UI: it
adds the Kubernetes settings (volumes, Kueue labels, resources, security context, timeouts), turns
caching off for deploy, and computes ingest's `dataset_version` in an uncached step on the
datasets volume (data_version.py), which `distml run` computes before the run. `distml run` builds it with `for_cluster=False`: the same graph and
components, without the settings kfp.local cannot apply, and with deploy cacheable so that
a repeated run executes nothing (a local deploy only publishes to the model repository).
"""

from typing import List

from kfp import dsl, kubernetes

from distml.components.common import k8s
from distml.components.common.owner import OWNER_FIELDS
from distml.components.common.params import KFP
from distml.components.deploy.component import deploy
from distml.components.deploy.spec import SPEC as DEPLOY
from distml.components.ingest.component import ingest
from distml.components.ingest.spec import SPEC as INGEST
from distml.components.select.component import select
from distml.components.select.spec import SPEC as SELECT
from distml.components.train.component import train
from distml.components.train.models import MODELS
from distml.components.train.spec import SPEC as TRAIN
from distml.pipelines.kfp.data_version import data_version_task

PIPELINE_NAME = "train-and-deploy"
MODEL_TYPES = list(MODELS)
# At most this many trainings at once: each is a whole TFJob, and GPUs are finite.
TRAINING_PARALLELISM = 3
# The pipeline's defaults are its components' (on a cluster).
I, T, S, D = (spec.defaults(KFP) for spec in (INGEST, TRAIN, SELECT, DEPLOY))
# The train step pod's own deadline, a backstop behind the train_timeout run parameter (the
# launcher gives up at train_timeout and deletes its job): kfp-kubernetes takes a number
# fixed at compile time, so it is the longest train_timeout the pipeline supports + 10 min.
MAX_TRAIN_TIMEOUT_S = 24 * 3600


def _on_cluster(task, *, step, timeout_s):
    """The Kubernetes settings of a step pod: volumes, deadline, requests and limits, the
    restricted security context and the Kueue labels.

    kfp-kubernetes sets runAsUser/runAsGroup/runAsNonRoot on the container; the KFP backend
    (>= 2.16, kubeflow/pipelines#12782) adds allowPrivilegeEscalation false, all capabilities
    dropped and seccomp RuntimeDefault to every step container. What it cannot express: a pod
    PriorityClass (kfp-kubernetes has no setter) and label values from run parameters, so the
    Kueue priority label is fixed here. No GPU toleration: no step pod asks for a GPU (the
    TFJob/TrainJob workers do, and carry their own)."""
    kubernetes.mount_pvc(task, pvc_name=k8s.DATASETS_PVC, mount_path=k8s.DATASETS_MOUNT)
    kubernetes.mount_pvc(task, pvc_name=k8s.MODELS_PVC, mount_path=k8s.MODELS_MOUNT)
    kubernetes.set_timeout(task, timeout_s)
    kubernetes.set_security_context(
        task, run_as_user=k8s.RUN_AS_USER, run_as_group=k8s.RUN_AS_USER, run_as_non_root=True
    )
    for key, value in k8s.kueue_labels(k8s.LOCAL_QUEUE, k8s.PRIORITY_PRODUCTION).items():
        kubernetes.add_pod_label(task, key, value)
    resources = k8s.STEP_RESOURCES[step]
    task.set_cpu_request(resources["requests"]["cpu"]).set_cpu_limit(resources["limits"]["cpu"])
    task.set_memory_request(resources["requests"]["memory"]).set_memory_limit(resources["limits"]["memory"])
    return task


def build_pipeline(for_cluster=True):
    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Sharded ingestion, multi-worker training of several model variants, selection, KServe deployment.",
    )
    def train_and_deploy(
        dataset: str = I.dataset,
        dataset_version: str = I.dataset_version,
        tfds_data_dir: str = I.tfds_data_dir,
        num_shards: int = I.num_shards,
        model_types: List[str] = MODEL_TYPES,
        workers: int = T.workers,
        epochs: int = T.epochs,
        steps_per_epoch: int = T.steps_per_epoch,
        batch_size: int = T.batch_size,
        learning_rate: float = T.learning_rate,
        lr_schedule: str = T.lr_schedule,
        precision: str = T.precision,
        gpus: int = T.gpus,
        cpu: str = T.cpu,
        memory: str = T.memory,
        launcher: str = T.launcher,
        train_timeout: int = T.timeout,
        queue: str = T.queue,
        priority_class: str = T.priority_class,
        min_accuracy: float = S.min_accuracy,
        min_improvement: float = S.min_improvement,
        serving_target: str = D.target,
        serving_runtime: str = D.runtime,
        namespace: str = k8s.NAMESPACE,
        image: str = k8s.IMAGE,
        gpu_image: str = T.gpu_image,
        store_root: str = k8s.DATASETS_MOUNT,
        models_root: str = k8s.MODELS_MOUNT,
        model_repo: str = S.model_repo,
        model_name: str = S.model_name,
    ) -> dsl.Artifact:
        if for_cluster:  # distml run computes it before the run (local_run.py)
            version_task = data_version_task(dataset, tfds_data_dir, dataset_version, image)
            _on_cluster(version_task, step="data_version", timeout_s=1800)
            dataset_version = version_task.output
        ingest_task = ingest(
            dataset=dataset,
            dataset_version=dataset_version,
            tfds_data_dir=tfds_data_dir,
            num_shards=num_shards,
            store_root=store_root,
        )
        # No retries: KFP retries every failure alike, and ingest's are the data's (an unknown
        # dataset, no network for TFDS, an unreadable image), the same on every attempt.
        ingest_task.set_display_name("ingest").set_container_image(image)

        with dsl.ParallelFor(model_types, parallelism=TRAINING_PARALLELISM, name="train-variants") as model_type:
            train_task = train(
                dataset=ingest_task.outputs["dataset_artifact"],
                model_type=model_type,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                batch_size=batch_size,
                learning_rate=learning_rate,
                lr_schedule=lr_schedule,
                precision=precision,
                workers=workers,
                launcher=launcher,
                timeout=train_timeout,
                gpus=gpus,
                cpu=cpu,
                memory=memory,
                image=image,
                gpu_image=gpu_image,
                namespace=namespace,
                queue=queue,
                priority_class=priority_class,
                models_root=models_root,
            )
            train_task.set_display_name("train").set_container_image(image)

        select_task = select(
            dataset=ingest_task.outputs["dataset_artifact"],
            candidates=dsl.Collected(train_task.outputs["model"]),
            model_repo=model_repo,
            models_root=models_root,
            model_name=model_name,
            min_accuracy=min_accuracy,
            min_improvement=min_improvement,
        )
        select_task.set_display_name("select").set_container_image(image)

        with dsl.If(select_task.outputs["Output"] == True, name="if-blessed"):  # noqa: E712 (a KFP condition, not Python)
            deploy_task = deploy(
                selection=select_task.outputs["selection"],
                model_repo=model_repo,
                models_root=models_root,
                model_name=model_name,
                target=serving_target,
                namespace=namespace,
                runtime=serving_runtime,
                image=image,
            )
            deploy_task.set_display_name("deploy").set_container_image(image)

        if for_cluster:
            _on_cluster(ingest_task, step="ingest", timeout_s=3600)
            _on_cluster(train_task, step="train", timeout_s=MAX_TRAIN_TIMEOUT_S + 600)  # the core gives up first
            # The step owns the TFJob/TrainJob it creates: its pod's name and UID (owned_job.py).
            for env_name, field_path in OWNER_FIELDS.items():
                kubernetes.use_field_path_as_env(train_task, env_name, field_path)
            _on_cluster(select_task, step="select", timeout_s=1800)
            _on_cluster(deploy_task, step="deploy", timeout_s=1800)
            deploy_task.set_caching_options(False).set_retry(num_retries=2, backoff_duration="30s")
        return select_task.outputs["selection"]

    return train_and_deploy


train_and_deploy = build_pipeline(for_cluster=True)

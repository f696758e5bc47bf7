"""What the KFP train step does around the core: find the shards, and on a cluster train on
the shared models volume (the only place the TFJob's or TrainJob's pods can write) and copy
the result into the step's output artifact, so KFP stores and tracks it like any other model.

`run_kfp` is what the generated component.py calls with the component's arguments."""

import hashlib
import shutil
from pathlib import Path

from distml.components.common.files import atomic_directory
from distml.components.common.kfp_outputs import log_metrics
from distml.components.train.spec import CLUSTER_LAUNCHERS


def run_kfp(*, dataset, model, metrics, **parameters):
    """The KFP component's body: train, then log the metrics and describe the model artifact."""
    result = train_step(dataset.path, model.path, model.uri, **parameters)
    log_metrics(metrics, result["metrics"])
    model.metadata.update(result["metadata"])


def train_step(
    dataset_artifact,
    model_artifact,
    artifact_uri,
    *,
    launcher,
    gpus,
    image,
    gpu_image,
    namespace,
    queue,
    priority_class,
    models_root,
    timeout,
    cpu,
    memory,
    **options,
):
    from distml.components.ingest.reader import data_location
    from distml.components.train.core import train

    dataset_dir = data_location(dataset_artifact, follow_location=True)  # a pointer artifact on a cluster
    if launcher not in CLUSTER_LAUNCHERS:
        metrics = train(dataset_dir, model_artifact, launcher=launcher, timeout=timeout, **options)
    else:
        # The artifact URI is unique per run and per fan-out iteration, and the same when
        # KFP retries the step: a retry resumes from the same checkpoints.
        run_id = hashlib.sha256(artifact_uri.encode()).hexdigest()[:12]
        shared_dir = Path(models_root) / "candidates" / run_id / options["model_type"]
        cluster = dict(
            image=image,
            gpu_image=gpu_image,
            namespace=namespace,
            gpus=gpus,
            cpu=cpu,
            memory=memory,
            queue=queue,
            priority_class=priority_class,
        )
        if launcher == "tfjob":
            from distml.components.train.tfjob import TFJobOptions

            job = {"tfjob": TFJobOptions(**cluster)}
        else:
            from distml.components.train.trainjob import TrainJobOptions

            job = {"trainjob": TrainJobOptions(**cluster)}
        metrics = train(dataset_dir, shared_dir, launcher=launcher, run_id=run_id, timeout=timeout, **job, **options)
        with atomic_directory(model_artifact) as tmp:
            shutil.copytree(shared_dir, tmp, dirs_exist_ok=True)
    final = metrics["final"]
    return {
        "metrics": {
            **{k: v for k, v in final.items() if isinstance(v, (int, float))},
            "examples_per_sec": metrics["examples_per_sec"],
            "wall_time_s": metrics["wall_time_s"],
            "num_workers": metrics["num_workers"],
        },
        "metadata": {"model_type": options["model_type"], "dataset_fingerprint": metrics["dataset_fingerprint"]},
    }

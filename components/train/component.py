"""KFP wrapper of the train component: a thin call into the core."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from distml.components.common.k8s import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(
    dataset: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    model_type: str = "cnn",
    epochs: int = 5,
    steps_per_epoch: int = 0,
    batch_size: int = 64,
    learning_rate: float = 0.001,
    seed: int = 0,
    precision: str = "auto",
    workers: int = 2,
    launcher: str = "tfjob",
    gpus_per_worker: int = 0,
    # Literal defaults: KFP embeds this function's source, so they cannot name module
    # constants (they are the values in components/common/k8s.py; a test checks that).
    image: str = "ghcr.io/distml/distml:0.1.0",
    namespace: str = "distml",
    queue: str = "distml-queue",
    priority_class: str = "distml-production",
    models_root: str = "/mnt/models",
    timeout_s: int = 7200,
):
    """Train one model variant with MultiWorkerMirroredStrategy.

    launcher: tfjob (a TFJob with `workers` workers on the cluster; they write to the models
    volume at models_root and the result is copied into the artifact), local (worker
    processes in this container/machine) or in-process. steps_per_epoch 0: the full split.
    precision: auto (mixed_bfloat16 where the hardware has native bfloat16), float32 or
    mixed_bfloat16; the model is exported in float32 either way.
    """
    import json

    from distml.components.train.pipeline_step import train_step

    result = train_step(
        dataset.path, model.path, model.uri, model_type=model_type, epochs=epochs,
        steps_per_epoch=steps_per_epoch or None, batch_size=batch_size, learning_rate=learning_rate,
        seed=seed, precision=precision, workers=workers, launcher=launcher, gpus_per_worker=gpus_per_worker,
        image=image, namespace=namespace, queue=queue, priority_class=priority_class, models_root=models_root,
        timeout_s=timeout_s,
    )
    for name, value in result["metrics"].items():
        metrics.log_metric(name, value)
    # kfp.local treats a cached artifact whose file is missing as a cache miss.
    with open(metrics.path, "w") as f:
        json.dump(result["metrics"], f)
    model.metadata.update(result["metadata"])

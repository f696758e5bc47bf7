"""The Kubeflow pipeline `monitor-and-retrain`, meant to run as a recurring run:

    ingest (cached: the training data's artifact) -> monitor (request log) -> If(retrain) train-and-deploy

The monitor reads the request log on the models volume (what `distml request-sink` stored
for the InferenceService) and compares it with the training data and the served model's
validation predictions; on `retrain` the whole train-and-deploy pipeline runs as a nested
pipeline, whose select step beats the served model (baseline "latest") before deploying.

Schedule it with the KFP client:
    client.create_recurring_run(experiment_id, "monitor-and-retrain", cron_expression="0 0 * * * *",
                                pipeline_package_path="pipelines/kfp/compiled/monitor_and_retrain.yaml",
                                max_concurrency=1)
"""

from kfp import dsl

from distml.components.common import k8s
from distml.components.common.params import KFP
from distml.components.ingest.component import ingest
from distml.components.monitor.component import monitor
from distml.components.monitor.spec import REQUEST_LOGS
from distml.components.monitor.spec import SPEC as MONITOR
from distml.pipelines.kfp.train_and_deploy import I, S, T, _on_cluster, train_and_deploy

PIPELINE_NAME = "monitor-and-retrain"
M = MONITOR.defaults(KFP)


@dsl.pipeline(
    name=PIPELINE_NAME, description="Drift monitoring of the served model; retrain and redeploy when it drifted."
)
def monitor_and_retrain(
    dataset: str = I.dataset,
    dataset_version: str = I.dataset_version,
    num_shards: int = I.num_shards,
    store_root: str = k8s.DATASETS_MOUNT,
    request_log: str = f"{REQUEST_LOGS}/{S.model_name}",
    models_root: str = M.models_root,
    model_repo: str = M.model_repo,
    model_name: str = M.model_name,
    psi_threshold: float = M.psi_threshold,
    alpha: float = M.alpha,
    min_samples: int = M.min_samples,
    launcher: str = T.launcher,
    image: str = k8s.IMAGE,
):
    reference = ingest(dataset=dataset, dataset_version=dataset_version, num_shards=num_shards, store_root=store_root)
    reference.set_display_name("reference data").set_container_image(image)
    check = monitor(
        reference_dataset=reference.outputs["dataset_artifact"],
        request_log=request_log,
        model_repo=model_repo,
        models_root=models_root,
        model_name=model_name,
        psi_threshold=psi_threshold,
        alpha=alpha,
        min_samples=min_samples,
    )
    check.set_display_name("monitor").set_container_image(image).set_caching_options(
        False
    )  # the log grows between runs
    _on_cluster(reference, step="ingest", timeout_s=3600)
    _on_cluster(check, step="monitor", timeout_s=1800)
    with dsl.If(check.outputs["Output"] == True, name="if-drift"):  # noqa: E712 (a KFP condition)
        train_and_deploy(
            dataset=dataset,
            dataset_version=dataset_version,
            num_shards=num_shards,
            store_root=store_root,
            models_root=models_root,
            model_repo=model_repo,
            model_name=model_name,
            launcher=launcher,
            image=image,
            priority_class=k8s.PRIORITY_BATCH,
        )

"""KFP wrapper of the monitor component: a thin call into the core, plus the outputs the
Kubeflow UI renders (the drift report, PSI per feature).

TODO at merge (issue 15): derive this signature from the component's parameter declaration.
"""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output

from distml.components.common.k8s import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def monitor(
    reference_dataset: Input[Dataset],
    request_log: str,
    drift_report: Output[Artifact],
    scores: Output[Metrics],
    report: Output[Markdown],
    model_repo: str = "",
    models_root: str = "",
    model_name: str = "distml-classifier",
    psi_threshold: float = 0.2,
    alpha: float = 0.01,
    min_samples: int = 200,
) -> bool:
    """model_repo: the served model's repository (under models_root unless absolute), as select pushes to it.
    Compare the request log (a folder on a mounted volume: `distml serve` log or what
    `distml request-sink` stored) with the training dataset and the served model's
    validation predictions. Returns retrain (true when drift was found on enough traffic)."""
    import json

    from distml.components.monitor.pipeline_step import monitor_step
    from distml.components.select.spec import repository_path

    result = monitor_step(
        reference_dataset.path, drift_report.path, request_logs=[request_log],
        model_repo=repository_path(model_repo, models_root),
        model_name=model_name, psi_threshold=psi_threshold, alpha=alpha, min_samples=min_samples,
    )
    for name, value in result["metrics"].items():
        scores.log_metric(name, value)
    with open(scores.path, "w") as f:  # kfp.local treats a cached artifact whose file is missing as a miss
        json.dump(result["metrics"], f)
    with open(report.path, "w") as f:
        f.write(result["report_markdown"])
    drift_report.metadata.update(result["summary"])
    return result["retrain"]

"""KFP wrapper of the select component: a thin call into the core, plus the outputs the
Kubeflow UI renders (metrics per candidate, the winner's confusion matrix, the report)."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from distml.components.common.k8s import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def select(
    dataset: Input[Dataset],
    candidates: Input[List[Model]],
    selection: Output[Artifact],
    evaluation: Output[Metrics],
    confusion_matrix: Output[ClassificationMetrics],
    report: Output[Markdown],
    model_repo: str,
    model_name: str = "distml-classifier",
    metric: str = "accuracy",
    min_accuracy: float = 0.0,
    min_improvement: float = 0.0,
    baseline: str = "latest",
) -> bool:
    """Evaluate every candidate on the test split, bless the best (threshold, and beating the
    deployed baseline), push it to <model_repo>/<model_name>/<N>/ if blessed. Returns blessed.

    baseline: "latest" (the newest version in the repository), a model path, or "" for none.
    """
    import json

    from distml.components.select.pipeline_step import select_step

    result = select_step(
        dataset.path, [c.path for c in candidates], selection.path, model_repo=model_repo,
        model_name=model_name, metric=metric, min_accuracy=min_accuracy,
        min_improvement=min_improvement, baseline=baseline or None,
    )
    for name, value in result["metrics"].items():
        evaluation.log_metric(name, value)
    confusion_matrix.log_confusion_matrix(result["class_names"], result["confusion_matrix"])
    # kfp.local treats a cached artifact whose file is missing as a cache miss.
    with open(evaluation.path, "w") as f:
        json.dump(result["metrics"], f)
    with open(confusion_matrix.path, "w") as f:
        json.dump({"class_names": result["class_names"], "matrix": result["confusion_matrix"]}, f)
    with open(report.path, "w") as f:
        f.write(result["report_markdown"])
    selection.metadata.update(result["summary"])
    return result["blessed"]

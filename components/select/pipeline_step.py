"""What the KFP select step does around the core: write selection.json as the step's
artifact, and the outputs the Kubeflow UI renders (metrics per candidate, the winner's
confusion matrix, the report as Markdown and as one self-contained HTML page). `run_kfp`
is what the generated component.py calls."""

import json
import tempfile
from pathlib import Path

from distml.components.common.kfp_outputs import inline_charts, log_metrics
from distml.components.common.model_artifact import repository_path
from distml.components.select.report import CHARTS, HTML_REPORT_FILE


def run_kfp(
    *,
    dataset,
    candidates,
    selection,
    evaluation,
    confusion_matrix,
    report,
    report_html,
    model_repo,
    models_root,
    baseline,
    **options,
):
    result = select_step(
        dataset.path,
        [c.path for c in candidates],
        selection.path,
        model_repo=repository_path(model_repo, models_root),
        baseline=baseline or None,
        **options,
    )
    log_metrics(evaluation, result["metrics"])
    confusion_matrix.log_confusion_matrix(result["class_names"], result["confusion_matrix"])
    # kfp.local treats a cached artifact whose file is missing as a cache miss.
    with open(confusion_matrix.path, "w") as f:
        json.dump({"class_names": result["class_names"], "matrix": result["confusion_matrix"]}, f)
    with open(report.path, "w") as f:
        f.write(result["report_markdown"])
    with open(report_html.path, "w") as f:
        f.write(result["report_html"])
    selection.metadata.update(result["summary"])
    return result["blessed"]


def select_step(dataset_artifact, candidate_paths, selection_path, **options):
    from distml.components.select.core import select_models

    with tempfile.TemporaryDirectory() as report_dir:
        # On a cluster the dataset artifact is a pointer to the shared volume: follow it, explicitly.
        selection = select_models(
            dataset_artifact, candidate_paths, output_dir=report_dir, follow_location=True, **options
        )
        report = (Path(report_dir) / "report.md").read_text()
        report = inline_charts(report, report_dir, CHARTS)
        report_html = (Path(report_dir) / HTML_REPORT_FILE).read_text()
    Path(selection_path).write_text(json.dumps(selection, indent=2) + "\n")
    metrics = {}
    for candidate in selection["candidates"]:
        for name, value in candidate["metrics"].items():
            if isinstance(value, (int, float)):
                metrics[f"{candidate['name']}-{name}"] = value
    pushed = selection["pushed"] or {}
    return {
        "blessed": bool(selection["blessed"]),
        "metrics": metrics,
        "class_names": selection["class_names"],
        "confusion_matrix": selection["confusion_matrix"],
        "report_markdown": report,
        "report_html": report_html,
        "summary": {
            "winner": selection["winner"],
            "blessed": selection["blessed"],
            "reason": selection["reason"],
            "pushed_version": pushed.get("version", 0),
            "pushed_path": pushed.get("path", ""),
        },
    }

"""What the KFP select step does around the core: write selection.json as the step's
artifact, and the outputs the Kubeflow UI renders (metrics per candidate, the winner's
confusion matrix, the report as Markdown and as one self-contained HTML page). `run_kfp`
is what the generated component.py calls."""

import base64
import json
import tempfile
from pathlib import Path

from distml.components.select.report import CHARTS, HTML_REPORT_FILE
from distml.components.select.spec import repository_path


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
        report = _inline_charts(report, Path(report_dir))
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


def _inline_charts(markdown, folder):
    """The KFP UI renders one Markdown file: embed the PNG charts as data URIs."""
    for chart in CHARTS:
        path = folder / chart
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            markdown = markdown.replace(f"({chart})", f"(data:image/png;base64,{data})")
    return markdown

"""What the KFP monitor step does around the core: drift.json as the step's artifact, the
report with its charts inlined (the KFP UI renders one Markdown file), PSI per feature as
metrics. `run_kfp` is what the generated component.py calls."""

import json
import tempfile
from pathlib import Path

from distml.components.common.kfp_outputs import inline_charts, log_metrics
from distml.components.common.model_artifact import repository_path
from distml.components.monitor.report import DISTRIBUTIONS_CHART, REPORT_FILE, SCORES_CHART


def run_kfp(*, reference_dataset, request_log, drift_report, scores, report, model_repo, models_root, **options):
    result = monitor_step(
        reference_dataset.path,
        drift_report.path,
        request_logs=[request_log],
        model_repo=repository_path(model_repo, models_root),
        **options,
    )
    log_metrics(scores, result["metrics"])
    with open(report.path, "w") as f:
        f.write(result["report_markdown"])
    drift_report.metadata.update(result["summary"])
    return result["retrain"]


def monitor_step(reference_dataset, drift_report_path, **options):
    from distml.components.monitor.core import monitor

    with tempfile.TemporaryDirectory() as report_dir:
        report = monitor(reference_dataset, output_dir=report_dir, **options)
        markdown = inline_charts(
            (Path(report_dir) / REPORT_FILE).read_text(), report_dir, (SCORES_CHART, DISTRIBUTIONS_CHART)
        )
    Path(drift_report_path).write_text(json.dumps(report, indent=1) + "\n")
    return {
        "retrain": bool(report["retrain"]),
        "metrics": {f"psi-{f['name']}": f["psi"] for f in report["features"] if f["psi"] is not None},
        "report_markdown": markdown,
        "summary": {
            "status": report["status"],
            "retrain": report["retrain"],
            "reason": report["reason"],
            "num_images": report["current"]["num_images"],
        },
    }

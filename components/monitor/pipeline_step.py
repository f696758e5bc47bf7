"""What the KFP monitor step does around the core: drift.json as the step's artifact, the
report with its charts inlined (the KFP UI renders one Markdown file), PSI per feature as
metrics."""

import base64
import json
import tempfile
from pathlib import Path

from distml.components.monitor.report import DISTRIBUTIONS_CHART, REPORT_FILE, SCORES_CHART


def monitor_step(reference_dataset, drift_report_path, **options):
    from distml.components.monitor.core import monitor

    with tempfile.TemporaryDirectory() as report_dir:
        report = monitor(reference_dataset, output_dir=report_dir, **options)
        markdown = (Path(report_dir) / REPORT_FILE).read_text()
        for chart in (SCORES_CHART, DISTRIBUTIONS_CHART):
            data = base64.b64encode((Path(report_dir) / chart).read_bytes()).decode()
            markdown = markdown.replace(f"({chart})", f"(data:image/png;base64,{data})")
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

"""What the KFP steps write into their output artifacts, written one way for every component."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kfp.dsl import Metrics


def log_metrics(artifact: Metrics, metrics: Mapping[str, float]) -> None:
    """Log `metrics` on a KFP Metrics artifact (what the UI shows) and write them into its file:
    kfp.local treats a cached artifact whose file is missing as a cache miss."""
    for name, value in metrics.items():
        artifact.log_metric(name, value)
    Path(artifact.path).write_text(json.dumps(dict(metrics)))


def inline_charts(markdown: str, folder: Path | str, charts: Iterable[str]) -> str:
    """The KFP UI renders one Markdown file: embed the PNG charts it links (files in `folder`)
    as data URIs."""
    for chart in charts:
        path = Path(folder) / chart
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            markdown = markdown.replace(f"({chart})", f"(data:image/png;base64,{data})")
    return markdown

"""Compile the KFP pieces: each component's component.yaml and the pipeline YAML."""

import tempfile
from pathlib import Path

from kfp import compiler

COMPILED_PIPELINE = "pipelines/kfp/compiled/train_and_deploy.yaml"
COMPILED_MONITOR_PIPELINE = "pipelines/kfp/compiled/monitor_and_retrain.yaml"


def _compile_to_text(func):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.yaml"
        compiler.Compiler().compile(func, str(path))
        return path.read_text()


def render():
    """{path relative to the source tree: YAML text}."""
    from distml.components.deploy.component import deploy
    from distml.components.ingest.component import ingest
    from distml.components.monitor.component import monitor
    from distml.components.select.component import select
    from distml.components.train.component import train
    from distml.pipelines.kfp.train_and_deploy import train_and_deploy

    files = {f"components/{c.name}/component.yaml": _compile_to_text(c) for c in (ingest, train, select, deploy, monitor)}
    files[COMPILED_PIPELINE] = _compile_to_text(train_and_deploy)
    from distml.pipelines.kfp.monitor_and_retrain import monitor_and_retrain

    files[COMPILED_MONITOR_PIPELINE] = _compile_to_text(monitor_and_retrain)
    return files

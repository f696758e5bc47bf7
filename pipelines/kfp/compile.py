"""Render the KFP pieces: each component's component.py (from its spec.py), its
component.yaml, and the pipeline YAML."""

import importlib
import tempfile
from pathlib import Path

from kfp import compiler

from distml.components.common import k8s

COMPILED_PIPELINE = "pipelines/kfp/compiled/train_and_deploy.yaml"
COMPILED_MONITOR_PIPELINE = "pipelines/kfp/compiled/monitor_and_retrain.yaml"
COMPONENTS = ("ingest", "train", "select", "deploy", "monitor")
PARAMETERS_DOC = "docs/parameters.md"


def _compile_to_text(func):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.yaml"
        compiler.Compiler().compile(func, str(path))
        return path.read_text()


def render_sources():
    """{components/<name>/component.py: its text}, from each component's spec."""
    files = {}
    for name in COMPONENTS:
        spec = importlib.import_module(f"distml.components.{name}.spec").SPEC
        files[f"components/{name}/component.py"] = spec.component_source(k8s.IMAGE)
    return files


def render_parameters_doc():
    from distml.components.common.params import parameters_markdown

    specs = [importlib.import_module(f"distml.components.{name}.spec").SPEC for name in COMPONENTS]
    return {PARAMETERS_DOC: parameters_markdown(specs)}


def render():
    """{path relative to the source tree: YAML text}, compiled from the component.py files
    as they are (`distml compile` writes the sources first, then reloads them)."""
    components = [getattr(importlib.import_module(f"distml.components.{name}.component"), name) for name in COMPONENTS]
    from distml.pipelines.kfp.train_and_deploy import train_and_deploy

    files = {f"components/{c.name}/component.yaml": _compile_to_text(c) for c in components}
    files[COMPILED_PIPELINE] = _compile_to_text(train_and_deploy)
    from distml.pipelines.kfp.monitor_and_retrain import monitor_and_retrain

    files[COMPILED_MONITOR_PIPELINE] = _compile_to_text(monitor_and_retrain)
    return files


def reload_sources():
    """Re-import the component modules and the pipeline after their sources were rewritten."""
    for name in COMPONENTS:
        importlib.reload(importlib.import_module(f"distml.components.{name}.component"))
    importlib.reload(importlib.import_module("distml.pipelines.kfp.train_and_deploy"))
    importlib.reload(importlib.import_module("distml.pipelines.kfp.monitor_and_retrain"))

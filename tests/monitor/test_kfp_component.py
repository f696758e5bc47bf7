"""The KFP monitor component under kfp.local: retrain on drifted traffic, and the report the
Kubeflow UI renders has its charts inlined."""

import json
from pathlib import Path

import numpy as np
from kfp import dsl, local

from benchmarks.drift_shifts import load_split, serve_to_log, shifted_sample
from distml.components.common.model_artifact import push, resolve_version_dir
from distml.components.ingest.reader import load_metadata
from distml.components.monitor.component import monitor
from distml.components.monitor.profiles import Model
from distml.components.monitor.request_log import RequestLog


def test_monitor_component_says_retrain_on_inverted_traffic(digits_dataset, trained_models, tmp_path):
    saved_model = resolve_version_dir(trained_models["cnn"])
    push(saved_model, tmp_path / "repo", "distml-classifier")
    images, labels = load_split(digits_dataset, "test")
    log = RequestLog(tmp_path / "log" / "requests.jsonl")
    serve_to_log(
        Model(saved_model, load_metadata(digits_dataset)),
        shifted_sample(images, labels, 250, np.random.default_rng(0), "invert", 1.0),
        log,
    )

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))

    @dsl.pipeline(name="monitor-once")
    def monitor_once() -> bool:
        data = dsl.importer(artifact_uri=str(digits_dataset), artifact_class=dsl.Dataset, reimport=False)
        step = monitor(
            reference_dataset=data.output, request_log=str(tmp_path / "log"), model_repo=str(tmp_path / "repo")
        )
        return step.outputs["Output"]

    assert monitor_once().output is True
    step_dir = next((tmp_path / "root").glob("monitor-once-*/monitor"))
    report = json.loads((step_dir / "drift_report").read_text())
    assert report["retrain"] is True and "brightness" in report["drifted"]
    assert "data:image/png;base64," in Path(step_dir / "report").read_text()


def test_the_recurring_run_pipeline_retrains_only_on_drift_against_the_served_model():
    import yaml

    from distml.pipelines.generated import SOURCE_ROOT
    from distml.pipelines.kfp.compile import COMPILED_MONITOR_PIPELINE

    spec = next(yaml.safe_load_all((SOURCE_ROOT / COMPILED_MONITOR_PIPELINE).read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"data-version", "ingest", "monitor", "condition-1"}
    assert (
        tasks["condition-1"]["triggerPolicy"]["condition"]
        == "inputs.parameter_values['pipelinechannel--monitor-Output'] == true"
    )
    nested = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert [t["componentRef"]["name"] for t in nested.values()] == ["comp-train-and-deploy"]
    # Inside, select keeps its default baseline: the repository's newest (served) version.
    select_inputs = spec["components"]["comp-select"]["inputDefinitions"]["parameters"]
    assert select_inputs["baseline"]["defaultValue"] == "latest"
    assert spec["deploymentSpec"]["executors"]["exec-monitor"]["container"]["args"]

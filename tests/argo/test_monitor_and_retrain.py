"""The monitor-and-retrain CronWorkflow: monitor first, train-and-deploy only on `retrain`,
the served model as the baseline to beat, and a monitor command line `distml monitor` parses
(the library's `monitor` template, which the CronWorkflow runs through templateRef)."""

import argparse
from pathlib import Path

from distml.components.common.model_artifact import repository_path
from distml.components.monitor import cli
from tests.argo.argo_yaml import input_values, library, load, substitute, tags

CRON = "cronworkflow-monitor-and-retrain.yaml"


def parse(command):
    """A container's argv (`distml monitor ...`) parsed by the monitor's own CLI parser."""
    assert command[:2] == ["distml", "monitor"], command
    parser = argparse.ArgumentParser(prog="distml monitor", exit_on_error=False)
    cli.add_arguments(parser)
    return parser.parse_args(command[2:])


def spec():
    return load(CRON)["spec"]["workflowSpec"]


def templates():
    return {t["name"]: t for t in spec()["templates"]}


def test_retraining_runs_only_when_the_monitor_says_so_and_must_beat_the_served_model():
    tasks = {t["name"]: t for t in templates()[spec()["entrypoint"]]["dag"]["tasks"]}
    assert set(tasks) == {"monitor", "train-and-deploy"}
    retrain = tasks["train-and-deploy"]
    assert retrain["depends"] == "monitor" and retrain["when"] == "{{tasks.monitor.outputs.parameters.retrain}} == true"
    parameters = {p["name"]: p["value"] for p in spec()["arguments"]["parameters"]}
    assert parameters["baseline"] == "latest" and parameters["priority-class"] == "distml-batch"
    select = next(t for t in templates()["train-and-deploy"]["dag"]["tasks"] if t["name"] == "select")
    assert {"name": "baseline", "value": "{{workflow.parameters.baseline}}"} in select["arguments"]["parameters"]
    # Every workflow parameter a template uses is declared.
    used = {t.split(".", 2)[2] for t in tags(spec()["templates"]) if t.startswith("workflow.parameters.")}
    assert used <= set(parameters)


def test_the_monitor_command_parses_and_writes_the_decision_where_argo_reads_it():
    monitor = next(t for t in templates()[spec()["entrypoint"]]["dag"]["tasks"] if t["name"] == "monitor")
    assert monitor["templateRef"] == {"name": "distml-components", "template": "monitor"}
    template = library()["monitor"]
    # The task passes every input the template takes, each from the workflow's parameter.
    assert {p["name"]: p["value"] for p in monitor["arguments"]["parameters"]} == {
        p["name"]: "{{workflow.parameters." + p["name"] + "}}" for p in template["inputs"]["parameters"]
    }
    values = input_values(template)
    container = template["container"]
    args = parse([substitute(a, values) for a in container["command"] + container["args"]])
    assert repository_path(args.model_repo, args.models_root) == Path("/mnt/models/repo")
    assert args.model_name == "distml-classifier"
    assert args.datasets_root == "/mnt/datasets" and args.request_log == ["/mnt/models/request-logs/distml-classifier"]
    assert args.psi_threshold == 0.2 and args.alpha == 0.01 and args.min_samples == 200
    assert template["outputs"]["parameters"] == [{"name": "retrain", "valueFrom": {"path": args.retrain_out}}]

"""Every command line the templates run parses with the component's own CLI parser, so a
renamed or removed flag fails here rather than in the cluster."""

import argparse
import importlib
import shlex

import pytest
import yaml

from tests.argo.argo_yaml import input_values, library, substitute

SAMPLE_INPUTS = {
    "model-type": "cnn", "dataset-dir": "/mnt/datasets/ingest-abc", "model-dir": "/mnt/models/runs/r/candidates/cnn",
    "checkpoint-dir": "/mnt/models/runs/r/checkpoints/cnn", "cache-key": "ingest-abc",
    "candidates-dir": "/mnt/models/runs/r/candidates", "output-dir": "/mnt/models/runs/r/selection",
}


def component_parser(subcommand):
    module_name = f"distml.components.{subcommand}.cli"
    try:
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"distml {subcommand}", exit_on_error=False)
        module.add_arguments(parser)
    except ModuleNotFoundError as e:
        pytest.skip(f"`distml {subcommand}` is not importable in this checkout yet ({e})")
    return parser


def parse(command):
    """argv of a container (`distml SUBCOMMAND ...`) -> the parsed namespace."""
    assert command[0] == "distml", command
    parser = component_parser(command[1])
    try:
        return parser.parse_args(command[2:])
    except (argparse.ArgumentError, SystemExit) as e:
        pytest.fail(f"`{shlex.join(command)}` does not parse: {e}")


def container_command(name):
    template = library()[name]
    values = input_values(template, **{k: v for k, v in SAMPLE_INPUTS.items()
                                       if k in {p["name"] for p in template["inputs"]["parameters"]}})
    container = template["container"]
    return [substitute(arg, values) for arg in container["command"] + container.get("args", [])]


def test_ingest_template_flags():
    args = parse(container_command("ingest-data"))
    assert args.output == "/mnt/datasets/ingest-abc" and args.num_shards == 8 and args.metadata_out


def test_select_template_flags():
    args = parse(container_command("select"))
    assert args.candidates_dir == "/mnt/models/runs/r/candidates"
    assert args.model_repo == "/mnt/models/repo" and args.blessed_out and args.pushed_version_out


def test_train_worker_flags_in_the_tfjob():
    train = library()["train"]
    text = substitute(train["resource"]["manifest"], input_values(train, **{
        k: SAMPLE_INPUTS[k] for k in ("model-type", "dataset-dir", "model-dir", "checkpoint-dir")}))
    pod = yaml.safe_load(text)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    args = parse(pod["containers"][0]["command"])
    assert args.launcher == "worker" and args.dataset_dir == "/mnt/datasets/ingest-abc"
    assert args.run_id and args.checkpoint_dir == "/mnt/models/runs/r/checkpoints/cnn"


def test_deploy_rollout_template_flags():
    args = parse(container_command("deploy-rollout"))
    assert args.target == "kserve" and args.storage_uri == "pvc://distml-models/repo/distml-classifier"
    assert args.namespace == "distml" and args.result_out

"""The library's `train`: the launcher (TFJob or TrainJob) and, for a TFJob, a template with
or without GPUs, chosen at run time with `when`; each fails on its job's failure and is
bounded by train-deadline-seconds. Evaluated the way Argo evaluates them (tests/argo/argo_yaml.py)."""

import argparse
import itertools

import pytest
import yaml

from distml.components.common import k8s
from distml.components.common.owner import OWNER_FIELDS
from distml.components.train.cli import add_arguments
from distml.components.train.spec import CLUSTER_LAUNCHERS
from tests.argo.argo_yaml import (
    input_values,
    library,
    load,
    requirements,
    resource_state,
    substitute,
    when_holds,
)
from tests.conftest import load_fixture

TFJOBS = load_fixture("tfjob/statuses.yaml")
SUBMITTED = {
    "model-type": "batch_norm",
    "dataset-dir": "/mnt/datasets/ingest-abc",
    "model-dir": "/mnt/models/runs/r/candidates/batch_norm",
    "checkpoint-dir": "/mnt/models/runs/r/checkpoints/batch_norm",
}


def rendered_tfjob(template_name, **overrides):
    template = library()[template_name]
    return yaml.safe_load(
        substitute(template["resource"]["manifest"], input_values(template, **{**SUBMITTED, **overrides}))
    )


@pytest.mark.parametrize("launcher, gpus", list(itertools.product(CLUSTER_LAUNCHERS, ("0", "1", "4"))))
def test_exactly_one_branch_runs_for_each_launcher_and_gpu_count(launcher, gpus):
    train = library()["train"]
    values = input_values(train, **SUBMITTED, launcher=launcher, gpus=gpus)
    running = [t["template"] for t in train["dag"]["tasks"] if when_holds(t["when"], values)]
    expected = "train-trainjob" if launcher == "trainjob" else "train-tfjob-gpu" if gpus != "0" else "train-tfjob"
    assert running == [expected]
    (launcher_input,) = [p for p in train["inputs"]["parameters"] if p["name"] == "launcher"]
    assert launcher_input["default"] == "tfjob" and launcher_input["enum"] == ["tfjob", "trainjob"]


def test_every_branch_gets_every_input_its_template_declares():
    templates = library()
    for task in templates["train"]["dag"]["tasks"]:
        declared = {p["name"] for p in templates[task["template"]]["inputs"]["parameters"]}
        passed = {p["name"] for p in task["arguments"]["parameters"]}
        assert passed == declared, task["name"]


def test_a_cpu_tfjob_asks_for_no_gpu_and_tolerates_no_gpu_taint():
    tfjob = rendered_tfjob("train-tfjob", gpus="0")
    pod = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    (container,) = pod["containers"]
    assert k8s.GPU_RESOURCE not in container["resources"]["requests"]
    assert k8s.GPU_RESOURCE not in container["resources"]["limits"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert all(v["name"] != "dshm" for v in pod["volumes"])
    assert container["image"] == k8s.IMAGE


def test_a_gpu_tfjob_asks_for_its_gpus_on_gpu_nodes_with_the_gpu_image():
    tfjob = rendered_tfjob("train-tfjob-gpu", gpus="2")
    pod = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["requests"][k8s.GPU_RESOURCE] == "2"
    assert container["resources"]["limits"][k8s.GPU_RESOURCE] == "2"
    assert pod["tolerations"] == k8s.gpu_scheduling(1)["tolerations"]
    assert pod["nodeSelector"] == k8s.gpu_scheduling(1)["nodeSelector"]
    assert any(v["name"] == "dshm" for v in pod["volumes"])
    assert container["image"] == k8s.GPU_IMAGE


@pytest.mark.parametrize("name", ["train-tfjob", "train-tfjob-gpu"])
@pytest.mark.parametrize(
    "status, state",
    [
        ("created", "waiting"),
        ("running", "waiting"),
        ("restarting", "waiting"),  # a worker failed and restarts: Worker.failed 1, the job goes on
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("failed_backoff", "failed"),  # backoff limit: Worker.failed stays 0
        ("failed_deadline", "failed"),  # activeDeadlineSeconds: Worker.failed stays 0
        ("failed_after_suspension", "failed"),  # Kueue suspended it first: Failed is the 4th condition
    ],
)
def test_the_step_ends_on_the_tfjob_s_conditions(name, status, state):
    resource = library()[name]["resource"]
    values = input_values(library()[name], **SUBMITTED, workers="2")
    success = substitute(resource["successCondition"], values)
    assert resource_state({"status": TFJOBS[status]}, success, resource["failureCondition"]) == state


def test_failure_condition_keys_are_plain_label_keys_covering_every_position_failed_can_take():
    reqs = requirements(library()["train-tfjob"]["resource"]["failureCondition"])
    assert reqs == [(f"status.conditions.{i}.type", "==", "Failed") for i in range(5)]


@pytest.mark.parametrize("name", ["train-tfjob", "train-tfjob-gpu", "train-trainjob"])
@pytest.mark.parametrize("seconds, step, job", [("14400", 15000, 14400), ("0", 31536000, 31536000)])
def test_every_branch_is_bounded_by_train_deadline_seconds(name, seconds, step, job):
    """The job's own deadline (TFJob activeDeadlineSeconds, the TrainJob launcher's --timeout)
    ends it first and says why; the step's deadline is 10 minutes later. 0: no limit."""
    template = library()[name]
    values = input_values(template, **SUBMITTED, **{"train-deadline-seconds": seconds})
    assert int(substitute(template["activeDeadlineSeconds"], values)) == step
    if "resource" in template:
        tfjob = rendered_tfjob(name, **{"train-deadline-seconds": seconds})
        assert tfjob["spec"]["runPolicy"]["activeDeadlineSeconds"] == job
    else:
        args = template["container"]["args"]
        assert args[args.index("--timeout") + 1] == "{{inputs.parameters.train-deadline-seconds}}"


def test_the_trainjob_step_runs_the_trainjob_launcher_owned_by_its_pod():
    template = library()["train-trainjob"]
    container = template["container"]
    assert container["image"] == "{{inputs.parameters.slim-image}}" and container["command"] == ["distml", "train"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == OWNER_FIELDS
    assert template["synchronization"] == library()["train-tfjob"]["synchronization"]
    values = input_values(template, **SUBMITTED, gpus="1", workers="3")
    args = [substitute(a, values) for a in container["args"]]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    parsed = parser.parse_args(args)
    assert (parsed.launcher, parsed.workers, parsed.gpus, parsed.run_id) == (
        "trainjob",
        3,
        1,
        "0b8c5f52-2f7e-4d8a-9a53-1c2d3e4f5a6b",
    )
    assert (parsed.queue, parsed.priority_class, parsed.namespace) == (k8s.LOCAL_QUEUE, k8s.PRIORITY_BATCH, "distml")
    assert (parsed.image, parsed.gpu_image) == (k8s.IMAGE, k8s.GPU_IMAGE)
    assert parsed.model_type == "batch_norm" and parsed.dataset == SUBMITTED["dataset-dir"]


def test_the_workflow_passes_the_launcher_and_refuses_unknown_ones():
    for file_name in (
        "workflow-train-and-deploy.yaml",
        "cronworkflow-retrain-and-deploy.yaml",
        "cronworkflow-monitor-and-retrain.yaml",  # its retraining DAG
    ):
        spec = load(file_name)["spec"]
        spec = spec.get("workflowSpec", spec)
        (launcher,) = [p for p in spec["arguments"]["parameters"] if p["name"] == "launcher"]
        assert launcher["value"] == "tfjob" and launcher["enum"] == ["tfjob", "trainjob"]
        (dag,) = [t["dag"] for t in spec["templates"] if t["name"] == "train-and-deploy"]
        (train,) = [t for t in dag["tasks"] if t["name"] == "train"]
        passed = {p["name"]: p["value"] for p in train["arguments"]["parameters"]}
        assert passed["launcher"] == "{{workflow.parameters.launcher}}"

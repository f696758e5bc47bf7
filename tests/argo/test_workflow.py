"""The train-and-deploy wiring: templateRef calls that match the library, fan-out/fan-in,
conditional deployment, priority scheduling, and a CronWorkflow reusing the same DAG."""

import json
import re

import pytest
import yaml

from distml.components.common import k8s
from distml.pipelines.argo import library as library_module
from distml.pipelines.argo import train_and_deploy
from tests.argo.argo_yaml import library, load, tags

WORKFLOW = "workflow-train-and-deploy.yaml"
CRON = "cronworkflow-retrain-and-deploy.yaml"


def dag_tasks(spec):
    return {t["name"]: t for t in spec["templates"][0]["dag"]["tasks"]}


def arguments(task):
    return {p["name"]: p["value"] for p in task.get("arguments", {}).get("parameters", [])}


@pytest.fixture(scope="module")
def spec():
    return load(WORKFLOW)["spec"]


# The deploy task runs deploy-rollout: the resource template's condition can read an update's stale status.
TEMPLATE_OF_TASK = {"deploy": "deploy-rollout"}


def test_every_task_calls_a_library_template_with_inputs_it_declares(spec):
    templates = library()
    for name, task in dag_tasks(spec).items():
        template = TEMPLATE_OF_TASK.get(name, name)
        assert task["templateRef"] == {"name": library_module.LIBRARY_NAME, "template": template}
        declared = {p["name"]: p for p in templates[template]["inputs"]["parameters"]}
        passed = arguments(task)
        assert set(passed) <= set(declared), f"{name}: unknown inputs {set(passed) - set(declared)}"
        required = {n for n, p in declared.items() if "default" not in p}
        assert required <= set(passed), f"{name}: required inputs missing {required - set(passed)}"


def test_every_parameter_is_used_and_every_used_parameter_is_declared(spec):
    declared = {p["name"] for p in spec["arguments"]["parameters"]}
    used = {t.removeprefix("workflow.parameters.") for t in tags(spec) if t.startswith("workflow.parameters.")}
    assert used == declared


def test_the_parameters_the_issue_names_are_overridable(spec):
    declared = {p["name"] for p in spec["arguments"]["parameters"]}
    assert {"dataset", "model-types", "workers", "gpus", "priority-class", "queue", "image", "min-accuracy"} <= declared


def test_fan_out_over_model_types_with_per_item_model_and_checkpoint_paths(spec):
    train = dag_tasks(spec)["train"]
    assert train["withParam"] == "{{workflow.parameters.model-types}}"
    assert train["depends"] == "ingest"
    passed = arguments(train)
    assert passed["model-type"] == "{{item}}"
    assert "{{item}}" in passed["model-dir"] and "{{item}}" in passed["checkpoint-dir"]
    assert passed["model-dir"] != passed["checkpoint-dir"]
    assert passed["dataset-dir"] == "{{tasks.ingest.outputs.parameters.dataset-dir}}"
    default_types = json.loads(next(p["value"] for p in spec["arguments"]["parameters"] if p["name"] == "model-types"))
    assert default_types == train_and_deploy.MODEL_TYPES and len(default_types) > 1


def test_fan_in_selects_over_every_candidate_and_deploys_only_when_blessed(spec):
    tasks = dag_tasks(spec)
    select, deploy = tasks["select"], tasks["deploy"]
    assert select["depends"] == "train"
    model_dir_parent = arguments(tasks["train"])["model-dir"].rsplit("/", 1)[0]
    assert arguments(select)["candidates-dir"] == model_dir_parent
    assert deploy["depends"] == "select"
    assert deploy["when"] == "{{tasks.select.outputs.parameters.blessed}} == true"
    assert arguments(deploy)["model-version"] == "{{tasks.select.outputs.parameters.pushed-version}}"


@pytest.mark.parametrize("name", ["train-tfjob", "train-tfjob-gpu"])
def test_train_creates_a_tfjob_owned_by_the_workflow_and_waits_on_all_workers(name):
    train = library()[name]
    resource = train["resource"]
    assert resource["action"] == "create" and resource["setOwnerReference"] is True
    assert resource["successCondition"] == "status.replicaStatuses.Worker.succeeded = {{inputs.parameters.workers}}"
    assert resource["failureCondition"]
    # Integer fields hold bare tags (`replicas: {{...}}`); quote them to parse the template itself.
    tfjob = yaml.safe_load(re.sub(r": (\{\{[^}]+\}\})$", r": '\1'", resource["manifest"], flags=re.M))
    assert tfjob["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == "{{inputs.parameters.workers}}"
    assert tfjob["kind"] == "TFJob"
    labels = tfjob["metadata"]["labels"]
    assert labels[k8s.QUEUE_LABEL] == "{{inputs.parameters.queue}}"
    assert labels[k8s.PRIORITY_LABEL] == "{{inputs.parameters.priority-class}}"
    pod = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]
    assert pod["metadata"]["labels"]["workflows.argoproj.io/workflow"] == "{{workflow.name}}"
    assert pod["spec"]["priorityClassName"] == "{{inputs.parameters.priority-class}}"
    assert "train-deadline-seconds" in tfjob["spec"]["runPolicy"]["activeDeadlineSeconds"]
    assert train["synchronization"]["semaphores"] == [
        {"configMapKeyRef": {"name": k8s.GPU_SEMAPHORE_CONFIGMAP, "key": k8s.GPU_SEMAPHORE_KEY}}
    ]
    # docs/argo.md: `train` retries once (the retry resumes from the run's checkpoints).
    assert int(train["retryStrategy"]["limit"]) == 1 and train["retryStrategy"]["retryPolicy"] == "Always"


def test_the_workflow_rolls_a_version_out_as_the_kfp_step_does(spec):
    """deploy-rollout runs the KFP deploy step's rollout (distml deploy --target kserve: wait for
    the new generation, roll back a failure) on the version select pushed, for the model the
    run names, from where select pushed it."""
    import argparse

    from distml.components.deploy.cli import add_arguments
    from distml.components.deploy.manifest import storage_uri_for
    from tests.argo.argo_yaml import input_values, substitute

    task = dag_tasks(spec)["deploy"]
    template = library()["deploy-rollout"]
    submitted = {**arguments(task), "model-version": "7", "model-name": "fashion", "model-repo": "team/repo"}
    container = yaml.safe_load(substitute(yaml.safe_dump(template["container"]), input_values(template, **submitted)))
    assert container["command"] == ["distml", "deploy"]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    args = parser.parse_args(container["args"])
    assert (args.target, args.rollback, args.model_version, args.model_name) == ("kserve", True, "7", "fashion")
    assert args.storage_uri == storage_uri_for("fashion", "team/repo")


def test_deploy_applies_an_inference_service_and_waits_until_the_model_serves():
    resource = library()["deploy"]["resource"]
    assert resource["action"] == "apply"
    assert "kind: InferenceService" in resource["manifest"]
    assert "transitionStatus = UpToDate" in resource["successCondition"]
    assert "activeModelState = Loaded" in resource["successCondition"]
    assert "BlockedByFailedLoad" in resource["failureCondition"]


@pytest.mark.parametrize("file_name", [WORKFLOW, CRON, "cronworkflow-monitor-and-retrain.yaml"])
def test_the_workflows_deploy_with_the_rollout_that_waits_for_the_new_model_and_rolls_back(file_name):
    """An update's status still describes the previous model until KServe reconciles it (and in
    Standard mode stays Ready through the rolling update): the workflows run `distml deploy`,
    whose wait reads revisions / the Deployment (components/deploy/rollout.py), not the
    resource template's condition; a failed rollout was rolled back and is not retried."""
    deploys = [t for t in tags_and_tasks(load(file_name)) if t["name"] == "deploy"]
    assert deploys and all(t["templateRef"]["template"] == "deploy-rollout" for t in deploys)
    rollout = library()["deploy-rollout"]
    args = rollout["container"]["args"]
    assert args[args.index("--target") + 1] == "kserve"
    assert args[args.index("--model-version") + 1] == "{{inputs.parameters.model-version}}"
    assert rollout["retryStrategy"]["retryPolicy"] == "OnError"


def tags_and_tasks(doc):
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    return [task for template in spec["templates"] for task in (template.get("dag") or {}).get("tasks", [])]


def test_deploy_gives_up_after_30_minutes_and_retries_only_api_errors():
    deploy = library()["deploy"]
    assert deploy["timeout"] == "30m"  # docs/argo.md: a 30 min `timeout` on deploy
    retry = deploy["retryStrategy"]
    # OnError: Argo retries errors (the API server refusing or timing out), not a Failed step
    # (the InferenceService's failureCondition): a rollout that failed is not tried again.
    assert retry["retryPolicy"] == "OnError" and int(retry["limit"]) == 2


def test_priority_scheduling_settings(spec):
    assert spec["priority"] == 10  # docs/argo.md: workflow priority 10, the CronWorkflow 0
    assert spec["podPriorityClassName"] == "{{workflow.parameters.priority-class}}"
    assert spec["activeDeadlineSeconds"] == 6 * 3600  # docs/argo.md: 6 h
    for name, template in library().items():
        if "dag" not in template:
            assert template["priorityClassName"] == "{{inputs.parameters.priority-class}}", name
            assert template["serviceAccountName"] == k8s.PIPELINE_SERVICE_ACCOUNT, name
        if "container" in template or "script" in template:
            assert template["activeDeadlineSeconds"] and template["retryStrategy"], name


@pytest.mark.parametrize("name", ["dataset-key", "ingest-data", "select"])
def test_transient_failures_retry_with_backoff_but_usage_errors_do_not(name):
    """docs/argo.md: ingest, select and the key step retry with backoff, but not after exit
    status 2 (distml's UsageError: a retry cannot fix it)."""
    retry = library()[name]["retryStrategy"]
    assert retry["expression"] == "lastRetry.status == 'Error' || asInt(lastRetry.exitCode) != 2"
    assert retry["retryPolicy"] == "Always" and int(retry["limit"]) >= 2
    assert retry["backoff"]["duration"] == "30s" and int(retry["backoff"]["factor"]) == 2


def test_the_cron_workflow_reuses_the_same_dag_at_a_lower_priority(spec):
    cron = load(CRON)
    cron_spec = cron["spec"]["workflowSpec"]
    # docs/argo.md: every Monday 03:00 UTC
    (schedule,) = cron["spec"]["schedules"]
    minute, hour, day_of_month, month, day_of_week = schedule.split()
    assert (minute, hour, day_of_month, month, day_of_week) == ("0", "3", "*", "*", "1")
    assert cron["spec"]["timezone"] == "UTC" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron_spec["templates"] == spec["templates"]
    assert cron_spec["priority"] == 0 < spec["priority"]
    priority = {p["name"]: p["value"] for p in cron_spec["arguments"]["parameters"]}["priority-class"]
    assert priority == k8s.PRIORITY_BATCH


def test_cluster_workflow_template_holds_the_same_templates():
    namespaced = load("workflowtemplate-distml-components.yaml")
    cluster = load("clusterworkflowtemplate-distml-components.yaml")
    assert cluster["kind"] == "ClusterWorkflowTemplate"
    assert cluster["spec"] == namespaced["spec"]
    assert {"ingest", "train", "select", "deploy"} <= set(library())


def test_the_tfjob_workers_run_every_training_parameter_the_template_takes():
    """The worker command inside the TFJob parses (with `distml train`'s own parser) into the
    values submitted: learning rate, precision, steps per epoch included."""
    import argparse

    from distml.components.train.cli import add_arguments
    from distml.components.train.core import config_from_args
    from tests.argo.argo_yaml import input_values, substitute

    submitted = {
        "model-type": "dropout",
        "dataset-dir": "/mnt/datasets/abc",
        "model-dir": "/mnt/models/runs/r/candidates/dropout",
        "checkpoint-dir": "/mnt/models/runs/r/checkpoints/dropout",
        "epochs": "7",
        "steps-per-epoch": "11",
        "batch-size": "32",
        "learning-rate": "0.0005",
        "lr-schedule": "cosine",
        "seed": "3",
        "precision": "float32",
    }
    train = library()["train-tfjob"]
    tfjob = yaml.safe_load(substitute(train["resource"]["manifest"], input_values(train, **submitted)))
    command = tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["distml", "train", "--launcher", "worker"]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    config = config_from_args(parser.parse_args(command[2:]))
    assert (
        config.model_type,
        config.epochs,
        config.steps_per_epoch,
        config.batch_size,
        config.learning_rate,
        config.lr_schedule,
        config.seed,
        config.precision,
    ) == ("dropout", 7, 11, 32, 0.0005, "cosine", 3, "float32")
    assert (config.dataset_dir, config.model_dir, config.checkpoint_dir) == (
        submitted["dataset-dir"],
        submitted["model-dir"],
        submitted["checkpoint-dir"],
    )
    assert config.run_id == "0b8c5f52-2f7e-4d8a-9a53-1c2d3e4f5a6b"  # {{workflow.uid}}: one run for every retry


@pytest.mark.parametrize("file_name", [CRON, "cronworkflow-monitor-and-retrain.yaml"])
def test_the_scheduled_runs_select_against_the_served_model_so_they_cannot_push_a_regression(file_name):
    """A weekly (or drift-triggered) run must beat the newest version in the repository, the
    one deployed: its select command line, substituted with the CronWorkflow's own
    parameters, parses to --baseline latest against that repository with no tolerated
    regression (tests/select/test_select.py shows such a baseline blocks the push), and
    deploy runs only when select blessed."""
    import argparse

    from distml.components.select.cli import add_arguments
    from tests.argo.argo_yaml import input_values, substitute

    spec = load(file_name)["spec"]["workflowSpec"]
    parameters = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    dag = next(t for t in spec["templates"] if t["name"] == train_and_deploy.WORKFLOW_NAME)
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    paths = {"dataset-dir", "candidates-dir", "output-dir"}  # wiring, not choices
    passed = {
        name: substitute(value, {f"workflow.parameters.{k}": v for k, v in parameters.items()})
        for name, value in arguments(tasks["select"]).items()
        if name not in paths
    }
    select = library()["select"]
    values = input_values(select, **passed, **{name: "/mnt/models/x" for name in paths})
    command = [substitute(a, values) for a in select["container"]["args"]]
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    args = parser.parse_args(command)
    assert args.baseline == "latest" and args.model_repo == k8s.MODEL_REPO_FOLDER
    assert args.min_improvement >= 0
    assert tasks["deploy"]["when"] == "{{tasks.select.outputs.parameters.blessed}} == true"

"""The `train-and-deploy` Workflow and its CronWorkflow, built from the template library.

    ingest (memoized) ──► train × model-types (TFJobs, fan-out) ──► select (fan-in) ──► deploy (when blessed)

Every task runs a `distml-components` template through templateRef; this file adds only
the wiring, the run-scoped paths and the workflow-level scheduling settings. Every
parameter can be overridden with `argo submit -p NAME=VALUE`.
"""

import json

from hera.workflows import DAG, CronWorkflow, Parameter, Task, Workflow
from hera.workflows import models as m

from distml.components.common import k8s
from distml.pipelines.argo import library

WORKFLOW_NAME = "train-and-deploy"
CRON_NAME = "retrain-and-deploy"
CRON_SCHEDULE = "0 3 * * 1"  # Mondays 03:00: weekly retraining
MODEL_TYPES = ["cnn", "dropout", "batch_norm"]  # components/train/models.py MODELS
WORKFLOW_PRIORITY = 10  # among workflows waiting for the controller; the cron run yields to it
CRON_PRIORITY = 0
WORKFLOW_DEADLINE_SECONDS = 6 * 3600
RUN_DIR = f"{k8s.MODELS_MOUNT}/runs/{{{{workflow.name}}}}"

PARAMETERS = {
    "dataset": library.DEFAULTS["dataset"],
    "dataset-version": library.DEFAULTS["dataset-version"],
    "num-shards": library.DEFAULTS["num-shards"],
    "validation-fraction": library.DEFAULTS["validation-fraction"],
    "seed": library.DEFAULTS["seed"],
    "model-types": json.dumps(MODEL_TYPES),
    "workers": library.DEFAULTS["workers"],
    "gpus": library.DEFAULTS["gpus"],
    "cpu": library.DEFAULTS["cpu"],
    "memory": library.DEFAULTS["memory"],
    "epochs": library.DEFAULTS["epochs"],
    "batch-size": library.DEFAULTS["batch-size"],
    "train-deadline-seconds": library.DEFAULTS["train-deadline-seconds"],
    "image": library.DEFAULTS["image"],
    "slim-image": library.DEFAULTS["slim-image"],
    "priority-class": k8s.PRIORITY_PRODUCTION,
    "serving-priority-class": library.DEFAULTS["serving-priority-class"],
    "queue": library.DEFAULTS["queue"],
    "model-name": library.DEFAULTS["model-name"],
    "model-repo": library.DEFAULTS["model-repo"],
    "min-accuracy": library.DEFAULTS["min-accuracy"],
    "baseline": library.DEFAULTS["baseline"],
}
CRON_OVERRIDES = {"priority-class": k8s.PRIORITY_BATCH}


def workflow_param(name):
    return "{{workflow.parameters." + name + "}}"


def component(name, task_name=None, **kwargs):
    """A DAG task running one template of the library."""
    return Task(
        name=task_name or name,
        template_ref=m.TemplateRef(name=library.LIBRARY_NAME, template=name),
        **kwargs,
    )


def passthrough(*names):
    return {n: workflow_param(n) for n in names}


def main_dag():
    ingest = component("ingest", arguments=passthrough(
        "dataset", "dataset-version", "num-shards", "validation-fraction", "seed", "image", "slim-image", "priority-class",
    ))
    dataset_dir = "{{tasks.ingest.outputs.parameters.dataset-dir}}"
    train = component(
        "train",
        depends="ingest",
        with_param=workflow_param("model-types"),
        arguments={
            "model-type": "{{item}}",
            "dataset-dir": dataset_dir,
            "model-dir": f"{RUN_DIR}/candidates/{{{{item}}}}",
            "checkpoint-dir": f"{RUN_DIR}/checkpoints/{{{{item}}}}",
            **passthrough("seed", "workers", "gpus", "cpu", "memory", "epochs", "batch-size", "image",
                          "priority-class", "queue", "train-deadline-seconds"),
        },
    )
    # Fan-in: `depends: train` waits for every item; select evaluates every folder the
    # items wrote under candidates/.
    select = component("select", depends="train", arguments={
        "dataset-dir": dataset_dir,
        "candidates-dir": f"{RUN_DIR}/candidates",
        "output-dir": f"{RUN_DIR}/selection",
        **passthrough("model-name", "model-repo", "min-accuracy", "baseline", "image", "priority-class"),
    })
    deploy = component(
        "deploy",
        depends="select",
        when="{{tasks.select.outputs.parameters.blessed}} == true",
        arguments={
            "model-version": "{{tasks.select.outputs.parameters.pushed-version}}",
            **passthrough("model-name", "model-repo", "priority-class", "serving-priority-class"),
        },
    )
    return DAG(name=WORKFLOW_NAME, tasks=[ingest, train, select, deploy])


def workflow_spec(parameters, priority):
    """What the Workflow and the CronWorkflow share."""
    return {
        "entrypoint": WORKFLOW_NAME,
        "templates": [main_dag()],
        "arguments": [Parameter(name=name, value=value) for name, value in parameters.items()],
        "service_account_name": k8s.PIPELINE_SERVICE_ACCOUNT,
        "security_context": m.PodSecurityContext.model_validate(k8s.pod_security_context()),
        "priority": priority,
        "pod_priority_class_name": workflow_param("priority-class"),
        "active_deadline_seconds": WORKFLOW_DEADLINE_SECONDS,
        "pod_gc": m.PodGC(strategy="OnWorkflowSuccess"),
        "ttl_strategy": m.TTLStrategy(seconds_after_success=7 * 24 * 3600, seconds_after_failure=14 * 24 * 3600),
        "labels": {"app.kubernetes.io/name": WORKFLOW_NAME, "app.kubernetes.io/part-of": "distml"},
    }


def workflow():
    return Workflow(generate_name=f"{WORKFLOW_NAME}-", **workflow_spec(PARAMETERS, WORKFLOW_PRIORITY))


def cron_workflow():
    return CronWorkflow(
        name=CRON_NAME,
        schedules=[CRON_SCHEDULE],
        timezone="UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        **workflow_spec({**PARAMETERS, **CRON_OVERRIDES}, CRON_PRIORITY),
    )

"""The `train-and-deploy` Workflow and its CronWorkflow, built from the template library.

    ingest (memoized) ──► train × model-types (TFJobs or TrainJobs, fan-out) ──► select (fan-in) ──► deploy-rollout (when blessed)

Every task runs a `distml-components` template through templateRef; this file adds only
the wiring, the run-scoped paths and the workflow-level scheduling settings. Every
parameter can be overridden with `argo submit -p NAME=VALUE`.
"""

import json

from hera.workflows import DAG, CronWorkflow, Parameter, Task, Workflow
from hera.workflows import models as m

from distml.components.common import k8s
from distml.components.select.spec import SPEC as SELECT
from distml.components.train.models import MODELS
from distml.components.train.spec import SPEC as TRAIN
from distml.pipelines.argo import dataset_key, library

WORKFLOW_NAME = "train-and-deploy"
CRON_NAME = "retrain-and-deploy"
CRON_SCHEDULE = "0 3 * * 1"  # Mondays 03:00: weekly retraining
MODEL_TYPES = list(MODELS)
WORKFLOW_PRIORITY = 10  # among workflows waiting for the controller; the cron run yields to it
CRON_PRIORITY = 0
WORKFLOW_DEADLINE_SECONDS = 6 * 3600
RUN_DIR = library.RUN_DIR

# What each task passes through from the workflow's parameters (the rest is wiring).
INGEST_PARAMETERS = (*dataset_key.DATA_PARAMETERS, "slim-image", "priority-class")
TRAIN_PARAMETERS = (
    *(n for n in library.argo_names(TRAIN) if n not in ("dataset-dir", "model-dir", "checkpoint-dir", "model-type")),
    "image",
    "slim-image",
    "priority-class",
    "queue",
)
SELECT_PARAMETERS = (
    *(n for n in library.argo_names(SELECT) if n not in ("dataset-dir", "candidates-dir", "output-dir")),
    "image",
    "priority-class",
)
DEPLOY_PARAMETERS = ("model-name", "model-repo", "priority-class", "serving-priority-class", "slim-image")

# Every parameter `argo submit -p` can set, with the library's defaults; the workflow runs
# at production priority (the library's default is batch, as the cron run keeps).
PARAMETERS = {
    **{
        name: library.DEFAULTS[name]
        for name in (*INGEST_PARAMETERS, *TRAIN_PARAMETERS, *SELECT_PARAMETERS, *DEPLOY_PARAMETERS)
    },
    "model-types": json.dumps(MODEL_TYPES),
    "priority-class": k8s.PRIORITY_PRODUCTION,
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
    ingest = component("ingest", arguments=passthrough(*INGEST_PARAMETERS))
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
            **passthrough(*TRAIN_PARAMETERS),
        },
    )
    # Fan-in: `depends: train` waits for every item; select evaluates every folder the
    # items wrote under candidates/.
    select = component(
        "select",
        depends="train",
        arguments={
            "dataset-dir": dataset_dir,
            "candidates-dir": f"{RUN_DIR}/candidates",
            "output-dir": f"{RUN_DIR}/selection",
            **passthrough(*SELECT_PARAMETERS),
        },
    )
    # deploy-rollout, not the `deploy` resource template: every scheduled run is an update,
    # whose status the resource template's condition may read before KServe has reconciled it.
    deploy = component(
        "deploy-rollout",
        task_name="deploy",
        depends="select",
        when="{{tasks.select.outputs.parameters.blessed}} == true",
        arguments={
            "model-version": "{{tasks.select.outputs.parameters.pushed-version}}",
            **passthrough(*DEPLOY_PARAMETERS),
        },
    )
    return DAG(name=WORKFLOW_NAME, tasks=[ingest, train, select, deploy])


def workflow_spec(parameters, priority):
    """What the Workflow and the CronWorkflow share."""
    return {
        "entrypoint": WORKFLOW_NAME,
        "templates": [main_dag()],
        "arguments": [
            Parameter(name=name, value=value, enum=library.ENUMS.get(name)) for name, value in parameters.items()
        ],
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

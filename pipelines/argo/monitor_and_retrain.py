"""The `monitor-and-retrain` CronWorkflow: close the loop on the cluster.

    monitor (distml monitor on KServe's request log) ──► train-and-deploy (only when it says retrain)

The monitor reads the CloudEvents KServe's inference logger sent for the served model
(stored as JSON lines under request-log-dir/<model-name>), compares them with the statistics of the
dataset the served model was trained on (found under the datasets volume by the
fingerprint in its model.json) and with its predictions on the held-out split, and writes
its report to the run's folder on the models volume. When it says retrain, the same run
continues with the train-and-deploy DAG, its select step told `--baseline latest`: the new
model must beat the one being served before it is pushed and deployed.

The retraining runs as a DAG of this workflow rather than as a Workflow this one creates:
the step pods' account (distml-pipeline) may not create Workflows (manifests/namespace/rbac.yaml,
least privilege), and one run then shows the decision and what it caused together.
"""

from hera.workflows import DAG, CronWorkflow, Task

from distml.components.monitor.spec import SPEC as MONITOR
from distml.pipelines.argo import library, train_and_deploy

CRON_NAME = "monitor-and-retrain"
ENTRYPOINT = "monitor-and-retrain"
CRON_SCHEDULE = "0 * * * *"  # hourly: a monitor run is cheap, and fewer than --min-samples requests decide nothing
# The monitor template's own inputs (from the monitor spec), as workflow parameters.
MONITOR_PARAMETERS = {name: library.DEFAULTS[name] for name in library.argo_names(MONITOR)}
# Everything train-and-deploy takes (it runs with the same workflow parameters), at batch
# priority, and with the served model as the baseline to beat.
PARAMETERS = {
    **train_and_deploy.PARAMETERS,
    **train_and_deploy.CRON_OVERRIDES,
    "baseline": "latest",
    **MONITOR_PARAMETERS,
}


def main_dag():
    monitor = train_and_deploy.component(
        "monitor", arguments=train_and_deploy.passthrough(*library.argo_names(MONITOR), "image", "priority-class")
    )
    retrain = Task(
        name="train-and-deploy",
        template=train_and_deploy.WORKFLOW_NAME,
        depends="monitor",
        when="{{tasks.monitor.outputs.parameters.retrain}} == true",
    )
    return DAG(name=ENTRYPOINT, tasks=[monitor, retrain])


def cron_workflow():
    spec = train_and_deploy.workflow_spec(PARAMETERS, train_and_deploy.CRON_PRIORITY)
    spec.update(
        entrypoint=ENTRYPOINT,
        templates=[main_dag(), train_and_deploy.main_dag()],
        labels={"app.kubernetes.io/name": CRON_NAME, "app.kubernetes.io/part-of": "distml"},
    )
    return CronWorkflow(
        name=CRON_NAME,
        schedules=[CRON_SCHEDULE],
        timezone="UTC",
        concurrency_policy="Forbid",  # a retraining still running holds the next monitor run back
        starting_deadline_seconds=600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        **spec,
    )

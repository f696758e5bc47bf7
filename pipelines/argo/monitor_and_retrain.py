"""The `monitor-and-retrain` CronWorkflow: close the loop on the cluster.

    monitor (distml monitor on KServe's request log) ──► train-and-deploy (only when it says retrain)

The monitor reads the CloudEvents KServe's inference logger sent for the served model
(stored as JSON lines under request-log-dir), compares them with the statistics of the
dataset the served model was trained on (found under the datasets volume by the
fingerprint in its model.json) and with its predictions on the held-out split, and writes
its report to the run's folder on the models volume. When it says retrain, the same run
continues with the train-and-deploy DAG, its select step told `--baseline latest`: the new
model must beat the one being served before it is pushed and deployed.

The retraining runs as a DAG of this workflow rather than as a Workflow this one creates:
the step pods' account (distml-pipeline) may not create Workflows (manifests/namespace/rbac.yaml,
least privilege), and one run then shows the decision and what it caused together.

TODO at merge (issue 15): the `monitor` template belongs in the distml-components library,
derived from the monitor component's spec like the others; it is defined here until then.
"""

from hera.workflows import DAG, Container, CronWorkflow, Parameter, Task

from distml.components.common import k8s
from distml.components.monitor import defaults
from distml.pipelines.argo import library, train_and_deploy

CRON_NAME = "monitor-and-retrain"
ENTRYPOINT = "monitor-and-retrain"
CRON_SCHEDULE = "0 * * * *"  # hourly: a monitor run is cheap, and fewer than --min-samples requests decide nothing
RUN_DIR = f"{k8s.MODELS_MOUNT}/runs/{{{{workflow.name}}}}"

MONITOR_PARAMETERS = {
    "request-log-dir": f"{k8s.MODELS_MOUNT}/request-logs",
    "psi-threshold": str(defaults.DEFAULT_PSI_THRESHOLD),
    "alpha": str(defaults.DEFAULT_ALPHA),
    "min-samples": str(defaults.DEFAULT_MIN_SAMPLES),
}
# Everything train-and-deploy takes (it runs with the same workflow parameters), at batch
# priority, and with the served model as the baseline to beat.
PARAMETERS = {
    **train_and_deploy.PARAMETERS,
    **train_and_deploy.CRON_OVERRIDES,
    "baseline": "latest",
    **MONITOR_PARAMETERS,
}


def monitor_template():
    names = (
        "model-name",
        "model-repo",
        "request-log-dir",
        "psi-threshold",
        "alpha",
        "min-samples",
        "image",
        "priority-class",
    )
    return Container(
        name="monitor",
        inputs=[Parameter(name=n, default=PARAMETERS[n]) for n in names],
        image=library.param("image"),
        command=["distml", "monitor"],
        args=[
            "--datasets-root",
            k8s.DATASETS_MOUNT,
            "--model-repo",
            f"{k8s.MODELS_MOUNT}/{library.param('model-repo')}",
            "--model-name",
            library.param("model-name"),
            "--request-log",
            f"{library.param('request-log-dir')}/{library.param('model-name')}",
            "--psi-threshold",
            library.param("psi-threshold"),
            "--alpha",
            library.param("alpha"),
            "--min-samples",
            library.param("min-samples"),
            "--output-dir",
            f"{RUN_DIR}/monitor",
            "--retrain-out",
            f"{library.OUTPUTS_DIR}/retrain",
        ],
        outputs=[library.output_file("retrain")],
        volumes=[library.datasets_volume(read_only=True), library.models_volume(), library.outputs_volume()],
        resources=library.resources("1", "2Gi"),
        security_context=library.container_security_context(),
        active_deadline_seconds="1800",
        retry_strategy=library.retry_transient(2),
        **library.pod_defaults(),
    )


def main_dag():
    monitor = Task(
        name="monitor",
        template="monitor",
        arguments=train_and_deploy.passthrough(
            "model-name", "model-repo", *MONITOR_PARAMETERS, "image", "priority-class"
        ),
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
        templates=[main_dag(), monitor_template(), train_and_deploy.main_dag()],
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

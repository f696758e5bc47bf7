"""The `distml-components` template library: one Argo template per component.

Any team's workflow runs a component through
`templateRef: {name: distml-components, template: <ingest|train|select|deploy>}`
(add `clusterScope: true` for the ClusterWorkflowTemplate). Every input is a typed
parameter with a default, so callers pass only what differs.

    ingest    DAG: dataset-key (the memoization key) -> ingest-data (memoized `distml ingest`
              into <datasets volume>/<fingerprint[:20]>, as the KFP pipeline does)
              outputs dataset-dir, cache-key, metadata
    train     DAG: picks the launcher (input `launcher`: tfjob or trainjob) with `when`:
                train-tfjob / train-tfjob-gpu  resource: creates a TFJob of N workers running
                  `distml train --launcher worker` (without / with GPUs), fails on its
                  Failed condition
                train-trainjob  `distml train --launcher trainjob`: a TrainJob on distml's
                  Trainer v2 runtime, owned by the step, deleted if the step is stopped
              each bounded by the GPU semaphore and train-deadline-seconds; outputs job-name
    select    `distml select` over every candidate in candidates-dir; outputs blessed,
              pushed-version
    deploy    resource: applies a KServe InferenceService, waits until the model is loaded;
              outputs url
    deploy-rollout  `distml deploy --target kserve`: generation-aware wait and rollback;
              outputs result
    monitor   `distml monitor` on the served model's request log, against the dataset it was
              trained on (found under the datasets volume); outputs retrain

A component template's inputs, their defaults and its command line come from the
component's spec.py; the TFJob and the InferenceService from the components' builders
(components/train/tfjob.py, components/deploy/manifest.py) given Argo placeholders; the
TrainJob from its builder (components/train/trainjob.py) when the launcher runs.
"""

from pathlib import Path

from hera.workflows import (
    DAG,
    ClusterWorkflowTemplate,
    Container,
    EmptyDirVolume,
    Env,
    ExistingVolume,
    Parameter,
    Resource,
    RetryStrategy,
    Script,
    Task,
    WorkflowTemplate,
)
from hera.workflows import models as m

from distml.components.common import k8s
from distml.components.common.owner import OWNER_FIELDS
from distml.components.common.params import ARGO, REQUIRED
from distml.components.deploy.manifest import build_inference_service, storage_uri_for
from distml.components.deploy.spec import SPEC as DEPLOY
from distml.components.ingest.spec import SPEC as INGEST
from distml.components.monitor.spec import SPEC as MONITOR
from distml.components.select.spec import SPEC as SELECT
from distml.components.train.config import config_from_values
from distml.components.train.spec import CLUSTER_LAUNCHERS
from distml.components.train.spec import SPEC as TRAIN
from distml.components.train.tfjob import TFJobOptions, tfjob_manifest
from distml.pipelines.argo import dataset_key
from distml.pipelines.argo.manifests import WORKFLOW_LABEL, argo_int, manifest_yaml

LIBRARY_NAME = "distml-components"
OUTPUTS_DIR = "/tmp/outputs"
MEMOIZE_MAX_AGE = "168h"
USAGE_ERROR_EXIT_CODE = 2  # distml's UsageError: retrying cannot help
RUN_DIR = f"{k8s.MODELS_MOUNT}/runs/{{{{workflow.name}}}}"  # a workflow run's folder on the models volume

# The library's own parameters (not one component's): images and scheduling.
LIBRARY_DEFAULTS = {
    "dataset-version": "1",
    "image": k8s.IMAGE,
    "slim-image": k8s.SLIM_IMAGE,
    "priority-class": k8s.PRIORITY_BATCH,
    "serving-priority-class": k8s.PRIORITY_PRODUCTION,  # the predictor outlives the (batch) workflow
    "queue": k8s.LOCAL_QUEUE,
}


def _defaults():
    """Every input's default: the library's, then each component's (its spec's cluster
    default). A name two components share must have one default."""
    defaults = dict(LIBRARY_DEFAULTS)
    for spec in (INGEST, TRAIN, SELECT, DEPLOY, MONITOR):
        for name, default in spec.argo_inputs():
            if default is REQUIRED:
                continue
            if defaults.setdefault(name, default) != default:
                raise ValueError(
                    f"parameter {name}: {spec.name} says {default!r}, another component {defaults[name]!r}"
                )
    return defaults


DEFAULTS = _defaults()


def argo_names(spec):
    return [p.argo for p in spec.on(ARGO)]


def param(name):
    return "{{inputs.parameters." + name + "}}"


def inputs(*names):
    """Input parameters with the shared defaults; a name without a default is required."""
    return [
        Parameter(name=n, default=DEFAULTS[n], enum=ENUMS.get(n)) if n in DEFAULTS else Parameter(name=n) for n in names
    ]


def output_file(name):
    return Parameter(name=name, value_from=m.ValueFrom(path=f"{OUTPUTS_DIR}/{name}"))


def pod_security_context():
    return m.PodSecurityContext.model_validate(k8s.pod_security_context())


def container_security_context():
    return m.SecurityContext.model_validate(k8s.container_security_context())


def resources(cpu, memory):
    return m.ResourceRequirements.model_validate(k8s.resources(cpu=cpu, memory=memory))


def outputs_volume():
    return EmptyDirVolume(name="outputs", mount_path=OUTPUTS_DIR)


def datasets_volume(read_only):
    return ExistingVolume(
        name="datasets", claim_name=k8s.DATASETS_PVC, mount_path=k8s.DATASETS_MOUNT, read_only=read_only
    )


def models_volume():
    return ExistingVolume(name="models", claim_name=k8s.MODELS_PVC, mount_path=k8s.MODELS_MOUNT)


def retry_transient(limit):
    """Retry failures that may pass (evictions, API or network hiccups), never a usage error."""
    return RetryStrategy(
        limit=str(limit),
        retry_policy="Always",
        expression=f"lastRetry.status == 'Error' || asInt(lastRetry.exitCode) != {USAGE_ERROR_EXIT_CODE}",
        backoff=m.Backoff(duration="30s", factor="2", max_duration="10m"),
    )


def pod_defaults():
    """What every pod-running template of the library sets, so callers inherit it."""
    return {
        "service_account_name": k8s.PIPELINE_SERVICE_ACCOUNT,
        "pod_security_context": pod_security_context(),
        "priority_class_name": param("priority-class"),
    }


def dataset_key_template():
    return Script(
        name="dataset-key",
        inputs=inputs(*dataset_key.DATA_PARAMETERS, "slim-image", "priority-class"),
        image=param("slim-image"),
        command=["python"],
        source=Path(dataset_key.__file__).read_text(),
        env=[Env(name=dataset_key.env_name(p), value=param(p)) for p in dataset_key.DATA_PARAMETERS],
        volumes=[datasets_volume(read_only=True), outputs_volume()],  # a folder dataset's files: the key
        outputs=[output_file("cache-key")],
        resources=resources("100m", "128Mi"),
        security_context=container_security_context(),
        active_deadline_seconds="300",
        retry_strategy=retry_transient(3),
        **pod_defaults(),
    )


def ingest_data_template():
    missing = set(argo_names(INGEST)) - set(dataset_key.DATA_PARAMETERS)
    if missing:  # a parameter that changes the data but not the key would reuse stale data
        raise ValueError(f"ingest parameters missing from the memoization key: {sorted(missing)}")
    return Container(
        name="ingest-data",
        inputs=inputs(*argo_names(INGEST), "image", "cache-key", "priority-class"),
        image=param("image"),
        command=["distml", "ingest"],
        # The same place as from KFP: <datasets volume>/<fingerprint[:20]>.
        args=INGEST.argo_args(
            param,
            fixed={
                "store_root": k8s.DATASETS_MOUNT,
                "metadata_out": f"{OUTPUTS_DIR}/metadata",
                "dataset_dir_out": f"{OUTPUTS_DIR}/dataset-dir",
            },
        ),
        # Argo memoizes outputs: on a hit the step is skipped and these are restored.
        outputs=[output_file("metadata"), output_file("dataset-dir")],
        memoize=m.Memoize(
            key=param("cache-key"),
            max_age=MEMOIZE_MAX_AGE,
            cache=m.Cache(config_map=m.LocalObjectReference(name=k8s.MEMOIZE_CACHE_CONFIGMAP)),
        ),
        volumes=[datasets_volume(read_only=False), outputs_volume()],
        resources=resources("1", "4Gi"),
        security_context=container_security_context(),
        active_deadline_seconds="3600",
        retry_strategy=retry_transient(2),
        **pod_defaults(),
    )


def ingest_template():
    data_params = dataset_key.DATA_PARAMETERS
    key_task = Task(
        name="dataset-key",
        template="dataset-key",
        arguments={p: param(p) for p in (*data_params, "slim-image", "priority-class")},
    )
    data_task = Task(
        name="ingest-data",
        template="ingest-data",
        depends="dataset-key",
        arguments={
            **{p: param(p) for p in (*argo_names(INGEST), "image", "priority-class")},
            "cache-key": "{{tasks.dataset-key.outputs.parameters.cache-key}}",
        },
    )
    return DAG(
        name="ingest",
        inputs=inputs(*data_params, "slim-image", "priority-class"),
        outputs=[
            Parameter(
                name="dataset-dir",
                value_from=m.ValueFrom(parameter="{{tasks.ingest-data.outputs.parameters.dataset-dir}}"),
            ),
            Parameter(
                name="cache-key", value_from=m.ValueFrom(parameter="{{tasks.dataset-key.outputs.parameters.cache-key}}")
            ),
            Parameter(
                name="metadata", value_from=m.ValueFrom(parameter="{{tasks.ingest-data.outputs.parameters.metadata}}")
            ),
        ],
        tasks=[key_task, data_task],
    )


# The launchers train's `launcher` input (and the workflows' parameter) accepts.
ENUMS = {"launcher": list(CLUSTER_LAUNCHERS)}
# One run id for every worker, every in-place restart and every retry of a train step (a
# UID is lowercase hex and '-', as --run-id requires): they all resume one run.
RUN_ID = "{{workflow.uid}}"
# The step outlives its job's own deadline by this much, so that the job's Failed condition
# (DeadlineExceeded) or the launcher's timeout, which say why, end it first.
STEP_DEADLINE_MARGIN_S = 600
NO_DEADLINE_S = 365 * 24 * 3600  # train-deadline-seconds 0: none (the workflow's own deadline still applies)


def _deadline_expression(margin):
    """train-deadline-seconds (+ margin) as an Argo expression; 0 stands for no limit."""
    seconds = 'asInt(inputs.parameters["' + TRAIN["timeout"].argo + '"])'
    bounded = f"{seconds} + {margin}" if margin else seconds
    return f"{{{{={seconds} > 0 ? {bounded} : {NO_DEADLINE_S}}}}}"


def tfjob_failed_condition():
    """The TFJob's Failed condition, as an Argo resource failureCondition.

    Resource conditions are Kubernetes label selectors evaluated over gjson paths
    (workflow/executor/resource.go): a key may hold only letters, digits, '-', '_' and '.', so
    an array is addressed by position, never by a query. The Training Operator (v1.9
    pkg/util/status.go) keeps one condition per type, appends each new one last and appends
    nothing after Failed, and there are at most five types at once (Created, Running or
    Restarting, Suspended, Succeeded, Failed): Failed is one of positions 0-4, and only ever
    written with status True. Argo fails the step when any requirement of a failureCondition
    matches (they are ORed; a successCondition's are ANDed: argo-workflows#11217), so this
    fires on a job failed by its backoff limit, its deadline or a failed worker alike."""
    return ", ".join(f"status.conditions.{i}.type == Failed" for i in range(5))


def leaf_inputs():
    """What train's leaves take: the component's Argo inputs but the launcher (train picks)."""
    return [n for n in argo_names(TRAIN) if n != "launcher"]


def train_config():
    """The train component's configuration with every value an Argo placeholder."""
    return config_from_values({**{p.name: param(p.argo) for p in TRAIN.on(ARGO)}, "run_id": RUN_ID})


def train_tfjob_template(gpus):
    """`train-tfjob` (no GPUs: no GPU request, toleration, node selector or /dev/shm) or
    `train-tfjob-gpu` (`gpus` GPUs per worker, the GPU image): a resource template that
    creates the TFJob, built by the one TFJob builder, and waits for it."""
    tfjob = tfjob_manifest(
        train_config(),
        argo_int("inputs.parameters.workers"),
        TFJobOptions(
            generate_name="{{workflow.name}}-train-",
            namespace="{{workflow.namespace}}",
            image=param("gpu-image") if gpus else param("image"),
            cpu=param("cpu"),
            memory=param("memory"),
            gpus=param("gpus") if gpus else 0,
            queue=param("queue"),
            priority_class=param("priority-class"),
            active_deadline_seconds=argo_int(_deadline_expression(0)[2:-2]),
            labels={WORKFLOW_LABEL: "{{workflow.name}}"},
        ),
    )
    return Resource(
        name="train-tfjob-gpu" if gpus else "train-tfjob",
        inputs=inputs(*leaf_inputs(), "image", "priority-class", "queue"),
        action="create",
        set_owner_reference=True,
        manifest=manifest_yaml(tfjob),
        # Every worker exits 0 when training completes (successPolicy AllWorkers).
        success_condition="status.replicaStatuses.Worker.succeeded = " + param("workers"),
        failure_condition=tfjob_failed_condition(),
        outputs=[Parameter(name="job-name", value_from=m.ValueFrom(json_path="{.metadata.name}"))],
        active_deadline_seconds=_deadline_expression(STEP_DEADLINE_MARGIN_S),
        synchronization=training_semaphore(),
        # A retry creates a new TFJob that resumes from the checkpoint in the same model-dir.
        retry_strategy=RetryStrategy(limit="1", retry_policy="Always", backoff=m.Backoff(duration="1m")),
        **pod_defaults(),
    )


def train_trainjob_template():
    """`train-trainjob`: `distml train --launcher trainjob` in a small step pod (the slim
    image: only the Kubernetes API). The launcher creates the TrainJob with the one TrainJob
    builder, owned by this pod (downward API), waits for its conditions, and deletes it on
    its --timeout or on SIGTERM (the step stopped or past its deadline)."""
    args = TRAIN.argo_args(
        param,
        fixed={
            "launcher": "trainjob",
            "run_id": RUN_ID,
            "namespace": "{{workflow.namespace}}",
            "image": param("image"),
            "queue": param("queue"),
            "priority_class": param("priority-class"),
            "metrics_out": f"{OUTPUTS_DIR}/metrics",
        },
    )
    return Container(
        name="train-trainjob",
        inputs=inputs(*leaf_inputs(), "image", "slim-image", "priority-class", "queue"),
        image=param("slim-image"),
        command=["distml", "train"],
        args=args,
        env=[
            m.EnvVar(name=name, value_from=m.EnvVarSource(field_ref=m.ObjectFieldSelector(field_path=path)))
            for name, path in OWNER_FIELDS.items()
        ],
        outputs=[output_file("metrics")],
        volumes=[outputs_volume()],
        resources=resources("100m", "256Mi"),
        security_context=container_security_context(),
        active_deadline_seconds=_deadline_expression(STEP_DEADLINE_MARGIN_S),
        synchronization=training_semaphore(),
        # A retry finds the TrainJob of the same run (same name): waits for it, or replaces a
        # failed one, which resumes from the run's checkpoints. Not after a usage error.
        retry_strategy=RetryStrategy(
            limit="1",
            retry_policy="Always",
            expression=f"lastRetry.status == 'Error' || asInt(lastRetry.exitCode) != {USAGE_ERROR_EXIT_CODE}",
            backoff=m.Backoff(duration="1m"),
        ),
        **pod_defaults(),
    )


def training_semaphore():
    """Held for the whole training: bounds how many trainings (and their GPUs) run at once."""
    return m.Synchronization(
        semaphores=[
            m.SemaphoreRef(
                config_map_key_ref=m.ConfigMapKeySelector(name=k8s.GPU_SEMAPHORE_CONFIGMAP, key=k8s.GPU_SEMAPHORE_KEY)
            ),
        ]
    )


# train's branches: (task, template, when). Exactly one runs for a launcher in CLUSTER_LAUNCHERS.
TRAIN_BRANCHES = (
    ("tfjob", "train-tfjob", "{{inputs.parameters.launcher}} == tfjob && {{inputs.parameters.gpus}} == 0"),
    ("tfjob-gpu", "train-tfjob-gpu", "{{inputs.parameters.launcher}} == tfjob && {{inputs.parameters.gpus}} > 0"),
    ("trainjob", "train-trainjob", "{{inputs.parameters.launcher}} == trainjob"),
)


def train_template():
    """`train`: picks the launcher (TFJob or TrainJob) and, for a TFJob, the CPU or GPU
    template, with `when` on the run-time values of `launcher` and `gpus`."""
    names = (*argo_names(TRAIN), "image", "slim-image", "priority-class", "queue")
    tasks = [
        Task(name=task, template=template, when=when, arguments={n: param(n) for n in template_inputs(template)})
        for task, template, when in TRAIN_BRANCHES
    ]
    job_name = (
        'inputs.parameters.launcher == "trainjob" '
        '? jsonpath(tasks.trainjob.outputs.parameters.metrics, "$.trainjob") '
        ": (asInt(inputs.parameters.gpus) > 0 "
        '? tasks["tfjob-gpu"].outputs.parameters["job-name"] '
        ': tasks.tfjob.outputs.parameters["job-name"])'
    )
    return DAG(
        name="train",
        inputs=inputs(*names),
        outputs=[Parameter(name="job-name", value_from=m.ValueFrom(expression=job_name))],
        tasks=tasks,
    )


def template_inputs(name):
    return [p.name for p in TRAIN_LEAVES[name]().inputs]


TRAIN_LEAVES = {
    "train-tfjob": lambda: train_tfjob_template(gpus=False),
    "train-tfjob-gpu": lambda: train_tfjob_template(gpus=True),
    "train-trainjob": train_trainjob_template,
}


def select_template():
    return Container(
        name="select",
        inputs=inputs(*argo_names(SELECT), "image", "priority-class"),
        image=param("image"),
        command=["distml", "select"],
        args=SELECT.argo_args(
            param,
            fixed={
                "models_root": k8s.MODELS_MOUNT,
                "blessed_out": f"{OUTPUTS_DIR}/blessed",
                "pushed_version_out": f"{OUTPUTS_DIR}/pushed-version",
            },
        ),
        outputs=[output_file("blessed"), output_file("pushed-version")],
        volumes=[datasets_volume(read_only=True), models_volume(), outputs_volume()],
        resources=resources("2", "4Gi"),
        security_context=container_security_context(),
        active_deadline_seconds="3600",
        retry_strategy=retry_transient(2),
        **pod_defaults(),
    )


def storage_uri():
    """The model's folder in the repository on the models volume, as KServe reads it."""
    return storage_uri_for(param("model-name"), param("model-repo"))


def deploy_template():
    isvc = build_inference_service(
        param("model-name"),
        namespace="{{workflow.namespace}}",
        storage_uri=storage_uri(),
        model_version=param("model-version"),
        priority_class=param("serving-priority-class"),
        labels={WORKFLOW_LABEL: "{{workflow.name}}"},
    )
    return Resource(
        name="deploy",
        inputs=[
            *inputs("model-name", "model-repo", "priority-class", "serving-priority-class"),
            Parameter(name="model-version"),
        ],
        action="apply",
        manifest=manifest_yaml(isvc),
        # Resource conditions are label selectors over status fields, so the Ready entry of
        # status.conditions cannot be addressed; modelStatus holds the same facts as plain
        # fields: UpToDate = the latest predictor revision took over, Loaded = it serves.
        success_condition="status.modelStatus.transitionStatus = UpToDate, status.modelStatus.states.activeModelState = Loaded",
        failure_condition="status.modelStatus.transitionStatus in (BlockedByFailedLoad, InvalidSpec)",
        outputs=[Parameter(name="url", value_from=m.ValueFrom(json_path="{.status.url}"))],
        timeout="30m",
        retry_strategy=RetryStrategy(limit="2", retry_policy="OnError", backoff=m.Backoff(duration="30s", factor="2")),
        **pod_defaults(),
    )


def deploy_rollout_template():
    """The alternative to `deploy` for updates: `distml deploy --target kserve` waits until KServe
    has reconciled the new generation (which a resource condition cannot express) and rolls
    back a rollout that does not become ready. Needs only the Kubernetes API: slim image."""
    return Container(
        name="deploy-rollout",
        inputs=[
            *inputs("model-name", "model-repo", "serving-priority-class", "slim-image", "priority-class"),
            Parameter(name="model-version"),
        ],  # what is being rolled out: no default
        image=param("slim-image"),
        command=["distml", "deploy"],
        args=DEPLOY.cli_args(
            {
                "target": "kserve",
                "model_name": param("model-name"),
                "model_version": param("model-version"),
                "namespace": "{{workflow.namespace}}",
                "storage_uri": storage_uri(),
                "priority_class": param("serving-priority-class"),
                "result_out": f"{OUTPUTS_DIR}/result",
            }
        ),
        outputs=[output_file("result")],
        volumes=[outputs_volume()],
        resources=resources("100m", "256Mi"),
        security_context=container_security_context(),
        active_deadline_seconds="1800",
        retry_strategy=retry_transient(2),
        **pod_defaults(),
    )


def monitor_template():
    return Container(
        name="monitor",
        inputs=inputs(*argo_names(MONITOR), "image", "priority-class"),
        image=param("image"),
        command=["distml", "monitor"],
        args=MONITOR.argo_args(
            param,
            fixed={
                "datasets_root": k8s.DATASETS_MOUNT,
                "models_root": k8s.MODELS_MOUNT,
                "request_log": f"{param(MONITOR['request_log_dir'].argo)}/{param(MONITOR['model_name'].argo)}",
                "output_dir": f"{RUN_DIR}/monitor",
                "retrain_out": f"{OUTPUTS_DIR}/retrain",
            },
        ),
        outputs=[output_file("retrain")],
        volumes=[datasets_volume(read_only=True), models_volume(), outputs_volume()],
        resources=resources("1", "2Gi"),
        security_context=container_security_context(),
        active_deadline_seconds="1800",
        retry_strategy=retry_transient(2),
        **pod_defaults(),
    )


def templates():
    return [
        ingest_template(),
        dataset_key_template(),
        ingest_data_template(),
        train_template(),
        *(build() for build in TRAIN_LEAVES.values()),
        select_template(),
        deploy_template(),
        deploy_rollout_template(),
        monitor_template(),
    ]


def _library_metadata():
    return {
        "labels": {"app.kubernetes.io/name": LIBRARY_NAME, "app.kubernetes.io/part-of": "distml"},
        "annotations": {
            "workflows.argoproj.io/description": "distml components: ingest, train (TFJob or TrainJob), select, deploy (KServe).",
        },
    }


def workflow_template():
    return WorkflowTemplate(name=LIBRARY_NAME, templates=templates(), **_library_metadata())


def cluster_workflow_template():
    return ClusterWorkflowTemplate(name=LIBRARY_NAME, templates=templates(), **_library_metadata())

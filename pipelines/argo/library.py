"""The `distml-components` template library: one Argo template per component.

Any team's workflow runs a component through
`templateRef: {name: distml-components, template: <ingest|train|select|deploy>}`
(add `clusterScope: true` for the ClusterWorkflowTemplate). Every input is a typed
parameter with a default, so callers pass only what differs.

    ingest    DAG: dataset-key (the memoization key) -> ingest-data (memoized `distml ingest`
              into <datasets volume>/<fingerprint[:20]>, as the KFP pipeline does)
              outputs dataset-dir, cache-key, metadata
    train     resource: creates a TFJob of N workers running `distml train --launcher worker`,
              waits for it; bounded by the GPU semaphore; outputs tfjob-name
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
(components/train/tfjob.py, components/deploy/manifest.py) given Argo placeholders.
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
from distml.components.common.params import ARGO, REQUIRED
from distml.components.deploy.manifest import build_inference_service, storage_uri_for
from distml.components.deploy.spec import SPEC as DEPLOY
from distml.components.ingest.spec import SPEC as INGEST
from distml.components.monitor.spec import SPEC as MONITOR
from distml.components.select.spec import SPEC as SELECT
from distml.components.train.config import config_from_values
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
    return [Parameter(name=n, default=DEFAULTS[n]) if n in DEFAULTS else Parameter(name=n) for n in names]


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


def train_template():
    # The worker command line and the TFJob come from the train component, given placeholders.
    # One run id for every worker, every in-place restart and every retry of this step
    # (a UID is lowercase hex and '-', as --run-id requires): they all resume one run.
    config = config_from_values({**{p.name: param(p.argo) for p in TRAIN.on(ARGO)}, "run_id": "{{workflow.uid}}"})
    tfjob = tfjob_manifest(
        config,
        argo_int("inputs.parameters.workers"),
        TFJobOptions(
            generate_name="{{workflow.name}}-train-",
            namespace="{{workflow.namespace}}",
            image=param("image"),
            cpu=param("cpu"),
            memory=param("memory"),
            gpus=param("gpus"),
            queue=param("queue"),
            priority_class=param("priority-class"),
            active_deadline_seconds=argo_int(f"inputs.parameters.{TRAIN['timeout'].argo}"),
            labels={WORKFLOW_LABEL: "{{workflow.name}}"},
        ),
    )
    return Resource(
        name="train",
        inputs=inputs(*argo_names(TRAIN), "image", "priority-class", "queue"),
        action="create",
        set_owner_reference=True,
        manifest=manifest_yaml(tfjob),
        # Every worker exits 0 when training completes (successPolicy AllWorkers).
        success_condition="status.replicaStatuses.Worker.succeeded = " + param("workers"),
        failure_condition="status.replicaStatuses.Worker.failed > 0",
        outputs=[Parameter(name="tfjob-name", value_from=m.ValueFrom(json_path="{.metadata.name}"))],
        # Held for the whole training: bounds how many trainings (and their GPUs) run at once.
        synchronization=m.Synchronization(
            semaphores=[
                m.SemaphoreRef(
                    config_map_key_ref=m.ConfigMapKeySelector(
                        name=k8s.GPU_SEMAPHORE_CONFIGMAP, key=k8s.GPU_SEMAPHORE_KEY
                    )
                ),
            ]
        ),
        # A retry creates a new TFJob that resumes from the checkpoint in the same model-dir.
        retry_strategy=RetryStrategy(limit="1", retry_policy="Always", backoff=m.Backoff(duration="1m")),
        **pod_defaults(),
    )


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
        select_template(),
        deploy_template(),
        deploy_rollout_template(),
        monitor_template(),
    ]


def _library_metadata():
    return {
        "labels": {"app.kubernetes.io/name": LIBRARY_NAME, "app.kubernetes.io/part-of": "distml"},
        "annotations": {
            "workflows.argoproj.io/description": "distml components: ingest, train (TFJob), select, deploy (KServe).",
        },
    }


def workflow_template():
    return WorkflowTemplate(name=LIBRARY_NAME, templates=templates(), **_library_metadata())


def cluster_workflow_template():
    return ClusterWorkflowTemplate(name=LIBRARY_NAME, templates=templates(), **_library_metadata())

"""The tfjob launcher: a Training Operator v1.9 `kubeflow.org/v1` TFJob running the same
`distml train --launcher worker` entrypoint in N worker pods.

`tfjob_manifest` builds the object as a plain dict (no TensorFlow, no Kubernetes client
needed). It is the only TFJob builder: the Argo train template embeds what it returns for
a config and options holding Argo placeholders (`{{inputs.parameters.x}}`) where a value
is known only when the workflow runs. `launch_tfjob` submits it with the Kubernetes
CustomObjectsApi, owned by the step's pod, waits, reporting replica status, and deletes it
when the wait ends early (timeout, SIGTERM, Ctrl-C): owned_job.py, shared with the TrainJob.

Restart policy OnFailure: a worker that dies (SIGKILL, OOM, preemption exit 42 after the
PreemptionCheckpointHandler saved a checkpoint) is restarted in its pod with the same
arguments, hence the same run id and checkpoint folder; `backoffLimit` bounds the restarts.
"""

import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

from distml.components.common import k8s
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.k8s import is_placeholder
from distml.components.train import owned_job
from distml.components.train.config import worker_command
from distml.components.train.spec import CLEAN_POD_POLICIES, DEFAULTS

log = logging.getLogger("distml")

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
CONTAINER_NAME = "tensorflow"  # the Training Operator's default container name
PORT_NAME, PORT = "tfjob-port", 2222  # the port the operator puts into TF_CONFIG
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
API = owned_job.JobAPI(GROUP, VERSION, PLURAL, KIND)


class TFJobFailed(owned_job.JobFailed):
    """The TFJob reached its Failed condition."""


@dataclass(frozen=True)
class TFJobOptions:
    """Where and how the workers run; any value may be an orchestrator placeholder."""

    image: str = DEFAULTS.image  # workers without GPUs (empty: k8s.IMAGE)
    gpu_image: str = DEFAULTS.gpu_image  # workers with GPUs
    namespace: str = DEFAULTS.namespace
    name: str = DEFAULTS.tfjob_name  # empty: train-<model type>-<run id>
    generate_name: str = ""  # instead of a name: the API server completes it (Argo)
    cpu: str = DEFAULTS.cpu
    memory: str = DEFAULTS.memory
    gpus: int | str = DEFAULTS.gpus  # per worker
    queue: str = DEFAULTS.queue  # Kueue LocalQueue, e.g. k8s.LOCAL_QUEUE
    priority_class: str = DEFAULTS.priority_class  # e.g. k8s.PRIORITY_BATCH
    backoff_limit: int = DEFAULTS.backoff_limit
    clean_pod_policy: str = DEFAULTS.clean_pod_policy
    ttl_seconds_after_finished: int | None = 86400
    active_deadline_seconds: int | str | None = None
    labels: dict = dataclasses.field(default_factory=dict)  # added to the job's and the pods' labels
    dry_run: bool = DEFAULTS.dry_run
    poll_interval_s: float = 10.0


def job_name(config):
    name = re.sub(r"[^a-z0-9-]+", "-", f"train-{config.model_type}-{config.run_id}".lower()).strip("-")
    return name[:63].rstrip("-")


def check_paths(config):
    """The pods see only the datasets and models PVCs: every path must live on them."""
    required = {
        "--dataset": (config.dataset_dir, k8s.DATASETS_MOUNT),
        "--model-dir": (config.model_dir, k8s.MODELS_MOUNT),
    }
    if config.checkpoint_dir:
        required["--checkpoint-dir"] = (config.checkpoint_dir, k8s.MODELS_MOUNT)
    for flag, (path, mount) in required.items():
        if "{{" in str(path):
            continue  # an Argo/KFP placeholder, resolved when the workflow runs
        if not PurePosixPath(path).is_relative_to(mount):
            raise UsageError(f"with a cluster launcher, {flag} must be under {mount} (the pods' volume), got {path}")


def tfjob_manifest(config, workers, options=TFJobOptions()):
    """The TFJob for `config` (a checked TrainConfig) on `workers` worker pods, as a dict.

    restartPolicy OnFailure restarts a crashed worker in place (same arguments, so same run
    id and checkpoints); successPolicy AllWorkers: every worker exits 0 when training is
    done, so a Failed worker means the job gave up.
    """
    if options.clean_pod_policy not in CLEAN_POD_POLICIES:
        raise UsageError(f"--clean-pod-policy must be one of {', '.join(CLEAN_POD_POLICIES)}")
    if options.backoff_limit < 0 or (not is_placeholder(options.gpus) and int(options.gpus) < 0):
        raise UsageError("--backoff-limit and --gpus must be 0 or more")
    check_paths(config)
    model_type = config.model_type if is_placeholder(config.model_type) else config.model_type.replace("_", "-")
    labels = {
        "app.kubernetes.io/name": "distml",
        "app.kubernetes.io/part-of": "distml",
        "app.kubernetes.io/component": "train",
        "distml.io/run-id": config.run_id,
        "distml.io/model-type": model_type,
        **options.labels,
    }
    container = {
        "name": CONTAINER_NAME,
        "image": k8s.image_for(options.gpus, options.image, options.gpu_image),
        "command": worker_command(config),
        "env": k8s.trainer_env(),
        "ports": [{"name": PORT_NAME, "containerPort": PORT}],
    }
    pod_spec = k8s.training_pod_spec(container, cpu=options.cpu, memory=options.memory, gpus=options.gpus)
    if options.priority_class:
        pod_spec["priorityClassName"] = options.priority_class
    run_policy = {"cleanPodPolicy": options.clean_pod_policy, "backoffLimit": options.backoff_limit}
    if options.ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = options.ttl_seconds_after_finished
    if options.active_deadline_seconds:
        run_policy["activeDeadlineSeconds"] = options.active_deadline_seconds
    scheduling = {
        key: value for key, value in (("priorityClass", options.priority_class), ("queue", options.queue)) if value
    }
    if scheduling:
        run_policy["schedulingPolicy"] = scheduling
    metadata = {
        "namespace": options.namespace,
        "labels": {**labels, **k8s.kueue_labels(options.queue, options.priority_class)},
    }
    if options.generate_name:
        metadata = {"generateName": options.generate_name, **metadata}
    else:
        metadata = {"name": options.name or job_name(config), **metadata}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "successPolicy": "AllWorkers",
            "runPolicy": run_policy,
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": workers,
                    "restartPolicy": "OnFailure",
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }


def launch_tfjob(config, workers, options=TFJobOptions(), timeout=None, environ=None):
    """Submit the TFJob owned by this pod and wait for it; return its status (and metrics if
    the model dir is visible here). The wait's timeout, SIGTERM and Ctrl-C delete it (owned_job.py).

    With `options.dry_run`, return {"manifest": ...} without contacting a cluster.
    """
    manifest = tfjob_manifest(config, workers, options)
    if options.dry_run:
        return {"manifest": manifest}
    custom, core = kubernetes_apis()
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    log.info("TFJob %s/%s: %d workers", namespace, name, workers)
    status = owned_job.run_owned(
        API,
        custom,
        core,
        manifest,
        lambda: wait_for_tfjob(custom, core, name, namespace, timeout=timeout, poll_interval_s=options.poll_interval_s),
        environ=environ,
    )
    result = {"tfjob": name, "namespace": namespace, "status": status, "model_dir": config.model_dir}
    from distml.components.train.config import completed_metrics

    metrics = completed_metrics(config)  # present when this process mounts the models volume too
    return {**metrics, **result} if metrics else result


def kubernetes_apis():
    from kubernetes import client

    k8s.load_client_config()
    return client.CustomObjectsApi(), client.CoreV1Api()


def condition(status):
    """The TFJob's current condition: the last one whose status is True."""
    current = [c for c in (status or {}).get("conditions", []) if c.get("status") == "True"]
    return current[-1] if current else {}


def replica_summary(status):
    parts = []
    for replica, counts in sorted((status or {}).get("replicaStatuses", {}).items()):
        parts.append(f"{replica}: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("active", "succeeded", "failed")))
    return "; ".join(parts) or "no replicas yet"


def wait_for_tfjob(custom, core, name, namespace, *, timeout=None, poll_interval_s=10.0):
    """Poll until Succeeded (return "Succeeded"); raise DistmlError on Failed or timeout."""
    deadline = time.monotonic() + timeout if timeout else None
    last_report = None
    while True:
        job = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status = job.get("status") or {}
        current = condition(status)
        report = f"TFJob {name}: {current.get('type', 'Pending')} ({replica_summary(status)})"
        if report != last_report:
            log.info("%s", report)
            last_report = report
        if current.get("type") == "Succeeded":
            return "Succeeded"
        if current.get("type") == "Failed":
            reasons = failed_pod_reasons(core, name, namespace)
            detail = current.get("message") or current.get("reason") or "failed"
            raise TFJobFailed(f"TFJob {namespace}/{name} failed: {detail}" + (f"; {reasons}" if reasons else ""))
        if deadline is not None and time.monotonic() > deadline:
            raise DistmlError(
                f"TFJob {namespace}/{name} did not finish within {timeout:.0f} s "
                f"({replica_summary(status)}); deleting it"
            )
        time.sleep(poll_interval_s)


def failed_pod_reasons(core, name, namespace, label_selector=None):
    """Why the job's pods failed, from their container states: '<pod>: <reason> (exit N): <message>'."""
    pods = core.list_namespaced_pod(namespace, label_selector=label_selector or f"{JOB_NAME_LABEL}={name}").items
    reasons = []
    for pod in pods:
        for cs in pod.status.container_statuses or []:
            state = cs.state.terminated if cs.state and cs.state.terminated else None
            if state is None and cs.last_state and cs.last_state.terminated:
                state = cs.last_state.terminated
            if state is not None and state.exit_code:
                message = f": {state.message.strip()}" if state.message else ""
                reasons.append(f"{pod.metadata.name}: {state.reason} (exit {state.exit_code}){message}")
            elif cs.state and cs.state.waiting and cs.state.waiting.reason not in (None, "ContainerCreating"):
                reasons.append(
                    f"{pod.metadata.name}: {cs.state.waiting.reason}: {cs.state.waiting.message or ''}".rstrip(": ")
                )
        if pod.status.phase == "Pending" and pod.status.reason:
            reasons.append(f"{pod.metadata.name}: {pod.status.reason}")
    return "; ".join(reasons)


def tfjob_options_from_args(args):
    return dataclasses.replace(
        TFJobOptions(),
        image=args.image,
        gpu_image=args.gpu_image,
        namespace=args.namespace,
        name=args.tfjob_name,
        cpu=args.cpu,
        memory=args.memory,
        gpus=args.gpus,
        queue=args.queue,
        priority_class=args.priority_class,
        backoff_limit=args.backoff_limit,
        clean_pod_policy=args.clean_pod_policy,
        dry_run=args.dry_run,
    )

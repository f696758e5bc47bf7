"""The trainjob launcher: a Kubeflow Trainer v2 TrainJob (`trainer.kubeflow.org/v1alpha1`)
on distml's TensorFlow runtime (trainer_runtime.py), running the same
`distml train --launcher worker` entrypoint in N worker pods.

`trainjob_manifest` builds the object as a plain dict (no Kubernetes client needed) and
accepts orchestrator placeholders (`{{inputs.parameters.workers}}`, ...) where a value is
known only at run time, so the Argo library can embed it in a resource template.
`launch_trainjob` creates it with the CustomObjectsApi, makes the calling pod its owner
(Kubernetes collects it with the step), waits for its Complete or Failed condition and
deletes it when the wait ends early (timeout, SIGTERM, Ctrl-C).

Only fields both the Trainer v2.2+ API and older v1alpha1 schemas share are used:
runtimeRef, trainer (image, command, args, env, numNodes, resourcesPerNode), metadata
labels (Kueue's queue and priority). Pod-level settings (security, volumes, GPU nodes)
live in the runtime.
"""

import dataclasses
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass

from distml.components.common import k8s, tf_config
from distml.components.common.errors import DistmlError, UsageError
from distml.components.train import owned_job, trainer_runtime
from distml.components.train.config import RUN_ID_PATTERN, WORKER_COMMAND, worker_args
from distml.components.train.spec import DEFAULTS, RUNTIME_KINDS
from distml.components.train.tfjob import check_paths, failed_pod_reasons, job_name

log = logging.getLogger("distml")

GROUP, VERSION, PLURAL, KIND = trainer_runtime.GROUP, trainer_runtime.VERSION, "trainjobs", "TrainJob"
# Condition types and reasons: kubeflow/trainer pkg/apis/trainer/v1alpha1/trainjob_types.go.
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
PLACEHOLDER = re.compile(r"\{\{.+?\}\}")


API = owned_job.JobAPI(GROUP, VERSION, PLURAL, KIND, failed_type=FAILED)


class TrainJobFailed(owned_job.JobFailed):
    """The TrainJob reached its Failed condition."""


@dataclass(frozen=True)
class TrainJobOptions:
    """Where and how the workers run; any value may be an orchestrator placeholder."""

    image: str = DEFAULTS.image  # workers without GPUs (empty: the runtime's, k8s.IMAGE)
    gpu_image: str = DEFAULTS.gpu_image  # workers with GPUs
    namespace: str = DEFAULTS.namespace
    name: str = DEFAULTS.trainjob_name  # empty: train-<model type>-<run id>
    runtime: str = DEFAULTS.runtime  # empty: distml-tensorflow, or distml-tensorflow-gpu with gpus
    runtime_kind: str = DEFAULTS.runtime_kind
    cpu: str = DEFAULTS.cpu
    memory: str = DEFAULTS.memory
    gpus: int | str = DEFAULTS.gpus  # per worker
    queue: str = DEFAULTS.queue  # Kueue LocalQueue, e.g. k8s.LOCAL_QUEUE; empty: none
    priority_class: str = DEFAULTS.priority_class  # Kueue WorkloadPriorityClass, e.g. k8s.PRIORITY_BATCH
    dry_run: bool = DEFAULTS.dry_run
    poll_interval_s: float = 10.0


def is_placeholder(value):
    return isinstance(value, str) and bool(PLACEHOLDER.search(value))


def checked_count(value, flag, minimum):
    """An int at least `minimum`, or a placeholder left as it is."""
    if is_placeholder(value):
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"{flag} must be at least {minimum}, got {number}")
    return number


def as_string(value):
    """An env value: a string, and for a placeholder only the placeholder (an orchestrator may
    mark an integer placeholder, e.g. to render numNodes unquoted; an env value stays quoted)."""
    return PLACEHOLDER.search(value)[0] if is_placeholder(value) else str(value)


def runtime_name(options):
    if options.runtime:
        return options.runtime
    if is_placeholder(options.gpus):
        raise UsageError("with --gpus given at run time, name the runtime (--runtime) too")
    return trainer_runtime.GPU_RUNTIME if int(options.gpus) else trainer_runtime.RUNTIME


def resources_per_node(options):
    """Requests and limits; a placeholder GPU count is requested as given (Argo resolves it)."""
    if is_placeholder(options.gpus):
        resources = k8s.resources(cpu=options.cpu, memory=options.memory)
        for part in resources.values():
            part[k8s.GPU_RESOURCE] = options.gpus
        return resources
    return k8s.resources(cpu=options.cpu, memory=options.memory, gpus=int(options.gpus))


def trainjob_manifest(config, workers, options=TrainJobOptions()):
    """The TrainJob for `config` (a checked TrainConfig) on `workers` worker pods, as a dict.

    `workers` and `options.gpus` may be placeholders; so may the config's paths and run id.
    """
    workers = checked_count(workers, "--workers", 1)
    gpus = checked_count(options.gpus, "--gpus", 0)
    if options.runtime_kind not in RUNTIME_KINDS:
        raise UsageError(f"--runtime-kind must be one of {', '.join(RUNTIME_KINDS)}")
    check_paths(config)
    options = dataclasses.replace(options, gpus=gpus)
    labels = {
        "app.kubernetes.io/name": "distml",
        "app.kubernetes.io/component": "train",
        "distml.io/run-id": config.run_id,
        "distml.io/model-type": config.model_type.replace("_", "-"),
    }
    trainer = {
        "command": WORKER_COMMAND,
        "args": worker_args(config),
        # Trainer gives plainML pods no node count: the workers read it here (see tf_config).
        "env": [{"name": tf_config.NUM_WORKERS, "value": as_string(workers)}],
        "numNodes": workers,
        "resourcesPerNode": resources_per_node(options),
    }
    image = options.gpu_image if not is_placeholder(gpus) and gpus > 0 else options.image
    if image:
        trainer["image"] = image
    name = options.name or default_name(config, workers)
    check_name(name, workers)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": {**labels, **k8s.kueue_labels(options.queue, options.priority_class)},
        },
        "spec": {
            "runtimeRef": {"name": runtime_name(options), "apiGroup": GROUP, "kind": options.runtime_kind},
            "trainer": trainer,
        },
    }


def longest_pod_name(name, workers):
    """JobSet's webhook measures `<name>-node-0-<last index>` plus a 5-character suffix."""
    last = 0 if is_placeholder(workers) else workers - 1
    return tf_config.jobset_hostname(name, trainer_runtime.NODE, 0, last) + "-abcde"


def default_name(config, workers):
    """train-<model type>-<run id>, shortened with a hash of it where JobSet's pod names would not fit."""
    name = job_name(config)
    excess = len(longest_pod_name(name, workers)) - 63
    if is_placeholder(name) or excess <= 0:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: len(name) - excess - 9].rstrip('-')}-{digest}"


def check_name(name, workers):
    """The TrainJob's name, as Trainer's CEL rule and JobSet's webhook check it: a DNS-1035
    label whose longest pod name (`<name>-node-0-<last index>-<5 random>`) fits 63 characters."""
    if is_placeholder(name):
        return
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        raise UsageError(f"TrainJob name {name!r} must be lowercase letters, digits and '-', starting with a letter")
    longest = longest_pod_name(name, workers)
    if len(longest) > 63:
        raise UsageError(
            f"TrainJob name {name!r} is too long: JobSet's pod names ({longest}) must fit 63 "
            f"characters; pass a shorter --trainjob-name or --run-id"
        )


def run_id_from_environment(environ=None):
    """A worker's run id when none was passed: the JobSet's (= TrainJob's) name, so every
    worker and every restart of one TrainJob shares its checkpoints."""
    environ = os.environ if environ is None else environ
    name = environ.get(tf_config.JOBSET_NAME, "")
    if not name:
        raise UsageError("--run-id is required outside a Trainer/JobSet pod")
    if RUN_ID_PATTERN.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:31].rstrip('-')}-{digest}"


# --- the launcher ------------------------------------------------------------------------


def launch_trainjob(config, workers, options=TrainJobOptions(), timeout=None):
    """Create the TrainJob and wait for it; return its status (and metrics if the model dir is visible here).

    With `options.dry_run`, return {"manifest": ...} without contacting a cluster.
    """
    manifest = trainjob_manifest(config, workers, options)
    if options.dry_run:
        return {"manifest": manifest}
    custom, core = kubernetes_apis()
    return run_trainjob(
        custom, core, manifest, timeout=timeout, poll_interval_s=options.poll_interval_s, model_config=config
    )


def kubernetes_apis():
    from kubernetes import client

    k8s.load_client_config()
    return client.CustomObjectsApi(), client.CoreV1Api()


def run_trainjob(custom, core, manifest, *, timeout=None, poll_interval_s=10.0, model_config=None, environ=None):
    """Create (or adopt) `manifest` owned by this pod, wait for it, delete it if the wait ends
    early (owned_job.py)."""
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    log.info(
        "TrainJob %s/%s: %s workers on runtime %s",
        namespace,
        name,
        manifest["spec"]["trainer"]["numNodes"],
        manifest["spec"]["runtimeRef"]["name"],
    )
    status = owned_job.run_owned(
        API,
        custom,
        core,
        manifest,
        lambda: wait_for_trainjob(custom, core, name, namespace, timeout=timeout, poll_interval_s=poll_interval_s),
        environ=environ,
    )
    result = {"trainjob": name, "namespace": namespace, "status": status}
    if model_config is None:
        return result
    from distml.components.train.config import completed_metrics

    metrics = completed_metrics(model_config)  # present when this process mounts the models volume too
    result["model_dir"] = model_config.model_dir
    return {**metrics, **result} if metrics else result


def true_condition(status, kind):
    """The condition of type `kind` if its status is True, else None."""
    for c in (status or {}).get("conditions", []):
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def jobs_summary(status):
    """`node: active 2, ready 2, succeeded 0, failed 0` from status.jobsStatus (one entry per replicatedJob)."""
    parts = []
    for job in (status or {}).get("jobsStatus", []):
        counts = ", ".join(f"{k} {job.get(k, 0)}" for k in ("active", "ready", "succeeded", "failed", "suspended"))
        parts.append(f"{job.get('name')}: {counts}")
    return "; ".join(parts) or "no jobs yet"


def state(status):
    """Complete, Failed, Suspended (waiting for Kueue's admission or a user), or Running."""
    for kind in (COMPLETE, FAILED, SUSPENDED):
        if true_condition(status, kind):
            return kind
    return "Running" if (status or {}).get("jobsStatus") else "Pending"


def wait_for_trainjob(custom, core, name, namespace, *, timeout=None, poll_interval_s=10.0):
    """Poll until Complete (return "Complete"); raise DistmlError on Failed or timeout."""
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout if timeout else None
    last_report = None
    while True:
        try:
            job = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as e:
            if e.status == 404:
                raise DistmlError(f"TrainJob {namespace}/{name} was deleted before it finished") from None
            raise DistmlError(f"could not read TrainJob {namespace}/{name}: {e.status} {e.reason}") from None
        status = job.get("status") or {}
        current = state(status)
        report = f"TrainJob {name}: {current} ({jobs_summary(status)})"
        if report != last_report:
            log.info("%s", report)
            last_report = report
        if current == COMPLETE:
            return COMPLETE
        if current == FAILED:
            failed = true_condition(status, FAILED)
            reasons = failed_pod_reasons(core, name, namespace, label_selector=f"{JOBSET_NAME_LABEL}={name}")
            detail = " ".join(filter(None, (failed.get("reason"), failed.get("message")))) or "failed"
            raise TrainJobFailed(f"TrainJob {namespace}/{name} failed: {detail}" + (f"; {reasons}" if reasons else ""))
        if deadline is not None and time.monotonic() > deadline:
            raise DistmlError(
                f"TrainJob {namespace}/{name} did not finish within {timeout:.0f} s "
                f"({current}: {jobs_summary(status)}); deleting it"
            )
        time.sleep(poll_interval_s)


JOBSET_NAME_LABEL = tf_config.JOBSET_ANNOTATIONS[tf_config.JOBSET_NAME]  # also a pod label; = the TrainJob's name


def trainjob_options_from_args(args):
    return dataclasses.replace(
        TrainJobOptions(),
        image=args.image,
        gpu_image=args.gpu_image,
        namespace=args.namespace,
        name=args.trainjob_name,
        runtime=args.runtime,
        runtime_kind=args.runtime_kind,
        cpu=args.cpu,
        memory=args.memory,
        gpus=args.gpus,
        queue=args.queue,
        priority_class=args.priority_class,
        dry_run=args.dry_run,
    )

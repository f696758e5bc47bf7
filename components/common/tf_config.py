"""TF_CONFIG as the Training Operator sets it for a TFJob, and as the local launcher mimics it.

    {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}

With no "chief" task, worker 0 is the chief (MultiWorkerMirroredStrategy's rule): it alone
writes the final model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from distml.components.common.errors import UsageError


def build(worker_addresses: Sequence[str], index: int, task_type: str = "worker") -> str:
    """The TF_CONFIG JSON string for task `index` of a worker-only cluster."""
    if not 0 <= index < len(worker_addresses):
        raise ValueError(f"task index {index} outside a cluster of {len(worker_addresses)} workers")
    return json.dumps({"cluster": {"worker": list(worker_addresses)}, "task": {"type": task_type, "index": index}})


@dataclass(frozen=True)
class TaskInfo:
    task_type: str
    index: int
    num_workers: int  # every task that trains: chief + workers
    is_chief: bool
    rank: int = 0  # position among the training tasks (chief first): the input pipeline id

    @property
    def name(self) -> str:
        return f"{self.task_type}-{self.index}"


SINGLE_WORKER = TaskInfo("worker", 0, 1, True)


def parse(text: str | None) -> TaskInfo:
    """TaskInfo from a TF_CONFIG string; an empty or missing one means a single worker."""
    if not text:
        return SINGLE_WORKER
    try:
        config = json.loads(text)
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
        task_type, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"TF_CONFIG is not valid: {e}: {text[:200]!r}") from None
    if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise UsageError(f"TF_CONFIG task {task_type}-{index} is not in its cluster {sorted(cluster)}")
    training_types = ("chief", "worker")
    num_workers = sum(len(cluster.get(t, [])) for t in training_types)
    if task_type == "chief":
        is_chief = True
    else:
        is_chief = task_type == "worker" and index == 0 and "chief" not in cluster
    rank = index + (1 if task_type == "worker" and "chief" in cluster else 0)
    return TaskInfo(task_type, index, num_workers, is_chief, rank)


def from_environment(environ: Mapping[str, str] | None = None) -> TaskInfo:
    return parse((environ if environ is not None else os.environ).get("TF_CONFIG", ""))


# --- TF_CONFIG derived from what JobSet and Kubeflow Trainer give a pod -------------------
#
# Kubeflow Trainer v2 runs a TrainJob as a JobSet whose trainer replicatedJob (label
# trainer.kubeflow.org/trainjob-ancestor-step: trainer) has one Job (Trainer forces
# replicas: 1) of numNodes pods, in Indexed completion mode. JobSet names the Job
# `<jobset>-<replicatedJob>-<jobIndex>` and sets the pods' subdomain to its headless
# Service (network.subdomain, default: the JobSet's name, which is the TrainJob's name);
# the Job controller makes each pod's hostname `<job>-<completion index>` and gives the
# container JOB_COMPLETION_INDEX. So worker i answers at
#     <jobset>-<replicatedJob>-<jobIndex>-<i>.<subdomain>
# (kubernetes-sigs/jobset pkg/util/placement GenPodName, pkg/controllers GetSubdomain;
# kubeflow/trainer's JAX plugin builds its coordinator address the same way). JobSet puts
# its names on every pod as annotations; the runtime passes them in through the downward
# API (`jobset_env`). Trainer's plainML policy gives the pod no node count, so the runtime
# sets DISTML_NUM_WORKERS beside numNodes, and a TrainJob that changes numNodes sets it too.

JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"  # set by the Job controller in Indexed mode
JOBSET_NAME = "DISTML_JOBSET_NAME"
REPLICATED_JOB = "DISTML_REPLICATED_JOB"
JOB_INDEX = "DISTML_JOB_INDEX"
SUBDOMAIN = "DISTML_SUBDOMAIN"  # optional: JobSet's network.subdomain when the runtime sets one
NUM_WORKERS = "DISTML_NUM_WORKERS"
WORKER_PORT = "DISTML_WORKER_PORT"
# Optional JSON {"<host>:<port>": "<address>"}: where a derived address is really served.
# For running JobSet's layout where its DNS names do not resolve (a localhost stand-in).
ADDRESS_MAP = "DISTML_ADDRESS_MAP"

RESTART_ATTEMPT = "DISTML_RESTART_ATTEMPT"  # how many times JobSet restarted the group

JOBSET_ANNOTATIONS = {  # kubernetes-sigs/jobset api/jobset/v1alpha2/jobset_types.go, pkg/constants
    JOBSET_NAME: "jobset.sigs.k8s.io/jobset-name",
    REPLICATED_JOB: "jobset.sigs.k8s.io/replicatedjob-name",
    JOB_INDEX: "jobset.sigs.k8s.io/job-index",
    RESTART_ATTEMPT: "jobset.sigs.k8s.io/restart-attempt",
}


def jobset_env(num_workers: int | str, port: int) -> list[dict[str, object]]:
    """The container env (Kubernetes API dicts) a runtime's worker needs for `from_jobset`."""
    env = [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{key}']"}}}
        for name, key in JOBSET_ANNOTATIONS.items()
    ]
    return env + [{"name": NUM_WORKERS, "value": str(num_workers)}, {"name": WORKER_PORT, "value": str(port)}]


def jobset_hostname(jobset: str, replicated_job: str, job_index: int | str, pod_index: int | str) -> str:
    """A pod's hostname as JobSet and the Job controller make it."""
    return f"{jobset}-{replicated_job}-{job_index}-{pod_index}"


def from_jobset(environ: Mapping[str, str]) -> str | None:
    """The TF_CONFIG string of this pod of a JobSet, or None when `environ` is not a JobSet pod's."""
    if JOB_COMPLETION_INDEX not in environ or JOBSET_NAME not in environ:
        return None
    missing = [name for name in (REPLICATED_JOB, JOB_INDEX, NUM_WORKERS, WORKER_PORT) if not environ.get(name)]
    if missing:
        raise UsageError(
            f"a JobSet pod without {', '.join(missing)}: the training runtime must set them (see manifests/trainer)"
        )
    try:
        index, num_workers = int(environ[JOB_COMPLETION_INDEX]), int(environ[NUM_WORKERS])
        job_index, port = int(environ[JOB_INDEX]), int(environ[WORKER_PORT])
    except ValueError as e:
        raise UsageError(f"JobSet environment is not numeric where it must be: {e}") from None
    if num_workers < 1:
        raise UsageError(f"{NUM_WORKERS} must be at least 1, got {num_workers}")
    if not 0 <= index < num_workers:
        raise UsageError(
            f"this pod has completion index {index} but {NUM_WORKERS} is {num_workers}: "
            f"a TrainJob that sets trainer.numNodes must set env {NUM_WORKERS} to the same number"
        )
    jobset, replicated_job = environ[JOBSET_NAME], environ[REPLICATED_JOB]
    subdomain = environ.get(SUBDOMAIN) or jobset
    addresses = [
        f"{jobset_hostname(jobset, replicated_job, job_index, i)}.{subdomain}:{port}" for i in range(num_workers)
    ]
    if environ.get(ADDRESS_MAP):
        try:
            mapping = json.loads(environ[ADDRESS_MAP])
            addresses = [mapping.get(a, a) for a in addresses]
        except (ValueError, AttributeError) as e:
            raise UsageError(f"{ADDRESS_MAP} is not a JSON object: {e}") from None
    return build(addresses, index)


def export_from_jobset(environ: MutableMapping[str, str] | None = None) -> TaskInfo:
    """Set TF_CONFIG from JobSet's env when it is absent; return the TaskInfo either way."""
    environ = os.environ if environ is None else environ
    if not environ.get("TF_CONFIG"):
        derived = from_jobset(environ)
        if derived is not None:
            environ["TF_CONFIG"] = derived  # MultiWorkerMirroredStrategy reads it from here
    return parse(environ.get("TF_CONFIG", ""))

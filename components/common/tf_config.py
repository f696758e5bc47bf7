"""TF_CONFIG as the Training Operator sets it for a TFJob, and as the local launcher mimics it.

    {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}

With no "chief" task, worker 0 is the chief (MultiWorkerMirroredStrategy's rule): it alone
writes the final model.
"""

import json
import os
from dataclasses import dataclass

from distml.components.common.errors import UsageError


def build(worker_addresses, index, task_type="worker"):
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
    def name(self):
        return f"{self.task_type}-{self.index}"


SINGLE_WORKER = TaskInfo("worker", 0, 1, True)


def parse(text):
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


def from_environment(environ=None):
    return parse((environ if environ is not None else os.environ).get("TF_CONFIG", ""))

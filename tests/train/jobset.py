"""What a TrainJob's worker pod gets from Kubeflow Trainer, JobSet, the Job controller and the
kubelet, computed from the runtime and the TrainJob as those controllers compute it:

- Trainer (kubeflow/trainer pkg/runtime/framework/plugins/jobset/builder.go `Trainer`):
  the TrainJob's image/command/args replace the runtime container's (the container named
  `node` in the replicatedJob labelled trainjob-ancestor-step: trainer), its env is
  upserted over the runtime's and resourcesPerNode becomes the container's resources;
  numNodes becomes the Job's parallelism/completions; the JobSet takes the TrainJob's name.
- JobSet (pkg/controllers/jobset_controller.go `labelAndAnnotateObject`): the
  jobset.sigs.k8s.io/* labels and annotations on every pod; the pods' subdomain is
  network.subdomain, else the JobSet's name (`GetSubdomain`); a restart (failurePolicy)
  recreates the Jobs with restart-attempt + 1.
- The Job controller (Indexed mode): pod hostname `<job>-<completion index>`, pod name
  `<job>-<completion index>-<random>`, the completion-index annotation and the
  JOB_COMPLETION_INDEX env var read from it (pkg/controller/job/indexed_job_utils.go).
- The kubelet: downward-API fieldRefs resolved, `$(VAR)` in command/args expanded
  (tests/containers/pods.py, shared with the container tests).
"""

import copy
import random

from distml.components.common import tf_config
from tests.containers import pods

ANCESTOR_LABEL, NODE = "trainer.kubeflow.org/trainjob-ancestor-step", "node"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_INDEX = 0  # Trainer forces the trainer replicatedJob to one Job
POD_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String for generateName


def pod_annotations(jobset, replicated_job, job_index, completion_index, restart_attempt=0):
    return {
        **jobset_labels(jobset, replicated_job, job_index, restart_attempt),
        COMPLETION_INDEX_ANNOTATION: str(completion_index),
    }


def jobset_labels(jobset, replicated_job, job_index, restart_attempt=0):
    return {
        "jobset.sigs.k8s.io/jobset-name": jobset,
        "jobset.sigs.k8s.io/replicatedjob-name": replicated_job,
        "jobset.sigs.k8s.io/job-index": str(job_index),
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/global-replicas": "1",
        "jobset.sigs.k8s.io/job-global-index": str(job_index),
        "jobset.sigs.k8s.io/restart-attempt": str(restart_attempt),
    }


def trainer_job(runtime, trainjob):
    """(replicatedJob name, numNodes, pod template) of the TrainJob's trainer Job: the
    runtime's pod template with the TrainJob's spec.trainer applied as Trainer applies it."""
    (rjob,) = [
        r
        for r in runtime["spec"]["template"]["spec"]["replicatedJobs"]
        if r["template"]["metadata"]["labels"].get(ANCESTOR_LABEL) == "trainer"
    ]
    template = copy.deepcopy(rjob["template"]["spec"]["template"])
    (container,) = [c for c in template["spec"]["containers"] if c["name"] == NODE]
    trainer = trainjob["spec"].get("trainer", {})
    for field in ("image", "command", "args"):
        if field in trainer:
            container[field] = trainer[field]
    env = {v["name"]: v for v in container.get("env", [])}
    env.update({v["name"]: v for v in trainer.get("env", [])})  # apply.UpsertEnvVars
    container["env"] = list(env.values())
    if "resourcesPerNode" in trainer:
        container["resources"] = trainer["resourcesPerNode"]
    return rjob["name"], trainer.get("numNodes", runtime["spec"]["mlPolicy"]["numNodes"]), template


def indexed_pod_spec(pod_spec, completion_index):
    """The pod spec the Job controller creates for one index: JOB_COMPLETION_INDEX added to
    every container, read from the completion-index annotation."""
    spec = copy.deepcopy(pod_spec)
    for container in spec["containers"]:
        if not any(v["name"] == tf_config.JOB_COMPLETION_INDEX for v in container.get("env", [])):
            field = f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
            container.setdefault("env", []).append(
                {"name": tf_config.JOB_COMPLETION_INDEX, "valueFrom": {"fieldRef": {"fieldPath": field}}}
            )
    return spec


def subdomain(runtime, jobset):
    return runtime["spec"]["template"]["spec"].get("network", {}).get("subdomain") or jobset


def pod_name(hostname):
    return f"{hostname}-{''.join(random.choices(POD_NAME_SUFFIX_CHARS, k=5))}"


def worker_pods(runtime, trainjob, restart_attempt=0):
    """[(hostname, argv, env)] of the TrainJob's worker pods."""
    replicated_job, num_nodes, template = trainer_job(runtime, trainjob)
    name = trainjob["metadata"]["name"]
    result = []
    for index in range(num_nodes):
        hostname = tf_config.jobset_hostname(name, replicated_job, JOB_INDEX, index)
        (container,) = indexed_pod_spec(template["spec"], index)["containers"]
        annotations = pod_annotations(name, replicated_job, JOB_INDEX, index, restart_attempt)
        env = pods.resolve_env(container, pod_name(hostname), "default", template["metadata"]["labels"], annotations)
        argv = [pods.expand(a, env) for a in [*container.get("command", []), *container.get("args", [])]]
        result.append((hostname, argv, env))
    return result

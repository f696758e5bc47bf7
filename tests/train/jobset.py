"""What a TrainJob's worker pod gets from Kubeflow Trainer, JobSet, the Job controller and the
kubelet, computed from the runtime and the TrainJob as those controllers compute it:

- Trainer (kubeflow/trainer pkg/runtime/framework/plugins/jobset/builder.go `Trainer`):
  the TrainJob's image/command/args replace the runtime container's (the container named
  `node` in the replicatedJob labelled trainjob-ancestor-step: trainer) and its env is
  upserted over the runtime's; numNodes becomes the Job's parallelism/completions; the
  JobSet takes the TrainJob's name.
- JobSet (pkg/controllers/jobset_controller.go `labelAndAnnotateObject`): the
  jobset.sigs.k8s.io/* annotations on every pod; restarts recreate the Jobs with
  restart-attempt + 1.
- The Job controller (Indexed mode): JOB_COMPLETION_INDEX and the completion-index annotation.
- The kubelet: downward-API fieldRefs resolved, `$(VAR)` in command/args expanded.
"""

import re


def pod_annotations(jobset, replicated_job, job_index, completion_index, restart_attempt=0):
    return {
        "jobset.sigs.k8s.io/jobset-name": jobset,
        "jobset.sigs.k8s.io/replicatedjob-name": replicated_job,
        "jobset.sigs.k8s.io/job-index": str(job_index),
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/global-replicas": "1",
        "jobset.sigs.k8s.io/job-global-index": str(job_index),
        "jobset.sigs.k8s.io/restart-attempt": str(restart_attempt),
        "batch.kubernetes.io/job-completion-index": str(completion_index),
    }


def resolve_env(env_vars, annotations, completion_index):
    """{name: value} the kubelet gives a container with `env_vars` in a pod with `annotations`."""
    env = {}
    for var in env_vars:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "fieldRef" in var.get("valueFrom", {}):
            key = re.fullmatch(r"metadata\.annotations\['(.+)'\]", var["valueFrom"]["fieldRef"]["fieldPath"])[1]
            env[var["name"]] = annotations[key]
        elif "resourceFieldRef" in var.get("valueFrom", {}):
            env[var["name"]] = "1"  # limits.cpu of a one-core stand-in
    env["JOB_COMPLETION_INDEX"] = str(completion_index)
    return env


def expand(text, env):
    """Kubernetes' $(VAR) expansion in command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), text)


def trainer_container(runtime):
    (rjob,) = [
        r
        for r in runtime["spec"]["template"]["spec"]["replicatedJobs"]
        if r["template"]["metadata"]["labels"].get("trainer.kubeflow.org/trainjob-ancestor-step") == "trainer"
    ]
    (container,) = [c for c in rjob["template"]["spec"]["template"]["spec"]["containers"] if c["name"] == "node"]
    return rjob["name"], container


def worker_pods(runtime, trainjob, restart_attempt=0):
    """[(hostname, argv, env)] of the TrainJob's worker pods."""
    replicated_job, container = trainer_container(runtime)
    trainer = trainjob["spec"].get("trainer", {})
    name = trainjob["metadata"]["name"]
    num_nodes = trainer.get("numNodes", runtime["spec"]["mlPolicy"]["numNodes"])
    env_vars = {v["name"]: v for v in container["env"]}
    env_vars.update({v["name"]: v for v in trainer.get("env", [])})  # apply.UpsertEnvVars
    command = trainer.get("command", container.get("command", []))
    args = trainer.get("args", container.get("args", []))
    pods = []
    for index in range(num_nodes):
        env = resolve_env(env_vars.values(), pod_annotations(name, replicated_job, 0, index, restart_attempt), index)
        pods.append((f"{name}-{replicated_job}-0-{index}", [expand(a, env) for a in [*command, *args]], env))
    return pods

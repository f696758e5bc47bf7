"""TF_CONFIG derived from what JobSet and Kubeflow Trainer give a pod.

The naming rules, from the upstream sources:
- kubernetes-sigs/jobset pkg/util/placement/placement.go GenJobName / GenPodName:
  job `<jobset>-<replicatedJob>-<jobIndex>`, pod hostname `<job>-<podIndex>`;
- jobset pkg/controllers/jobset_controller.go GetSubdomain: network.subdomain, else the
  JobSet's name; labelAndAnnotateObject: the jobset.sigs.k8s.io/* pod annotations;
- Kubernetes' Job controller: Indexed pods get JOB_COMPLETION_INDEX and the
  batch.kubernetes.io/job-completion-index annotation;
- kubeflow/trainer: the JobSet is named after the TrainJob, the trainer replicatedJob is
  `node` with replicas forced to 1 (plugins/jobset/builder.go), and the JAX plugin's
  coordinator address is `<trainJob>-node-0-0.<trainJob>:<port>` (plugins/jax/jax.go).
"""

import json
import re

import pytest

from distml.components.common import tf_config
from distml.components.common.errors import UsageError
from distml.components.train import trainer_runtime


def jobset_pod_annotations(jobset, replicated_job, job_index, completion_index):
    """A pod's annotations as JobSet's labelAndAnnotateObject and the Job controller set them."""
    return {
        "jobset.sigs.k8s.io/jobset-name": jobset,
        "jobset.sigs.k8s.io/replicatedjob-name": replicated_job,
        "jobset.sigs.k8s.io/job-index": str(job_index),
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/global-replicas": "1",
        "jobset.sigs.k8s.io/job-global-index": str(job_index),
        "batch.kubernetes.io/job-completion-index": str(completion_index),
    }


def downward_env(container, annotations, completion_index, trainjob_env=()):
    """The environment the kubelet gives `container`: literal values, fieldRefs to the pod's
    annotations resolved, the TrainJob's env upserted over the runtime's (Trainer's
    apply.UpsertEnvVars), JOB_COMPLETION_INDEX added by the Job controller."""
    env = {}
    for var in [*container["env"], *trainjob_env]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "fieldRef" in var.get("valueFrom", {}):
            key = re.fullmatch(r"metadata\.annotations\['(.+)'\]", var["valueFrom"]["fieldRef"]["fieldPath"])[1]
            env[var["name"]] = annotations[key]
    env["JOB_COMPLETION_INDEX"] = str(completion_index)
    return env


def test_every_pod_of_a_trainjob_derives_the_same_cluster_and_its_own_index():
    (container,) = trainer_runtime.runtime_manifest()["spec"]["template"]["spec"]["replicatedJobs"][0][
        "template"]["spec"]["template"]["spec"]["containers"]
    trainjob = "train-cnn-r1"
    configs = []
    for index in range(3):
        annotations = jobset_pod_annotations(trainjob, "node", 0, index)
        env = downward_env(container, annotations, index, [{"name": tf_config.NUM_WORKERS, "value": "3"}])
        configs.append(json.loads(tf_config.from_jobset(env)))
    expected = [f"train-cnn-r1-node-0-{i}.train-cnn-r1:2222" for i in range(3)]
    assert [c["cluster"] for c in configs] == [{"worker": expected}] * 3
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    # Worker 0 is Trainer's "first pod in the headless service" (its JAX coordinator).
    assert expected[0].rsplit(":", 1)[0] == f"{trainjob}-{trainer_runtime.NODE}-0-0.{trainjob}"
    assert tf_config.parse(json.dumps(configs[0])).is_chief


def test_the_runtime_default_worker_count_is_its_num_nodes():
    runtime = trainer_runtime.runtime_manifest(num_nodes=4)
    (container,) = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"]
    env = downward_env(container, jobset_pod_annotations("tj", "node", 0, 3), 3)
    assert json.loads(tf_config.from_jobset(env))["cluster"]["worker"][-1] == "tj-node-0-3.tj:2222"
    assert runtime["spec"]["mlPolicy"]["numNodes"] == 4


def base_env(**overrides):
    env = {"JOB_COMPLETION_INDEX": "1", tf_config.JOBSET_NAME: "js", tf_config.REPLICATED_JOB: "workers",
           tf_config.JOB_INDEX: "2", tf_config.NUM_WORKERS: "2", tf_config.WORKER_PORT: "5000"}
    return {**env, **overrides}


def test_replicated_job_job_index_and_subdomain_follow_jobset():
    cluster = json.loads(tf_config.from_jobset(base_env()))["cluster"]["worker"]
    assert cluster == ["js-workers-2-0.js:5000", "js-workers-2-1.js:5000"]
    cluster = json.loads(tf_config.from_jobset(base_env(**{tf_config.SUBDOMAIN: "net"})))["cluster"]["worker"]
    assert cluster == ["js-workers-2-0.net:5000", "js-workers-2-1.net:5000"]


def test_not_a_jobset_pod_derives_nothing_and_a_given_tf_config_wins():
    assert tf_config.from_jobset({}) is None
    assert tf_config.export_from_jobset({}) == tf_config.SINGLE_WORKER
    given = tf_config.build(["a:1", "b:1", "c:1"], 2)
    environ = {**base_env(), "TF_CONFIG": given}
    assert tf_config.export_from_jobset(environ).index == 2 and environ["TF_CONFIG"] == given
    environ = base_env()
    task = tf_config.export_from_jobset(environ)
    assert (task.index, task.num_workers, task.is_chief) == (1, 2, False)
    assert json.loads(environ["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}


def test_inconsistent_jobset_env_is_a_clear_usage_error():
    with pytest.raises(UsageError, match="completion index 2 but DISTML_NUM_WORKERS is 2.*numNodes"):
        tf_config.from_jobset(base_env(JOB_COMPLETION_INDEX="2"))
    with pytest.raises(UsageError, match="without DISTML_WORKER_PORT"):
        tf_config.from_jobset({k: v for k, v in base_env().items() if k != tf_config.WORKER_PORT})
    with pytest.raises(UsageError, match="not numeric"):
        tf_config.from_jobset(base_env(**{tf_config.NUM_WORKERS: "two"}))


def test_an_address_map_stands_in_for_cluster_dns():
    mapping = {"js-workers-2-0.js:5000": "127.0.0.1:41000", "js-workers-2-1.js:5000": "127.0.0.1:41001"}
    config = json.loads(tf_config.from_jobset(base_env(**{tf_config.ADDRESS_MAP: json.dumps(mapping)})))
    assert config["cluster"]["worker"] == ["127.0.0.1:41000", "127.0.0.1:41001"]

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

import pytest

from distml.components.common import tf_config
from distml.components.common.errors import UsageError
from distml.components.train import trainer_runtime
from distml.components.train.trainjob import trainjob_manifest
from tests.train import jobset


def test_every_pod_of_a_trainjob_derives_the_same_cluster_and_its_own_index():
    from tests.train.test_trainjob import CONFIG

    trainjob = trainjob_manifest(CONFIG, 3)
    name = trainjob["metadata"]["name"]
    pods = jobset.worker_pods(trainer_runtime.runtime_manifest(), trainjob)
    configs = [json.loads(tf_config.from_jobset(env)) for _, _, env in pods]
    expected = [f"{name}-node-0-{i}.{name}:2222" for i in range(3)]
    assert [c["cluster"] for c in configs] == [{"worker": expected}] * 3
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    # Each address is the pod's own hostname, and worker 0 is Trainer's "first pod in the
    # headless service" (its JAX coordinator address).
    assert [a.split(".")[0] for a in expected] == [hostname for hostname, _, _ in pods]
    assert expected[0].rsplit(":", 1)[0] == f"{name}-{trainer_runtime.NODE}-0-0.{name}"
    assert tf_config.parse(json.dumps(configs[0])).is_chief


def test_a_trainjob_naming_only_the_runtime_gets_its_defaults():
    trainjob = {"metadata": {"name": "tj"}, "spec": {"runtimeRef": {"name": trainer_runtime.RUNTIME}}}
    pods = jobset.worker_pods(trainer_runtime.runtime_manifest(num_nodes=4), trainjob, restart_attempt=2)
    _, argv, env = pods[3]
    assert json.loads(tf_config.from_jobset(env))["cluster"]["worker"][-1] == "tj-node-0-3.tj:2222"
    assert argv[argv.index("--model-dir") + 1] == "/mnt/models/trainjobs/tj"  # $(DISTML_JOBSET_NAME) expanded
    assert env[tf_config.RESTART_ATTEMPT] == "2"


def base_env(**overrides):
    env = {
        "JOB_COMPLETION_INDEX": "1",
        tf_config.JOBSET_NAME: "js",
        tf_config.REPLICATED_JOB: "workers",
        tf_config.JOB_INDEX: "2",
        tf_config.NUM_WORKERS: "2",
        tf_config.WORKER_PORT: "5000",
    }
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


def test_an_indexed_job_outside_a_jobset_derives_nothing():
    assert tf_config.from_jobset({tf_config.JOB_COMPLETION_INDEX: "0"}) is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({tf_config.NUM_WORKERS: "0", "JOB_COMPLETION_INDEX": "0"}, "DISTML_NUM_WORKERS must be at least 1, got 0"),
        ({"JOB_COMPLETION_INDEX": "-1"}, "completion index -1 but DISTML_NUM_WORKERS is 2"),
        ({"JOB_COMPLETION_INDEX": "5"}, "completion index 5 but DISTML_NUM_WORKERS is 2"),
        ({tf_config.ADDRESS_MAP: "{not json"}, "DISTML_ADDRESS_MAP is not a JSON object"),
        ({tf_config.ADDRESS_MAP: '["a", "b"]'}, "DISTML_ADDRESS_MAP is not a JSON object"),
    ],
)
def test_jobset_env_out_of_range_or_malformed_is_a_usage_error(overrides, message):
    with pytest.raises(UsageError, match=message):
        tf_config.from_jobset(base_env(**overrides))


def test_a_single_node_jobset_is_one_chief_worker():
    task = tf_config.parse(tf_config.from_jobset(base_env(**{tf_config.NUM_WORKERS: "1", "JOB_COMPLETION_INDEX": "0"})))
    assert task == tf_config.TaskInfo("worker", 0, 1, True, 0)

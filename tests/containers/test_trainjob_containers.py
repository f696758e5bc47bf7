"""The TrainJob `distml train --launcher trainjob` generates, on the runtime `distml compile`
generated (manifests/trainer), run as Kubeflow Trainer and JobSet run it
(tests/containers/trainjob.py): one container per pod of the JobSet, named, indexed and
reachable as JobSet names them, each deriving its TF_CONFIG from the environment the runtime
gives it. One worker is SIGKILLed after the first checkpoint: its Job fails, JobSet
recreates the group and the run resumes from the checkpoint to a saved model."""

import json

import pytest
import yaml

from distml.components.common import k8s, tf_config
from tests.conftest import REPO
from tests.containers import pods, training, trainjob
from tests.containers.engine import docker, inspect

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)

RUNTIMES = REPO / "manifests" / "trainer" / "cluster-training-runtimes.yaml"


def installed_runtime(runtime_ref):
    """The ClusterTrainingRuntime a TrainJob names, from the generated manifests."""
    (runtime,) = [
        doc
        for doc in yaml.safe_load_all(RUNTIMES.read_text())
        if doc["kind"] == runtime_ref["kind"] and doc["metadata"]["name"] == runtime_ref["name"]
    ]
    return runtime


def test_trainjob_pods_as_containers_resume_after_a_killed_worker(images, training_claims, network):
    manifest = training.generated_manifest("trainjob", "ctr-tj-kill")
    assert manifest["kind"] == "TrainJob" and manifest["spec"]["trainer"]["numNodes"] == training.WORKERS
    runtime = installed_runtime(manifest["spec"]["runtimeRef"])
    name, models = manifest["metadata"]["name"], training_claims[k8s.MODELS_PVC]

    job = trainjob.TrainJobRun(manifest, runtime, network=network.name, claims=training_claims, image=images["cpu"])
    job.start()
    victim = job.pods[1]
    config = inspect("container", victim)["Config"]
    assert config["Hostname"] == f"{name}-node-0-1" and victim.startswith(f"{name}-node-0-1-")
    env = dict(e.split("=", 1) for e in config["Env"])
    assert "TF_CONFIG" not in env and env[tf_config.JOB_COMPLETION_INDEX] == "1"
    assert json.loads(tf_config.from_jobset(env)) == {
        "cluster": {"worker": [f"{name}-node-0-{i}.{name}:2222" for i in range(training.WORKERS)]},
        "task": {"type": "worker", "index": 1},
    }

    running = lambda: all(pods.exit_state(n)[0] for n in job.pods)  # noqa: E731
    training.wait_for_first_checkpoint(models, running, job.logs)
    docker("kill", "--signal", "KILL", victim)

    status = job.wait(timeout=900)
    assert status == "Completed", f"{status}\n{job.events}\n{job.logs()}"
    assert job.restart_attempt == 1, job.events
    assert inspect("container", job.pods[1])["Config"]["Hostname"] == f"{name}-node-0-1"
    metrics = json.loads((models / training.MODEL_DIR / "metrics.json").read_text())
    assert metrics["attempt"] == 1 and metrics["resumed_from_step"] > 0, metrics
    assert metrics["num_workers"] == training.WORKERS and metrics["steps"] == metrics["total_steps"]
    assert (models / training.MODEL_DIR / "1" / "saved_model.pb").is_file()

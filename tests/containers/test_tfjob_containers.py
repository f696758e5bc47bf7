"""The TFJob `distml train --launcher tfjob` generates, run as the Training Operator runs it
(tests/containers/tfjob.py): one container per worker replica on an internal network, named
and addressed as the operator's pods and services, TF_CONFIG as the operator writes it, the
manifest's command, env, volumes and security context. One worker is SIGKILLed after the
first checkpoint: it restarts per the manifest's restart policy and the run resumes."""

import json
import shutil
import time

import pytest
import yaml

from distml.components.common import k8s
from tests.conftest import run_cli
from tests.containers import tfjob
from tests.containers.engine import Network, docker, fs_group_volume

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)

WORKERS = 2


def test_operator_tf_config_format():
    job = {
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": 2,
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "tensorflow", "ports": [{"name": "tfjob-port", "containerPort": 2222}]}
                            ]
                        }
                    },
                }
            }
        },
    }
    assert tfjob.operator_tf_config(job, "Worker", 1) == (
        '{"cluster":{"worker":["j-worker-0.ns.svc:2222","j-worker-1.ns.svc:2222"]},'
        '"task":{"type":"worker","index":1},"environment":"cloud"}'
    )


@pytest.fixture
def network():
    net = Network()
    yield net.name
    net.remove()


def generated_tfjob(run_id):
    """The manifest as a user gets it: `distml train --launcher tfjob --dry-run`."""
    out = run_cli(
        "train",
        "--launcher",
        "tfjob",
        "--dry-run",
        "--workers",
        WORKERS,
        "--dataset",
        f"{k8s.DATASETS_MOUNT}/digits",
        "--model-dir",
        f"{k8s.MODELS_MOUNT}/models/cnn",
        "--model-type",
        "cnn",
        "--epochs",
        "2",
        "--steps-per-epoch",
        "40",
        "--checkpoint-every",
        "10",
        "--batch-size",
        "32",
        "--run-id",
        run_id,
        "--cpu",
        "1",
        "--memory",
        "3Gi",
    ).stdout
    manifest = yaml.safe_load(out)
    return manifest.get("manifest", manifest)


def test_tfjob_workers_as_containers_survive_a_killed_worker(images, digits_dataset, tmp_path, network):
    manifest = generated_tfjob("ctr-kill")
    assert manifest["kind"] == "TFJob"
    worker_spec = manifest["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker_spec["replicas"] == WORKERS and worker_spec["restartPolicy"] == "OnFailure"
    datasets = tmp_path / "datasets"
    shutil.copytree(digits_dataset, datasets / "digits")
    claims = {
        k8s.DATASETS_PVC: fs_group_volume(datasets, k8s.RUN_AS_USER),
        k8s.MODELS_PVC: (models := fs_group_volume(tmp_path / "models", k8s.RUN_AS_USER)),
    }

    job = tfjob.TFJobRun(manifest, network=network, claims=claims, image=images["cpu"]).start()
    victim = tfjob.pod_name(job.name, "Worker", 1)
    env = dict(e.split("=", 1) for e in json.loads(docker("inspect", victim).stdout)[0]["Config"]["Env"])
    assert env["TF_CONFIG"] == tfjob.operator_tf_config(manifest, "Worker", 1)
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"  # the downward API: limits.cpu

    deadline = time.monotonic() + 600
    while not list(models.rglob("*.index")):  # the first checkpoint is on the volume
        assert time.monotonic() < deadline, "no checkpoint in 600 s:\n" + job.logs()
        assert all(tfjob.pods.exit_state(n)[0] for n in job.replicas), "a worker stopped early:\n" + job.logs()
        time.sleep(1)
    docker("kill", "--signal", "KILL", victim)

    status = job.wait(timeout=900)
    assert status == "Succeeded", f"{status}\n{job.events}\n{job.logs()}"
    assert job.restarts[victim] >= 1, job.events
    metrics = json.loads((models / "models" / "cnn" / "metrics.json").read_text())
    assert metrics["resumed_from_step"] > 0, metrics
    assert (models / "models" / "cnn" / "1" / "saved_model.pb").is_file()

"""The TFJob `distml train --launcher tfjob` generates, run as the Training Operator runs it
(tests/containers/tfjob.py): one container per worker replica on an internal network, named
and addressed as the operator's pods and services, TF_CONFIG as the operator writes it, the
manifest's command, env, volumes and security context. One worker is SIGKILLed after the
first checkpoint: it restarts per the manifest's restart policy and the run resumes."""

import json

import pytest

from distml.components.common import k8s
from tests.containers import tfjob, training
from tests.containers.engine import docker

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)


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


def test_tfjob_workers_as_containers_survive_a_killed_worker(images, training_claims, network):
    manifest = training.generated_manifest("tfjob", "ctr-kill")
    assert manifest["kind"] == "TFJob"
    worker_spec = manifest["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker_spec["replicas"] == training.WORKERS and worker_spec["restartPolicy"] == "OnFailure"
    models = training_claims[k8s.MODELS_PVC]

    job = tfjob.TFJobRun(manifest, network=network.name, claims=training_claims, image=images["cpu"]).start()
    victim = tfjob.pod_name(job.name, "Worker", 1)
    env = dict(e.split("=", 1) for e in json.loads(docker("inspect", victim).stdout)[0]["Config"]["Env"])
    assert env["TF_CONFIG"] == tfjob.operator_tf_config(manifest, "Worker", 1)
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"  # the downward API: limits.cpu

    running = lambda: all(tfjob.pods.exit_state(n)[0] for n in job.replicas)  # noqa: E731
    training.wait_for_first_checkpoint(models, running, job.logs)
    docker("kill", "--signal", "KILL", victim)

    status = job.wait(timeout=900)
    assert status == "Succeeded", f"{status}\n{job.events}\n{job.logs()}"
    assert job.restarts[victim] >= 1, job.events
    metrics = json.loads((models / training.MODEL_DIR / "metrics.json").read_text())
    assert metrics["resumed_from_step"] > 0, metrics
    assert (models / training.MODEL_DIR / "1" / "saved_model.pb").is_file()

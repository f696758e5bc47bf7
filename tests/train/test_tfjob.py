"""The tfjob launcher: the TFJob manifest (checked against the Training Operator v1.9 CRD) and the wait loop."""

import dataclasses
import subprocess
import sys

import pytest
import yaml
from kubernetes import client

from distml.components.common import k8s
from distml.components.common.errors import DistmlError, UsageError
from distml.components.train.config import TrainConfig, check
from distml.components.train.tfjob import TFJobOptions, tfjob_manifest, wait_for_tfjob
from tests.conftest import run_cli

CONFIG = check(TrainConfig(dataset_dir=f"{k8s.DATASETS_MOUNT}/digits", model_dir=f"{k8s.MODELS_MOUNT}/candidates/batch_norm",
                           model_type="batch_norm", epochs=4, run_id="r20250101-abc123"))
GPU = TFJobOptions(gpus=2, queue=k8s.LOCAL_QUEUE, priority_class=k8s.PRIORITY_PRODUCTION)


def test_gpu_tfjob_validates_against_the_crd(tmp_path, validate_manifests):
    path = tmp_path / "tfjob.yaml"
    path.write_text(yaml.safe_dump(tfjob_manifest(CONFIG, 4, GPU)))
    validate_manifests(path)


def test_gpu_tfjob_runs_the_worker_entrypoint_with_gpus_queue_and_priority():
    job = tfjob_manifest(CONFIG, 4, GPU)
    assert job["metadata"]["name"] == "train-batch-norm-r20250101-abc123"
    assert job["metadata"]["labels"][k8s.QUEUE_LABEL] == k8s.LOCAL_QUEUE
    assert job["metadata"]["labels"][k8s.PRIORITY_LABEL] == k8s.PRIORITY_PRODUCTION
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"priorityClass": k8s.PRIORITY_PRODUCTION, "queue": k8s.LOCAL_QUEUE}
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4 and worker["restartPolicy"] == "OnFailure"
    pod = worker["template"]["spec"]
    assert pod["priorityClassName"] == k8s.PRIORITY_PRODUCTION
    assert pod["serviceAccountName"] == k8s.TRAINER_SERVICE_ACCOUNT and pod["securityContext"] == k8s.pod_security_context()
    assert pod["nodeSelector"] == k8s.gpu_scheduling(2)["nodeSelector"]
    (container,) = pod["containers"]
    assert container["image"] == k8s.GPU_IMAGE
    assert container["resources"]["limits"][k8s.GPU_RESOURCE] == "2"
    assert container["command"][:4] == ["distml", "train", "--launcher", "worker"]
    assert "--run-id" in container["command"] and CONFIG.run_id in container["command"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {k8s.DATASETS_PVC, k8s.MODELS_PVC}


def test_cpu_tfjob_has_no_gpu_scheduling_or_kueue_labels():
    job = tfjob_manifest(CONFIG, 2)
    pod = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod and "priorityClassName" not in pod
    assert pod["containers"][0]["image"] == k8s.IMAGE
    assert k8s.QUEUE_LABEL not in job["metadata"]["labels"]


def test_worker_thread_pools_follow_the_container_cpu_limit():
    (container,) = tfjob_manifest(CONFIG, 2, TFJobOptions(cpu="3"))["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert container["resources"]["limits"]["cpu"] == "3"
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        assert env[name]["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}


def test_paths_outside_the_pod_volumes_are_refused():
    with pytest.raises(UsageError, match=f"--model-dir must be under {k8s.MODELS_MOUNT}"):
        tfjob_manifest(dataclasses.replace(CONFIG, model_dir="/home/me/model"), 2)


def test_cli_dry_run_prints_a_valid_manifest(tmp_path, validate_manifests):
    result = run_cli("train", "--launcher", "tfjob", "--dry-run", "--workers", 3, "--gpus", 1,
                     "--dataset", f"{k8s.DATASETS_MOUNT}/digits", "--model-dir", f"{k8s.MODELS_MOUNT}/m/cnn",
                     "--queue", k8s.LOCAL_QUEUE, "--priority-class", k8s.PRIORITY_BATCH)
    job = yaml.safe_load(result.stdout)
    assert job["kind"] == "TFJob" and job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 3
    (tmp_path / "job.yaml").write_text(result.stdout)
    validate_manifests(tmp_path / "job.yaml")


def test_launcher_modules_import_without_tensorflow():
    code = ("import sys, distml.components.train, distml.components.train.cli, distml.components.train.tfjob, "
            "distml.components.train.local; assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


class FakeTFJobs:
    """Stands in for a cluster (there is none here): returns TFJob statuses in turn."""

    def __init__(self, *statuses):
        self.statuses = list(statuses)

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        assert (group, version, plural) == ("kubeflow.org", "v1", "tfjobs")
        return {"status": self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]}


class FakePods:
    def __init__(self, *pods):
        self.pods = pods

    def list_namespaced_pod(self, namespace, label_selector):
        assert label_selector == "training.kubeflow.org/job-name=job"
        return client.V1PodList(items=list(self.pods))


def condition(kind):
    return {"conditions": [{"type": "Created", "status": "False"}, {"type": kind, "status": "True", "message": f"TFJob {kind}"}],
            "replicaStatuses": {"Worker": {"active": 2}}}


def test_wait_returns_on_success_and_reports_replicas(caplog):
    caplog.set_level("INFO", logger="distml")
    tfjobs = FakeTFJobs({}, condition("Running"), condition("Succeeded"))
    assert wait_for_tfjob(tfjobs, FakePods(), "job", "ns", poll_interval_s=0) == "Succeeded"
    assert "TFJob job: Running (Worker: active 2, succeeded 0, failed 0)" in caplog.text


def test_wait_names_the_failing_pods_reason():
    terminated = client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled"))
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="job-worker-1"), status=client.V1PodStatus(
        phase="Failed", container_statuses=[client.V1ContainerStatus(
            name="tensorflow", image="i", image_id="", ready=False, restart_count=3, state=terminated)]))
    with pytest.raises(DistmlError, match=r"TFJob ns/job failed: TFJob Failed; job-worker-1: OOMKilled \(exit 137\)"):
        wait_for_tfjob(FakeTFJobs(condition("Failed")), FakePods(pod), "job", "ns", poll_interval_s=0)


def test_wait_gives_up_after_the_timeout():
    with pytest.raises(DistmlError, match="did not finish within 0 s .* kubectl -n ns delete tfjob job"):
        wait_for_tfjob(FakeTFJobs(condition("Running")), FakePods(), "job", "ns", timeout=1e-9, poll_interval_s=0)

"""The tfjob launcher: the TFJob manifest (checked against the Training Operator v1.9 CRD) and the wait loop."""

import dataclasses
import subprocess
import sys
from http import HTTPStatus

import pytest
import yaml
from kubernetes import client

from distml.components.common import k8s
from distml.components.common.errors import DistmlError, UsageError
from distml.components.train.config import TrainConfig, check
from distml.components.train.tfjob import (
    TFJobOptions,
    condition,
    failed_pod_reasons,
    job_name,
    launch_tfjob,
    tfjob_manifest,
    wait_for_tfjob,
)
from tests.conftest import load_fixture, run_cli

CONFIG = check(
    TrainConfig(
        dataset_dir=f"{k8s.DATASETS_MOUNT}/digits",
        model_dir=f"{k8s.MODELS_MOUNT}/candidates/batch_norm",
        model_type="batch_norm",
        epochs=4,
        run_id="r20250101-abc123",
    )
)
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
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {
        "priorityClass": k8s.PRIORITY_PRODUCTION,
        "queue": k8s.LOCAL_QUEUE,
    }
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4 and worker["restartPolicy"] == "OnFailure"
    pod = worker["template"]["spec"]
    assert pod["priorityClassName"] == k8s.PRIORITY_PRODUCTION
    assert (
        pod["serviceAccountName"] == k8s.TRAINER_SERVICE_ACCOUNT
        and pod["securityContext"] == k8s.pod_security_context()
    )
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


def test_gpu_workers_run_the_gpu_image_even_when_the_cpu_image_is_named():
    # What the KFP pipeline passes: both images, always; the GPU count picks.
    pipeline = TFJobOptions(image="registry.example/distml:1", gpu_image="registry.example/distml:1-gpu")

    def image(options):
        return tfjob_manifest(CONFIG, 2, options)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][
            0
        ]["image"]

    assert image(dataclasses.replace(pipeline, gpus=1)) == "registry.example/distml:1-gpu"
    assert image(dataclasses.replace(pipeline, gpus=0)) == "registry.example/distml:1"
    assert image(TFJobOptions(image=k8s.IMAGE, gpus=1)) == k8s.GPU_IMAGE


def test_worker_thread_pools_follow_the_container_cpu_limit():
    (container,) = tfjob_manifest(CONFIG, 2, TFJobOptions(cpu="3"))["spec"]["tfReplicaSpecs"]["Worker"]["template"][
        "spec"
    ]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert container["resources"]["limits"]["cpu"] == "3"
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        assert env[name]["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}


def test_paths_outside_the_pod_volumes_are_refused():
    with pytest.raises(UsageError, match=f"--model-dir must be under {k8s.MODELS_MOUNT}"):
        tfjob_manifest(dataclasses.replace(CONFIG, model_dir="/home/me/model"), 2)


def test_cli_dry_run_prints_a_valid_manifest(tmp_path, validate_manifests):
    result = run_cli(
        "train",
        "--launcher",
        "tfjob",
        "--dry-run",
        "--workers",
        3,
        "--gpus",
        1,
        "--dataset",
        f"{k8s.DATASETS_MOUNT}/digits",
        "--model-dir",
        f"{k8s.MODELS_MOUNT}/m/cnn",
        "--queue",
        k8s.LOCAL_QUEUE,
        "--priority-class",
        k8s.PRIORITY_BATCH,
        "--image",
        "me/tf:1",
        "--gpu-image",
        "me/tf:1-gpu",
    )
    job = yaml.safe_load(result.stdout)
    assert job["kind"] == "TFJob" and job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 3
    assert job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["image"] == "me/tf:1-gpu"
    (tmp_path / "job.yaml").write_text(result.stdout)
    validate_manifests(tmp_path / "job.yaml")


def test_launcher_modules_import_without_tensorflow():
    code = (
        "import sys, distml.components.train, distml.components.train.cli, distml.components.train.tfjob, "
        "distml.components.train.local; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


STATUSES = load_fixture("tfjob/statuses.yaml")  # recorded from the Training Operator, see the file


class FakeTFJobs:
    """Stands in for a cluster (there is none here): returns recorded TFJob statuses in turn,
    and refuses to be polled long after the last one (a wait that never ends is a failure)."""

    def __init__(self, *phases):
        self.statuses = [STATUSES[p] for p in phases]
        self.polls = 0

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        assert (group, version, plural) == ("kubeflow.org", "v1", "tfjobs")
        self.polls += 1
        assert self.polls <= len(self.statuses) + 3, "still polling a TFJob whose status no longer changes"
        return {"status": self.statuses[min(self.polls, len(self.statuses)) - 1]}


class FakePods:
    def __init__(self, *pods):
        self.pods = pods

    def list_namespaced_pod(self, namespace, label_selector):
        assert label_selector == "training.kubeflow.org/job-name=job"
        return client.V1PodList(items=list(self.pods))


def test_wait_follows_the_real_condition_order_to_success(caplog):
    caplog.set_level("INFO", logger="distml")
    tfjobs = FakeTFJobs("created", "running", "restarting", "running", "succeeded")
    assert wait_for_tfjob(tfjobs, FakePods(), "job", "ns", poll_interval_s=0) == "Succeeded"
    assert tfjobs.polls == 5
    assert (
        "TFJob job: Running (PS: active 2, succeeded 0, failed 0; Worker: active 4, succeeded 0, failed 0)"
        in caplog.text
    )
    assert (
        "TFJob job: Restarting (PS: active 2, succeeded 0, failed 0; Worker: active 3, succeeded 0, failed 1)"
        in caplog.text
    )
    assert "TFJob job: Created (" in caplog.text


def test_current_condition_is_the_last_true_one():
    assert condition(STATUSES["succeeded"])["type"] == "Succeeded"  # Created stays True before it
    assert condition(STATUSES["failed"])["type"] == "Failed"
    assert condition(STATUSES["restarting"])["type"] == "Restarting"
    assert condition({}) == {} and condition(None) == {}


def test_wait_names_the_failing_pods_reason():
    terminated = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="job-worker-1"),
        status=client.V1PodStatus(
            phase="Failed",
            container_statuses=[
                client.V1ContainerStatus(
                    name="tensorflow", image="i", image_id="", ready=False, restart_count=3, state=terminated
                )
            ],
        ),
    )
    with pytest.raises(
        DistmlError,
        match=r"TFJob ns/job failed: TFJob kubeflow/dist-mnist-for-e2e-test has failed "
        r"because 1 Worker replica\(s\) failed.; job-worker-1: OOMKilled \(exit 137\)",
    ):
        wait_for_tfjob(FakeTFJobs("running", "failed"), FakePods(pod), "job", "ns", poll_interval_s=0)


def test_wait_gives_up_after_the_timeout():
    with pytest.raises(DistmlError, match=r"did not finish within 0 s .*; deleting it$"):
        wait_for_tfjob(FakeTFJobs("running"), FakePods(), "job", "ns", timeout=1e-9, poll_interval_s=0)


FAST = TFJobOptions(poll_interval_s=0.01)


def test_launch_creates_the_tfjob_and_waits_for_it(kube):
    job = tfjob_manifest(CONFIG, 2, FAST)
    lifecycle = ["created", "running", "succeeded"]
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=STATUSES[lifecycle[min(reads, 3) - 1]])
    result = launch_tfjob(CONFIG, 2, FAST, timeout=30)
    assert result == {
        "tfjob": job["metadata"]["name"],
        "namespace": "distml",
        "status": "Succeeded",
        "model_dir": CONFIG.model_dir,
    }
    verb, path, body = kube.requests[0]
    assert (verb, path) == ("create", "/apis/kubeflow.org/v1/namespaces/distml/tfjobs")
    assert body == job  # exactly the manifest --dry-run prints
    assert [r[0] for r in kube.requests] == ["create", "get", "get", "get"]


def test_launch_reports_a_failed_job_with_its_pods(kube):
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=STATUSES["failed"])
    kube.pods = [
        client.ApiClient().sanitize_for_serialization(
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="w-0"),
                status=client.V1PodStatus(phase="Pending", reason="Unschedulable"),
            )
        )
    ]
    with pytest.raises(
        DistmlError, match=r"failed: TFJob .* has failed because 1 Worker replica\(s\) failed.; w-0: Unschedulable"
    ):
        launch_tfjob(CONFIG, 2, FAST, timeout=30)
    selector = [r[2] for r in kube.requests if r[1].endswith("/pods")]
    assert selector == [{"labelSelector": f"training.kubeflow.org/job-name={job_name(CONFIG)}"}]


@pytest.mark.parametrize("code, reason", [(403, "Forbidden"), (422, "Invalid"), (500, "InternalError")])
def test_launch_turns_api_errors_into_one_line(kube, code, reason):
    kube.fail[("create", "tfjobs")] = (code, reason)
    phrase = HTTPStatus(code).phrase  # what ApiException.reason carries
    with pytest.raises(DistmlError, match=f"^could not create TFJob distml/{job_name(CONFIG)}: {code} {phrase}$"):
        launch_tfjob(CONFIG, 2, FAST)
    assert not any(r[0] == "get" for r in kube.requests)  # gave up at once


def test_launch_again_adopts_the_tfjob_of_the_same_run(kube):
    """A retried step (same run id, same name) waits for its TFJob instead of failing on 409."""
    kube.on_read["tfjobs"] = lambda obj, reads: obj.update(status=STATUSES["succeeded"])
    launch_tfjob(CONFIG, 2, FAST, timeout=30)
    assert launch_tfjob(CONFIG, 2, FAST, timeout=30)["status"] == "Succeeded"
    assert [r[0] for r in kube.requests] == ["create", "get", "create", "get", "get"]  # 409, adopted, waited


def test_launch_without_a_cluster_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "missing"))
    with pytest.raises(DistmlError, match="no Kubernetes configuration .*use --dry-run"):
        launch_tfjob(CONFIG, 2, FAST)


def test_volumes_datasets_read_only_and_shared_memory_only_for_gpus():
    def volumes(job):
        pod = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
        return {v["name"]: v for v in pod["volumes"]}, {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}

    gpu_volumes, gpu_mounts = volumes(tfjob_manifest(CONFIG, 2, GPU))
    assert (
        gpu_volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
        and gpu_mounts["dshm"]["mountPath"] == "/dev/shm"
    )
    cpu_volumes, cpu_mounts = volumes(tfjob_manifest(CONFIG, 2))
    assert "dshm" not in cpu_volumes and "dshm" not in cpu_mounts
    assert cpu_volumes["datasets"]["persistentVolumeClaim"] == {"claimName": k8s.DATASETS_PVC, "readOnly": True}
    assert cpu_mounts["datasets"]["readOnly"] is True and "readOnly" not in cpu_mounts["models"]


def test_backoff_limit_zero_is_allowed_negative_numbers_are_not():
    assert tfjob_manifest(CONFIG, 2, TFJobOptions(backoff_limit=0))["spec"]["runPolicy"]["backoffLimit"] == 0
    for bad in (TFJobOptions(backoff_limit=-1), TFJobOptions(gpus=-1)):
        with pytest.raises(UsageError, match="must be 0 or more"):
            tfjob_manifest(CONFIG, 2, bad)


def test_a_condition_not_true_is_never_current():
    status = {
        "conditions": [
            {"type": "Running", "status": "True"},
            {"type": "Failed", "status": "Unknown"},
            {"type": "Succeeded", "status": "False"},
        ]
    }
    assert condition(status)["type"] == "Running"


def test_run_policy_defaults_and_no_ttl_when_none():
    assert tfjob_manifest(CONFIG, 2)["spec"]["runPolicy"] == {
        "cleanPodPolicy": "Running",
        "backoffLimit": 3,
        "ttlSecondsAfterFinished": 86400,
    }
    keep = tfjob_manifest(CONFIG, 2, TFJobOptions(ttl_seconds_after_finished=None))["spec"]["runPolicy"]
    assert "ttlSecondsAfterFinished" not in keep


def test_the_workers_expose_the_port_the_operator_writes_into_tf_config():
    container = tfjob_manifest(CONFIG, 2)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222}]  # the operator's defaults


def test_worker_pods_get_no_service_account_token():
    pod_spec = tfjob_manifest(CONFIG, 2)["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is False


def test_options_are_immutable_as_the_shared_default_argument_must_be():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TFJobOptions().gpus = 1


def test_an_unchanged_status_is_logged_once(caplog):
    caplog.set_level("INFO", logger="distml")
    wait_for_tfjob(FakeTFJobs("running", "running", "running", "succeeded"), FakePods(), "job", "ns", poll_interval_s=0)
    assert caplog.text.count("TFJob job: Running (") == 1


def test_a_suspended_tfjob_is_waited_for_not_taken_as_done():
    # Training Operator >= 1.7 (JobSuspended): while runPolicy.suspend holds the job (e.g. Kueue
    # has not admitted it), Suspended follows Created as the last True condition.
    suspended = {
        "conditions": [
            {"type": "Created", "status": "True", "reason": "TFJobCreated"},
            {"type": "Suspended", "status": "True", "reason": "TFJobSuspended", "message": "TFJob job is suspended."},
        ]
    }

    class Suspended:
        def get_namespaced_custom_object(self, *args):
            return {"status": suspended}

    with pytest.raises(DistmlError, match="did not finish within"):
        wait_for_tfjob(Suspended(), FakePods(), "job", "ns", timeout=0.05, poll_interval_s=0.01)


def test_a_failure_without_a_message_is_reported_by_its_reason():
    failed = {"conditions": [{"type": "Failed", "status": "True", "reason": "TFJobFailed"}]}

    class Failed:
        def get_namespaced_custom_object(self, *args):
            return {"status": failed}

    with pytest.raises(DistmlError, match="^TFJob ns/job failed: TFJobFailed$"):
        wait_for_tfjob(Failed(), FakePods(), "job", "ns", poll_interval_s=0)


def container_status(state, last_state=None):
    return client.V1ContainerStatus(
        name="tensorflow", image="i", image_id="", ready=False, restart_count=1, state=state, last_state=last_state
    )


def pod(name, phase, *statuses, reason=None):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        status=client.V1PodStatus(phase=phase, reason=reason, container_statuses=list(statuses) or None),
    )


def test_failed_pod_reasons_come_from_the_last_termination_and_skip_healthy_pods():
    running = client.V1ContainerState(running=client.V1ContainerStateRunning())
    crash_loop = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff", message="back-off 20s")
    )
    oom = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled", message=" out of memory \n")
    )
    pods = FakePods(
        pod("job-worker-0", "Running", container_status(running)),
        pod("job-worker-1", "Running", container_status(crash_loop, last_state=oom)),
        pod("job-worker-2", "Pending"),  # just scheduled: no reason yet
        pod("job-worker-3", "Pending", reason="Unschedulable"),
    )
    assert failed_pod_reasons(pods, "job", "ns") == (
        "job-worker-1: OOMKilled (exit 137): out of memory; job-worker-3: Unschedulable"
    )


def test_an_image_pull_back_off_is_named_and_container_creating_is_not():
    pull = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason="ImagePullBackOff", message="Back-off pulling image")
    )
    creating = client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="ContainerCreating"))
    pods = FakePods(
        pod("job-worker-0", "Pending", container_status(pull)),
        pod("job-worker-1", "Pending", container_status(creating)),
    )
    assert failed_pod_reasons(pods, "job", "ns") == "job-worker-0: ImagePullBackOff: Back-off pulling image"


def test_the_timeout_counts_from_now():
    assert wait_for_tfjob(FakeTFJobs("running", "succeeded"), FakePods(), "job", "ns", timeout=0.9, poll_interval_s=0)


def test_a_placeholder_path_does_not_exempt_the_other_paths():
    config = dataclasses.replace(CONFIG, dataset_dir="{{inputs.parameters.dataset}}", model_dir="/tmp/model")
    with pytest.raises(UsageError, match="--model-dir must be under /mnt/models"):
        tfjob_manifest(config, 2)


def test_the_model_type_label_is_dashed_and_a_placeholder_is_kept_as_is():
    labels = lambda config: tfjob_manifest(config, 2)["metadata"]["labels"]["distml.io/model-type"]  # noqa: E731
    assert labels(dataclasses.replace(CONFIG, model_type="batch_norm")) == "batch-norm"
    placeholder = "{{inputs.parameters.model_type}}"
    assert labels(dataclasses.replace(CONFIG, model_type=placeholder)) == placeholder


def test_one_gpu_gets_the_gpu_image_and_shared_memory():
    job = tfjob_manifest(CONFIG, 2, TFJobOptions(gpus=1))
    pod_spec = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod_spec["containers"][0]["image"] == k8s.GPU_IMAGE
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod_spec["volumes"])

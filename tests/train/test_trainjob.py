"""The trainjob launcher and distml's Trainer v2 runtime: the objects against the Trainer
CRD schemas in ../shared, and create / wait / own / delete by the real kubernetes client
against the fake API server (tests/kube_api.py, the `kube` fixture)."""

import copy
import dataclasses
import os
import signal
from http import HTTPStatus

import pytest
import yaml

from distml.components.common import k8s, tf_config
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.processes import Terminated, raise_terminated
from distml.components.train import trainer_runtime
from distml.components.train.config import RUN_ID_PATTERN
from distml.components.train.trainjob import (
    GROUP,
    PLURAL,
    VERSION,
    TrainJobFailed,
    TrainJobOptions,
    kubernetes_apis,
    run_id_from_environment,
    run_trainjob,
    trainjob_manifest,
)
from distml.components.train.trainjob import state as trainjob_state
from tests.conftest import REPO, load_fixture, run_cli
from tests.train.cluster_config import CLUSTER_CONFIG

CONFIG = CLUSTER_CONFIG
GPU = TrainJobOptions(gpus=2, queue=k8s.LOCAL_QUEUE, priority_class=k8s.PRIORITY_PRODUCTION)
NAME = "train-cnn-r20260101-abc123"

STATUSES = load_fixture("trainjob/statuses.yaml")  # recorded from kubeflow/trainer, see the file
QUEUED, RUNNING, SUCCEEDED, FAILED_STATUS = (STATUSES[k] for k in ("queued", "running", "complete", "failed"))
IN_POD = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "train-step-pod", "POD_NAMESPACE": k8s.NAMESPACE}
STEP_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "train-step-pod", "namespace": k8s.NAMESPACE, "uid": "pod-uid-1"},
    "status": {"phase": "Running"},
}
KEY = (PLURAL, k8s.NAMESPACE, NAME)


def scripted(*statuses):
    """A controller that moves the TrainJob through `statuses`, one per read, then stays."""

    def controller(obj, reads):
        obj["status"] = copy.deepcopy(statuses[min(reads, len(statuses)) - 1])

    return controller


@pytest.fixture
def cluster(kube):
    """The fake API server with the step's pod in it."""
    kube.pods.append(STEP_POD)
    return kube


def run(manifest=None, environ=IN_POD, **kwargs):
    custom, core = kubernetes_apis()
    return run_trainjob(
        custom, core, manifest or trainjob_manifest(CONFIG, 2), poll_interval_s=0, environ=environ, **kwargs
    )


def verbs(kube):
    return [verb for verb, path, _ in kube.requests if f"/{PLURAL}" in path]


# --- the objects -------------------------------------------------------------------------


def test_runtimes_trainjobs_and_generated_files_validate_against_the_trainer_crds(tmp_path, validate_manifests):
    docs = [trainer_runtime.runtime_manifest(gpus=g, namespace=ns) for g in (False, True) for ns in (None, "team-a")]
    docs += [
        trainjob_manifest(CONFIG, 4, GPU),
        trainjob_manifest(CONFIG, 2),
        trainjob_manifest(CONFIG, 2, TrainJobOptions(runtime="my-tf", runtime_kind="TrainingRuntime", image="me/tf:1")),
    ]
    path = tmp_path / "trainer.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert "7 checked, 0 invalid, 0 not checked" in validate_manifests(path)
    assert "4 checked, 0 invalid" in validate_manifests(REPO / "manifests" / "trainer")


def test_the_runtime_is_shaped_as_trainer_s_own_runtimes():
    runtime = trainer_runtime.runtime_manifest()
    (rjob,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert rjob["name"] == "node" and rjob["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
    }
    assert set(runtime["spec"]["mlPolicy"]) == {"numNodes"}  # plainML: Trainer has no TensorFlow policy
    pod = rjob["template"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "node"  # where Trainer puts the TrainJob's image, command, args, env
    env = {e["name"]: e for e in container["env"]}
    assert env[tf_config.NUM_WORKERS]["value"] == str(runtime["spec"]["mlPolicy"]["numNodes"])
    assert env[tf_config.WORKER_PORT]["value"] == str(container["ports"][0]["containerPort"])
    # $(VAR) in args only expands vars the container defines
    assert "$(DISTML_JOBSET_NAME)" in " ".join(container["args"]) and tf_config.JOBSET_NAME in env
    assert pod["securityContext"] == k8s.pod_security_context() and pod["automountServiceAccountToken"] is False
    assert rjob["template"]["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    gpu_pod = trainer_runtime.runtime_manifest(gpus=True)["spec"]["template"]["spec"]["replicatedJobs"][0]["template"][
        "spec"
    ]["template"]["spec"]
    assert gpu_pod["tolerations"] and gpu_pod["containers"][0]["image"] == k8s.GPU_IMAGE
    assert "tolerations" not in pod and k8s.GPU_RESOURCE not in container["resources"]["limits"]


def test_gpu_trainjob_carries_workers_gpus_queue_and_priority():
    job = trainjob_manifest(CONFIG, 4, GPU)
    assert job["metadata"]["name"] == NAME
    assert job["metadata"]["labels"][k8s.QUEUE_LABEL] == k8s.LOCAL_QUEUE
    assert job["metadata"]["labels"][k8s.PRIORITY_LABEL] == k8s.PRIORITY_PRODUCTION
    assert job["spec"]["runtimeRef"] == {
        "name": trainer_runtime.GPU_RUNTIME,
        "apiGroup": GROUP,
        "kind": "ClusterTrainingRuntime",
    }
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 4 and {"name": tf_config.NUM_WORKERS, "value": "4"} in trainer["env"]
    assert trainer["resourcesPerNode"]["limits"][k8s.GPU_RESOURCE] == "2"
    assert trainer["command"] == ["distml", "train", "--launcher", "worker"]
    assert trainer["args"][trainer["args"].index("--run-id") + 1] == CONFIG.run_id
    assert "image" not in trainer  # the runtime's
    both = dataclasses.replace(GPU, image="me/tf:1", gpu_image="me/tf:1-gpu")  # what the KFP pipeline passes
    assert trainjob_manifest(CONFIG, 4, both)["spec"]["trainer"]["image"] == "me/tf:1-gpu"
    assert trainjob_manifest(CONFIG, 4, dataclasses.replace(both, gpus=0))["spec"]["trainer"]["image"] == "me/tf:1"
    cpu = trainjob_manifest(CONFIG, 2)
    assert cpu["spec"]["runtimeRef"]["name"] == trainer_runtime.RUNTIME
    assert k8s.QUEUE_LABEL not in cpu["metadata"]["labels"]
    assert k8s.GPU_RESOURCE not in cpu["spec"]["trainer"]["resourcesPerNode"]["limits"]


def test_argo_placeholders_pass_through_the_builder():
    config = dataclasses.replace(CONFIG, dataset_dir="{{inputs.parameters.dataset-dir}}", run_id="{{workflow.uid}}")
    options = TrainJobOptions(
        name="{{inputs.parameters.job-name}}",
        gpus="{{inputs.parameters.gpus}}",
        runtime="{{inputs.parameters.runtime}}",
        priority_class="{{workflow.parameters.priority}}",
    )
    job = trainjob_manifest(config, "{{inputs.parameters.workers}}", options)
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == "{{inputs.parameters.workers}}"
    assert trainer["env"] == [{"name": tf_config.NUM_WORKERS, "value": "{{inputs.parameters.workers}}"}]
    assert trainer["resourcesPerNode"]["limits"][k8s.GPU_RESOURCE] == "{{inputs.parameters.gpus}}"
    assert job["metadata"]["name"] == "{{inputs.parameters.job-name}}"
    assert "{{inputs.parameters.dataset-dir}}" in trainer["args"]
    # An integer placeholder marked for unquoted rendering (pipelines/argo/manifests.argo_int)
    # stays marked in numNodes; the env value is a string, the bare placeholder.
    marked = trainjob_manifest(config, "__argo_int__{{inputs.parameters.workers}}", options)["spec"]["trainer"]
    assert marked["numNodes"] == "__argo_int__{{inputs.parameters.workers}}"
    assert marked["env"][0]["value"] == "{{inputs.parameters.workers}}"
    with pytest.raises(UsageError, match="name the runtime"):
        trainjob_manifest(config, 2, TrainJobOptions(gpus="{{inputs.parameters.gpus}}"))


def test_bad_values_are_usage_errors():
    with pytest.raises(UsageError, match="--workers must be at least 1"):
        trainjob_manifest(CONFIG, 0)
    with pytest.raises(UsageError, match="--gpus must be a whole number"):
        trainjob_manifest(CONFIG, 2, TrainJobOptions(gpus="two"))
    with pytest.raises(UsageError, match="must be under /mnt/datasets"):
        trainjob_manifest(dataclasses.replace(CONFIG, dataset_dir="/tmp/data"), 2)
    # JobSet's webhook refuses pod names (<name>-node-0-<last index>-xxxxx) over 63 characters
    long_run = dataclasses.replace(CONFIG, run_id="r" * 38)
    assert trainjob_manifest(long_run, 10)["metadata"]["name"] == "train-cnn-" + "r" * 38  # 63 with -node-0-9-xxxxx
    shortened = trainjob_manifest(long_run, 11)["metadata"]["name"]  # the default name makes room
    assert len(shortened) == 47 and shortened.startswith("train-cnn-rrr")
    assert shortened != trainjob_manifest(dataclasses.replace(long_run, run_id="r" * 37 + "s"), 11)["metadata"]["name"]
    with pytest.raises(UsageError, match="too long: JobSet's pod names"):
        trainjob_manifest(long_run, 11, TrainJobOptions(name="train-cnn-" + "r" * 38))
    with pytest.raises(UsageError, match="must be lowercase"):
        trainjob_manifest(CONFIG, 2, TrainJobOptions(name="Train-CNN"))


def test_a_worker_without_run_id_takes_the_trainjob_s_name():
    assert run_id_from_environment({tf_config.JOBSET_NAME: "digits-cnn"}) == "digits-cnn"
    long_name = "a-trainjob-name-longer-than-forty-characters-x"
    run_id = run_id_from_environment({tf_config.JOBSET_NAME: long_name})
    assert RUN_ID_PATTERN.fullmatch(run_id) and run_id.startswith(long_name[:20])
    assert run_id != run_id_from_environment({tf_config.JOBSET_NAME: long_name + "y"})
    with pytest.raises(UsageError, match="--run-id is required"):
        run_id_from_environment({})


def test_dry_run_prints_the_trainjob():
    out = run_cli(
        "train",
        "--dataset",
        f"{k8s.DATASETS_MOUNT}/d",
        "--model-dir",
        f"{k8s.MODELS_MOUNT}/m",
        "--launcher",
        "trainjob",
        "--workers",
        "3",
        "--run-id",
        "r1",
        "--dry-run",
    ).stdout
    job = yaml.safe_load(out)
    assert job["kind"] == "TrainJob" and job["spec"]["trainer"]["numNodes"] == 3


# --- create, wait, own, delete -----------------------------------------------------------


def test_waits_through_kueue_suspension_to_complete_owned_by_the_step_pod(cluster):
    cluster.on_read[PLURAL] = scripted(QUEUED, QUEUED, RUNNING, SUCCEEDED)
    result = run()
    assert result["status"] == "Complete" and result["trainjob"] == NAME
    verb, path, body = next(r for r in cluster.requests if r[0] == "create")
    assert path == f"/apis/{GROUP}/{VERSION}/namespaces/{k8s.NAMESPACE}/{PLURAL}"
    assert body["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "train-step-pod",
            "uid": "pod-uid-1",
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    assert verbs(cluster) == ["create", "get", "get", "get", "get"]  # finished: nothing to clean up
    assert KEY in cluster.objects


def test_failed_trainjob_is_reported_with_its_reason_and_kept_for_its_logs(cluster):
    cluster.on_read[PLURAL] = scripted(RUNNING, FAILED_STATUS)
    cluster.pods.append(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{NAME}-node-0-1-x7k2p", "namespace": k8s.NAMESPACE},
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "node",
                        "image": k8s.IMAGE,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                    }
                ],
            },
        }
    )
    with pytest.raises(
        TrainJobFailed, match=r"failed: FailedJobs jobset failed .*node-0-1-x7k2p: OOMKilled \(exit 137\)"
    ):
        run()
    selector = [r[2] for r in cluster.requests if r[1].endswith("/pods")]
    assert selector == [{"labelSelector": f"jobset.sigs.k8s.io/jobset-name={NAME}"}]
    assert "delete" not in verbs(cluster) and KEY in cluster.objects


def test_timeout_deletes_the_trainjob_in_the_foreground(cluster):
    cluster.on_read[PLURAL] = scripted(QUEUED)
    with pytest.raises(DistmlError, match="did not finish within"):
        run(timeout=0.01)
    delete = [q for (verb, _, _), q in zip(cluster.requests, cluster.queries) if verb == "delete"]
    assert delete == [{"propagationPolicy": ["Foreground"]}]
    assert KEY not in cluster.objects


def test_sigterm_during_the_wait_deletes_the_trainjob(cluster):
    """SIGTERM (a cancelled KFP run or Argo step) arrives while the launcher waits."""

    def running_then_sigterm(obj, reads):
        obj["status"] = copy.deepcopy(RUNNING)
        if reads == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    cluster.on_read[PLURAL] = running_then_sigterm
    previous = signal.signal(signal.SIGTERM, raise_terminated)  # as distml's CLI installs it
    try:
        with pytest.raises(Terminated):
            run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert verbs(cluster)[-1] == "delete" and KEY not in cluster.objects


def test_a_retried_step_adopts_its_running_trainjob(cluster):
    existing = trainjob_manifest(CONFIG, 2)
    existing["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "old-pod", "uid": "old"}]
    cluster.objects[KEY] = existing
    cluster.on_read[PLURAL] = scripted(RUNNING, RUNNING, SUCCEEDED)
    assert run()["status"] == "Complete"
    assert [o["uid"] for o in cluster.objects[KEY]["metadata"]["ownerReferences"]] == ["old", "pod-uid-1"]
    assert verbs(cluster)[:3] == ["create", "get", "patch"]


def test_a_retried_step_replaces_its_failed_trainjob(cluster):
    failed = trainjob_manifest(CONFIG, 2)
    failed["status"] = FAILED_STATUS
    cluster.objects[KEY] = failed
    cluster.on_read[PLURAL] = lambda obj, reads: obj.setdefault("status", copy.deepcopy(SUCCEEDED))
    assert run()["status"] == "Complete"
    assert verbs(cluster)[:5] == ["create", "get", "delete", "get", "create"]  # 409, failed, gone, recreated


def test_a_trainjob_of_another_run_is_not_touched(cluster):
    other = trainjob_manifest(dataclasses.replace(CONFIG, run_id="someone-else"), 2, TrainJobOptions(name=NAME))
    cluster.objects[KEY] = other
    with pytest.raises(DistmlError, match="belongs to another run"):
        run()
    assert verbs(cluster) == ["create", "get"]


def test_no_owner_outside_a_pod_or_across_namespaces(cluster):
    cluster.on_read[PLURAL] = scripted(SUCCEEDED)
    run(environ={})
    run(trainjob_manifest(CONFIG, 2, TrainJobOptions(namespace="team-b")))
    assert all("ownerReferences" not in body["metadata"] for verb, _, body in cluster.requests if verb == "create")


@pytest.mark.parametrize("code, reason", [(403, "Forbidden"), (422, "Unprocessable Entity")])
def test_a_refused_create_is_one_clear_error(cluster, code, reason):
    cluster.fail[("create", PLURAL)] = (code, reason)
    with pytest.raises(DistmlError, match=f"^could not create TrainJob {k8s.NAMESPACE}/{NAME}: {code} {reason}$"):
        run()
    assert verbs(cluster) == ["create"]


def test_launch_creates_exactly_the_dry_run_manifest(cluster):
    from distml.components.train.trainjob import launch_trainjob

    cluster.on_read[PLURAL] = scripted(SUCCEEDED)
    result = launch_trainjob(CONFIG, 2, TrainJobOptions(poll_interval_s=0), timeout=30)
    assert result["status"] == "Complete" and result["model_dir"] == CONFIG.model_dir
    assert next(body for verb, _, body in cluster.requests if verb == "create") == trainjob_manifest(CONFIG, 2)


# --- rules the first mutation run showed untested (docs/testing.md) ------------------------


def test_options_are_immutable_as_the_shared_default_argument_must_be():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainJobOptions().gpus = 1


def test_one_gpu_gets_the_gpu_image_and_negative_gpus_are_refused():
    options = TrainJobOptions(gpus=1, image="cpu-image", gpu_image="gpu-image")
    manifest = trainjob_manifest(CONFIG, 2, options)
    assert manifest["spec"]["trainer"]["image"] == "gpu-image"
    with pytest.raises(UsageError, match="^--gpus must be at least 0, got -1$"):
        trainjob_manifest(CONFIG, 2, TrainJobOptions(gpus=-1))


def test_a_name_that_fits_with_a_placeholder_worker_count_is_accepted():
    # JobSet's longest pod name, <name>-node-0-<last index>-xxxxx: a placeholder count is measured as index 0
    name = "t" * (63 - len("-node-0-0-abcde"))
    workers = "{{inputs.parameters.workers}}"
    assert trainjob_manifest(CONFIG, workers, TrainJobOptions(name=name))["metadata"]["name"] == name
    with pytest.raises(UsageError, match="too long"):
        trainjob_manifest(CONFIG, workers, TrainJobOptions(name=name + "t"))


def test_a_long_jobset_name_becomes_a_run_id_of_at_most_40_characters():
    name = "digits-" + "x" * 60
    run_id = run_id_from_environment({tf_config.JOBSET_NAME: name})
    assert len(run_id) == 40 and RUN_ID_PATTERN.fullmatch(run_id)
    assert run_id.startswith(name[:31] + "-")
    assert run_id != run_id_from_environment({tf_config.JOBSET_NAME: name + "y"})


@pytest.mark.parametrize(
    "conditions",
    [
        [{"type": "Complete", "status": "False"}],
        [{"type": "Complete", "status": "Unknown"}],
        [{"type": "Failed", "status": "False"}, {"type": "Available", "status": "True"}],  # another type
    ],
)
def test_only_a_true_condition_of_its_own_type_ends_the_wait(conditions):
    assert trainjob_state({"conditions": conditions, "jobsStatus": RUNNING["jobsStatus"]}) == "Running"


@pytest.mark.parametrize(
    "code, message",
    [
        (404, f"^TrainJob {k8s.NAMESPACE}/{NAME} was deleted before it finished$"),
        (403, f"^could not read TrainJob {k8s.NAMESPACE}/{NAME}: 403 Forbidden$"),
        (500, f"^could not read TrainJob {k8s.NAMESPACE}/{NAME}: 500 Internal Server Error$"),
    ],
)
def test_a_read_error_during_the_wait_says_what_happened(cluster, code, message):
    cluster.on_read[PLURAL] = scripted(RUNNING)
    cluster.fail[("get", PLURAL)] = (code, HTTPStatus(code).phrase)
    with pytest.raises(DistmlError, match=message):
        run()


def test_each_new_status_is_logged_once_with_the_jobs_counts(cluster, caplog):
    caplog.set_level("INFO", logger="distml")
    partial = {"jobsStatus": [{"name": "node", "active": 2}]}  # counts the controller has not written are 0
    cluster.on_read[PLURAL] = scripted({}, {}, QUEUED, QUEUED, partial, partial, SUCCEEDED)
    run()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"TrainJob {NAME}:")]
    assert lines == [
        f"TrainJob {NAME}: Pending (no jobs yet)",
        f"TrainJob {NAME}: Suspended (node: active 0, ready 0, succeeded 0, failed 0, suspended 1)",
        f"TrainJob {NAME}: Running (node: active 2, ready 0, succeeded 0, failed 0, suspended 0)",
        f"TrainJob {NAME}: Complete (node: active 0, ready 0, succeeded 1, failed 0, suspended 0)",
    ]


def test_the_timeout_counts_from_now(cluster):
    cluster.on_read[PLURAL] = scripted(RUNNING, RUNNING, SUCCEEDED)
    assert run(timeout=30)["status"] == "Complete"

"""The KFP pipeline's train step with either cluster launcher, as the compiled pipeline runs it:
the step's inputs bound from the run parameters (defaults, with `launcher` and `gpus` set
as a run sets them), its pod's identity from the downward API, the real kubernetes client
against the fake API server (tests/kube_api.py). The TrainJob it creates carries what the
TFJob carries (Kueue queue and priority, GPUs, the workers' security settings, the step's
pod as owner) and both validate against the CRD schemas in ../shared.

The volumes are folders here (k8s.DATASETS_MOUNT / MODELS_MOUNT point at them), and the
controller stands in for the job's pods: on the first read it trains the job's own worker
arguments with `distml train --launcher in-process` and reports the job complete."""

import shutil

import pytest
import yaml

from distml.components.common import k8s
from distml.components.train import trainer_runtime
from distml.components.train.pipeline_step import train_step
from distml.pipelines.kfp.compile import COMPILED_PIPELINE
from tests.conftest import REPO, load_fixture, run_cli

POD = {"POD_NAME": "train-and-deploy-abc12-train-pod", "POD_NAMESPACE": k8s.NAMESPACE, "POD_UID": "uid-step-pod"}
OWNER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "name": POD["POD_NAME"],
    "uid": POD["POD_UID"],
    "controller": False,
    "blockOwnerDeletion": False,
}
# What a run sets (the rest are the pipeline's defaults); few steps: the training is real.
RUN = {"gpus": 1, "epochs": 1, "steps_per_epoch": 2}
ARTIFACT_URI = "minio://mlpipeline/v2/artifacts/train-and-deploy/run-1/train/model"
COMPLETE = {"trainjobs": load_fixture("trainjob/statuses.yaml")["complete"]}
COMPLETE["tfjobs"] = load_fixture("tfjob/statuses.yaml")["succeeded"]
CASTS = {"NUMBER_INTEGER": int, "NUMBER_DOUBLE": float}


def step_inputs(**run):
    """The train step's parameters as KFP binds them in the compiled pipeline: the component's
    defaults, overridden by what its task binds, through the fan-out loop, to the run's
    parameters (their defaults updated with `run`); the loop item is the first model type."""
    spec = next(yaml.safe_load_all((REPO / COMPILED_PIPELINE).read_text()))
    root = {name: p.get("defaultValue") for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}
    root.update(run)
    loop = spec["root"]["dag"]["tasks"]["for-loop-1"]["inputs"]["parameters"]
    channels = {name: root[b["componentInputParameter"]] for name, b in loop.items()}
    channels["pipelinechannel--model_types-loop-item"] = root["model_types"][0]
    declared = spec["components"]["comp-train"]["inputDefinitions"]["parameters"]
    values = {name: p.get("defaultValue") for name, p in declared.items()}
    task = spec["components"]["comp-for-loop-1"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    values.update({name: channels[b["componentInputParameter"]] for name, b in task.items() if name in declared})
    return {name: CASTS.get(declared[name]["parameterType"], str)(value) for name, value in values.items()}


def worker_arguments(job):
    """The `distml train` arguments the job gives each worker (after `--launcher worker`)."""
    if job["kind"] == "TrainJob":
        return job["spec"]["trainer"]["args"]
    (container,) = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    assert container["command"][:4] == trainer_runtime.WORKER_COMMAND
    return container["command"][4:]


def workers_then_complete(plural):
    def controller(obj, reads):
        if reads == 1:
            run_cli("train", "--launcher", "in-process", *worker_arguments(obj))
            obj["status"] = COMPLETE[plural]

    return controller


@pytest.fixture
def volumes(tmp_path, digits_dataset, monkeypatch):
    """The datasets volume (holding the ingested digits) and an empty models volume."""
    models = tmp_path / "models"
    monkeypatch.setattr(k8s, "DATASETS_MOUNT", str(digits_dataset.parent))
    monkeypatch.setattr(k8s, "MODELS_MOUNT", str(models))
    return digits_dataset, models


def run_step(kube, monkeypatch, tmp_path, volumes, launcher):
    dataset, models = volumes
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # in a pod (no in-cluster config: the kubeconfig)
    for name, value in POD.items():
        monkeypatch.setenv(name, value)
    for plural in COMPLETE:
        kube.on_read[plural] = workers_then_complete(plural)
    artifact = tmp_path / f"{launcher}-artifact"
    inputs = {**step_inputs(**RUN, launcher=launcher), "models_root": str(models)}
    result = train_step(str(dataset), str(artifact), ARTIFACT_URI, **inputs)
    (body,) = [body for verb, _, body in kube.requests if verb == "create"]
    shutil.rmtree(models)  # the next launcher trains the same run afresh
    return body, result, artifact


def test_the_kfp_step_s_trainjob_gets_what_its_tfjob_gets(kube, monkeypatch, tmp_path, volumes, validate_manifests):
    tfjob, tf_result, tf_artifact = run_step(kube, monkeypatch, tmp_path, volumes, "tfjob")
    kube.requests.clear()
    trainjob, result, artifact = run_step(kube, monkeypatch, tmp_path, volumes, "trainjob")

    assert (tfjob["kind"], trainjob["kind"]) == ("TFJob", "TrainJob")
    for job in (tfjob, trainjob):
        assert job["metadata"]["ownerReferences"] == [OWNER]
        assert job["metadata"]["namespace"] == k8s.NAMESPACE
        labels = job["metadata"]["labels"]
        assert (labels[k8s.QUEUE_LABEL], labels[k8s.PRIORITY_LABEL]) == (k8s.LOCAL_QUEUE, k8s.PRIORITY_PRODUCTION)
    assert trainjob["metadata"]["name"] == tfjob["metadata"]["name"]
    assert worker_arguments(trainjob) == worker_arguments(tfjob)  # the same run: same checkpoints and model folder

    # Workers, GPUs and image.
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    (container,) = worker["template"]["spec"]["containers"]
    trainer = trainjob["spec"]["trainer"]
    assert trainer["numNodes"] == worker["replicas"] == 2
    assert trainer["env"] == [{"name": "DISTML_NUM_WORKERS", "value": "2"}]
    assert trainer["resourcesPerNode"] == container["resources"]
    assert container["resources"]["limits"][k8s.GPU_RESOURCE] == "1"
    assert trainer["image"] == container["image"] == k8s.GPU_IMAGE

    # The rest of the workers' pod comes from the runtime the TrainJob names: the generated one.
    assert trainjob["spec"]["runtimeRef"] == {
        "name": trainer_runtime.GPU_RUNTIME,
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    generated = yaml.safe_load_all((REPO / "manifests/trainer/cluster-training-runtimes.yaml").read_text())
    (runtime,) = [r for r in generated if r["metadata"]["name"] == trainer_runtime.GPU_RUNTIME]
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    pod, tf_pod = node["template"]["spec"]["template"]["spec"], worker["template"]["spec"]
    for key in ("securityContext", "serviceAccountName", "automountServiceAccountToken", "tolerations", "nodeSelector"):
        assert pod[key] == tf_pod[key], key
    assert pod["containers"][0]["securityContext"] == container["securityContext"]

    # Both trained the model the step hands to KFP.
    for step_result, folder in ((tf_result, tf_artifact), (result, artifact)):
        assert step_result["metadata"]["model_type"] == "cnn"
        assert 0 <= step_result["metrics"]["accuracy"] <= 1
        assert (folder / "metrics.json").is_file()

    path = tmp_path / "created.yaml"
    path.write_text(yaml.safe_dump_all([tfjob, trainjob]))
    assert "2 checked, 0 invalid, 0 not checked" in validate_manifests(path)

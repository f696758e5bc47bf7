"""Generated files are fresh; the compiled pipeline parses strictly into the KFP protos;
another team can build a pipeline from the checked-in component.yaml files."""

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from distml.components.common import k8s
from distml.components.common.params import KFP
from distml.components.train.spec import SPEC as TRAIN
from distml.pipelines import generated
from distml.pipelines.kfp.compile import COMPILED_MONITOR_PIPELINE, COMPILED_PIPELINE

ROOT = generated.SOURCE_ROOT


def test_every_generated_file_is_up_to_date():
    stale = generated.stale_files()
    assert stale == [], f"run `distml compile`: {stale}"


def test_regenerating_into_an_empty_tree_writes_exactly_the_checked_in_files(tmp_path):
    written = generated.write_all(tmp_path)
    assert sorted(written) == sorted(generated.render_all())
    for relative in written:
        assert (tmp_path / relative).read_text() == (ROOT / relative).read_text()


def _documents(path):
    return [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]


@pytest.mark.parametrize(
    "path", [COMPILED_PIPELINE] + [f"components/{c}/component.yaml" for c in ("ingest", "train", "select", "deploy")]
)
def test_yaml_parses_strictly_into_the_pipeline_spec_proto(path):
    spec, *platform = _documents(path)
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    assert parsed.pipeline_info.name
    for doc in platform:
        json_format.ParseDict(doc, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)


def test_the_pipeline_carries_the_cluster_settings():
    spec, platform = _documents(COMPILED_PIPELINE)
    assert spec["pipelineInfo"]["name"] == "train-and-deploy"
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = executors["exec-train"]
    assert {m["mountPath"] for m in train["pvcMount"]} == {k8s.DATASETS_MOUNT, k8s.MODELS_MOUNT}
    assert train["podMetadata"]["labels"][k8s.QUEUE_LABEL] == k8s.LOCAL_QUEUE
    assert all("activeDeadlineSeconds" in e for e in executors.values())
    # The train step only waits for the TFJob: the workers hold the GPUs and tolerate their taint.
    assert not any("tolerations" in e for e in executors.values())
    containers = spec["deploymentSpec"]["executors"]
    for step in ("ingest", "train", "select", "deploy"):
        wanted = k8s.STEP_RESOURCES[step]
        resources = containers[f"exec-{step}"]["container"]["resources"]
        assert (resources["resourceCpuRequest"], resources["resourceMemoryRequest"]) == (
            wanted["requests"]["cpu"],
            wanted["requests"]["memory"],
        )
        assert (resources["resourceCpuLimit"], resources["resourceMemoryLimit"]) == (
            wanted["limits"]["cpu"],
            wanted["limits"]["memory"],
        )
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ingest"]["cachingOptions"]["enableCache"] is True
    # KFP retries every failure alike; ingest's (a bad dataset, no network for TFDS) recur.
    assert "retryPolicy" not in tasks["ingest"]
    assert tasks["ingest"]["inputs"]["parameters"]["tfds_data_dir"] == {"componentInputParameter": "tfds_data_dir"}
    deploy = spec["components"]["comp-condition-2"]["dag"]["tasks"]["deploy"]
    assert deploy["cachingOptions"].get("enableCache", False) is False
    assert tasks["for-loop-1"]["iteratorPolicy"]["parallelismLimit"] == 3
    condition = tasks["condition-2"]["triggerPolicy"]["condition"]
    assert condition == "inputs.parameter_values['pipelinechannel--select-Output'] == true"
    defaults = {name: p.get("defaultValue") for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}
    assert defaults["dataset"] == "digits" and defaults["model_types"] == ["cnn", "dropout", "batch_norm"]
    for name in (
        "num_shards",
        "workers",
        "epochs",
        "batch_size",
        "gpus",
        "queue",
        "priority_class",
        "min_accuracy",
        "serving_target",
        "namespace",
        "image",
    ):
        assert name in defaults, name


def test_gpu_trainings_get_the_gpu_image_parameter():
    spec, _ = _documents(COMPILED_PIPELINE)
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["gpu_image"]["defaultValue"] == k8s.GPU_IMAGE and root["image"]["defaultValue"] == k8s.IMAGE
    loop = spec["root"]["dag"]["tasks"]["for-loop-1"]["inputs"]["parameters"]
    assert loop["pipelinechannel--gpu_image"] == {"componentInputParameter": "gpu_image"}
    train = spec["components"]["comp-for-loop-1"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert train["gpu_image"] == {"componentInputParameter": "pipelinechannel--gpu_image"}
    assert train["image"] == {"componentInputParameter": "pipelinechannel--image"}


def test_the_runs_model_name_reaches_select_and_deploy_which_names_the_service_after_it():
    spec, _ = _documents(COMPILED_PIPELINE)
    select = spec["root"]["dag"]["tasks"]["select"]["inputs"]["parameters"]
    deploy = spec["components"]["comp-condition-2"]["dag"]["tasks"]["deploy"]["inputs"]["parameters"]
    assert select["model_name"] == {"componentInputParameter": "model_name"}
    assert deploy["model_name"] == {"componentInputParameter": "pipelinechannel--model_name"}
    assert "service_name" not in deploy  # empty: the service is named after the model


def test_the_training_workers_cpu_and_memory_are_run_parameters():
    spec, _ = _documents(COMPILED_PIPELINE)
    root = spec["root"]["inputDefinitions"]["parameters"]
    train_defaults = TRAIN.defaults(KFP)
    assert (root["cpu"]["defaultValue"], root["memory"]["defaultValue"]) == (train_defaults.cpu, train_defaults.memory)
    train = spec["components"]["comp-for-loop-1"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert train["cpu"] == {"componentInputParameter": "pipelinechannel--cpu"}
    assert train["memory"] == {"componentInputParameter": "pipelinechannel--memory"}


def _train_inputs_fed_by(spec, component, carrying):
    """The inputs of every train task that the values of `component`'s inputs `carrying`
    reach, following the bindings through loops, conditions and nested pipelines."""
    dag = spec["root"] if component == "root" else spec["components"][component]
    reached = set()
    for task in dag["dag"]["tasks"].values():
        bindings = task.get("inputs", {}).get("parameters", {})
        passed = {name for name, b in bindings.items() if b.get("componentInputParameter") in carrying}
        ref = task["componentRef"]["name"]
        if ref == "comp-train":
            reached |= passed
        elif passed and "dag" in spec["components"][ref]:
            reached |= _train_inputs_fed_by(spec, ref, passed)
    return reached


@pytest.mark.parametrize("path", [COMPILED_PIPELINE, COMPILED_MONITOR_PIPELINE])
def test_each_pipeline_picks_the_launcher_with_one_run_parameter(path):
    """`launcher` is a run parameter of both pipelines (the retraining one passes it to its
    nested train-and-deploy); it feeds train's launcher and nothing else, and defaults to the
    train component's cluster default."""
    spec, _ = _documents(path)
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["launcher"]["defaultValue"] == TRAIN.defaults(KFP).launcher == "tfjob"
    assert _train_inputs_fed_by(spec, "root", {"launcher"}) == {"launcher"}


def _reuse_example():
    """The Python block of docs/kfp.md's "Reusing single components"."""
    section = (ROOT / "docs" / "kfp.md").read_text().split("## Reusing single components", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_component_reuse_compiles_into_a_pipeline_that_works_on_a_cluster(tmp_path, monkeypatch):
    """Another team's few lines from docs/kfp.md, run as written: the pipeline they compile gives
    ingest the datasets volume and the train step (a TFJob launcher) the paths its pods can read."""
    (tmp_path / "components").symlink_to(ROOT / "components")
    monkeypatch.chdir(tmp_path)
    exec(compile(_reuse_example(), "docs/kfp.md", "exec"), {})
    spec, platform = yaml.safe_load_all((tmp_path / "my_training.yaml").read_text())
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    assert set(spec["root"]["dag"]["tasks"]) == {"ingest", "train"}
    assert spec["root"]["dag"]["tasks"]["train"]["inputs"]["artifacts"]["dataset"]["taskOutputArtifact"] == {
        "outputArtifactKey": "dataset_artifact",
        "producerTask": "ingest",
    }
    inputs = {name: c["inputDefinitions"]["parameters"] for name, c in spec["components"].items()}
    store_root = inputs["comp-ingest"]["store_root"]["defaultValue"]
    assert inputs["comp-train"]["launcher"]["defaultValue"] == "tfjob"
    assert inputs["comp-train"]["models_root"]["defaultValue"] == k8s.MODELS_MOUNT
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor in ("exec-ingest", "exec-train"):
        assert {(m["constant"], m["mountPath"]) for m in mounts[executor]["pvcMount"]} == {
            (k8s.DATASETS_PVC, k8s.DATASETS_MOUNT),
            (k8s.MODELS_PVC, k8s.MODELS_MOUNT),
        }
    # What the TFJob launcher demands of the dataset the ingest step writes there.
    from distml.components.train.config import TrainConfig
    from distml.components.train.tfjob import check_paths

    check_paths(TrainConfig(dataset_dir=f"{store_root}/0123456789abcdef0123", model_dir=f"{k8s.MODELS_MOUNT}/m"))


def test_the_train_timeout_is_a_run_parameter_and_the_step_owns_its_job():
    """train_timeout reaches the train step (the launcher gives up then and deletes its job);
    the step pod's deadline is only a backstop above the longest supported value; the pod
    gets its name, namespace and UID from the downward API to own the job it creates."""
    from distml.components.common.owner import OWNER_FIELDS
    from distml.pipelines.kfp.train_and_deploy import MAX_TRAIN_TIMEOUT_S

    spec, platform = _documents(COMPILED_PIPELINE)
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["train_timeout"]["defaultValue"] == TRAIN.defaults(KFP).timeout > 0
    train = spec["components"]["comp-for-loop-1"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert train["timeout"] == {"componentInputParameter": "pipelinechannel--train_timeout"}
    executor = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert int(executor["activeDeadlineSeconds"]) > MAX_TRAIN_TIMEOUT_S >= TRAIN.defaults(KFP).timeout
    assert {e["name"]: e["fieldPath"] for e in executor["fieldPathAsEnv"]} == OWNER_FIELDS

"""Generated files are fresh; the compiled pipeline parses strictly into the KFP protos;
another team can build a pipeline from the checked-in component.yaml files."""

import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler, components, dsl
from kfp.pipeline_spec import pipeline_spec_pb2

from distml.components.common import k8s
from distml.pipelines import generated
from distml.pipelines.kfp.compile import COMPILED_PIPELINE

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
    assert train["tolerations"][0]["key"] == k8s.GPU_RESOURCE
    assert all("activeDeadlineSeconds" in e for e in executors.values())
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ingest"]["cachingOptions"]["enableCache"] is True
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


def test_another_team_composes_a_pipeline_from_component_yaml(tmp_path):
    ingest = components.load_component_from_file(str(ROOT / "components/ingest/component.yaml"))
    train = components.load_component_from_file(str(ROOT / "components/train/component.yaml"))

    @dsl.pipeline(name="their-training")
    def their_pipeline(dataset: str = "tfds:mnist"):
        data = ingest(dataset=dataset, num_shards=4)
        train(dataset=data.outputs["dataset_artifact"], model_type="batch_norm", workers=4, epochs=2)

    out = tmp_path / "theirs.yaml"
    compiler.Compiler().compile(their_pipeline, str(out))
    spec = yaml.safe_load(out.read_text())
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    assert set(spec["root"]["dag"]["tasks"]) == {"ingest", "train"}
    assert spec["root"]["dag"]["tasks"]["train"]["inputs"]["artifacts"]["dataset"]["taskOutputArtifact"] == {
        "outputArtifactKey": "dataset_artifact",
        "producerTask": "ingest",
    }

"""The ingest step's memoization key: derived from every data-determining parameter, and
the code that computes it in the cluster is the code tested here."""

import os
import re
import subprocess
import sys

import pytest

from distml.components.common import k8s
from distml.components.ingest.dataset_version import dataset_version
from distml.components.ingest.sources import resolved_dataset_version
from distml.pipelines.argo import dataset_key
from distml.pipelines.argo.dataset_key import DATA_PARAMETERS, dataset_cache_key
from tests.argo.argo_yaml import library, load

ARGO_CACHE_KEY = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")  # argo workflow/controller/cache
BASE = {
    "dataset": "tfds:fashion_mnist:3.0.1",
    "dataset-version": "1",
    "num-shards": "8",
    "validation-fraction": "0.1",
    "seed": "0",
    "image": "ghcr.io/distml/distml:0.1.0",
}
CHANGED = {
    "dataset": "tfds:fashion_mnist:3.0.2",
    "dataset-version": "2",
    "num-shards": "16",
    "validation-fraction": "0.2",
    "seed": "1",
    "image": "ghcr.io/distml/distml:0.1.1",
}


def test_the_tests_cover_every_data_parameter():
    assert set(BASE) == set(CHANGED) == set(DATA_PARAMETERS)


@pytest.mark.parametrize("name", DATA_PARAMETERS)
def test_key_changes_when_a_data_parameter_changes(name):
    assert dataset_cache_key({**BASE, name: CHANGED[name]}) != dataset_cache_key(BASE)


def test_key_is_stable_for_the_same_data_whatever_else_differs():
    reordered = dict(reversed(list(BASE.items())))
    with_training_parameters = {**BASE, "workers": "4", "epochs": "9", "model-types": '["cnn"]'}
    assert dataset_cache_key(reordered) == dataset_cache_key(with_training_parameters) == dataset_cache_key(dict(BASE))


def test_key_does_not_confuse_values_that_concatenate_alike():
    assert dataset_cache_key({**BASE, "dataset": "digits1", "dataset-version": ""}) != dataset_cache_key(
        {**BASE, "dataset": "digits", "dataset-version": "1"}
    )


def test_key_is_a_valid_argo_cache_key_even_for_specs_with_colons_and_slashes():
    key = dataset_cache_key({**BASE, "dataset": "folder:/mnt/datasets/raw/cats_dogs"})
    assert ARGO_CACHE_KEY.fullmatch(key) and len(key) <= 63


def test_a_missing_data_parameter_is_an_error_not_a_weaker_key():
    with pytest.raises(KeyError, match="num-shards"):
        dataset_cache_key({k: v for k, v in BASE.items() if k != "num-shards"})


def test_the_script_template_runs_this_module_with_every_data_parameter(tmp_path):
    """Run the generated template's source as Argo would, with the env it declares."""
    template = library()["dataset-key"]
    script = template["script"]
    values = {**BASE, "slim-image": "unused", "priority-class": "unused"}
    env = {e["name"]: e["value"] for e in script["env"]}
    assert {dataset_key.env_name(p) for p in DATA_PARAMETERS} <= set(env)
    for name, value in list(env.items()):
        env[name] = re.sub(r"\{\{inputs\.parameters\.([-a-z]+)\}\}", lambda m: values[m.group(1)], value)
    source = tmp_path / "script"
    source.write_text(script["source"].replace(dataset_key.OUTPUT_DIR, str(tmp_path / "outputs")))
    subprocess.run([sys.executable, str(source)], env={**os.environ, **env}, check=True, capture_output=True)
    key = (tmp_path / "outputs" / "cache-key").read_text()
    assert key == dataset_cache_key(BASE, dataset_version(BASE["dataset"]))


def test_the_key_step_sees_new_images_in_a_folder_dataset(tmp_path):
    """Argo folds the same data version into its key that `distml run` gives KFP: a folder's
    files, read from the datasets volume the key step mounts."""
    from PIL import Image

    template = library()["dataset-key"]
    mounts = {m["mountPath"]: m for m in template["script"]["volumeMounts"]}
    assert mounts[k8s.DATASETS_MOUNT]["readOnly"] is True
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    Image.new("L", (8, 8)).save(root / "a" / "0.png")
    values = {**BASE, "dataset": f"folder:{root}"}
    env = {dataset_key.env_name(name): value for name, value in values.items()}

    def key():
        dataset_key.main(env, tmp_path / "outputs")
        return (tmp_path / "outputs" / "cache-key").read_text()

    before = key()
    Image.new("L", (8, 8), 255).save(root / "a" / "1.png")
    assert key() != before
    assert key() == dataset_cache_key(values, resolved_dataset_version(values["dataset"]))


def test_ingest_is_memoized_on_the_computed_key_with_a_labelled_cache_and_outputs():
    templates = library()
    ingest_data = templates["ingest-data"]
    memoize = ingest_data["memoize"]
    assert memoize["key"] == "{{inputs.parameters.cache-key}}"
    assert memoize["cache"] == {"configMap": {"name": k8s.MEMOIZE_CACHE_CONFIGMAP}}
    assert memoize["maxAge"] == "168h"  # docs/argo.md: a hit is trusted for a week
    assert ingest_data["outputs"]["parameters"], "Argo memoizes outputs; a step without any has nothing to restore"
    tasks = {t["name"]: t for t in templates["ingest"]["dag"]["tasks"]}
    arguments = {p["name"]: p["value"] for p in tasks["ingest-data"]["arguments"]["parameters"]}
    assert arguments["cache-key"] == "{{tasks.dataset-key.outputs.parameters.cache-key}}"
    key_arguments = {p["name"]: p["value"] for p in tasks["dataset-key"]["arguments"]["parameters"]}
    assert all(key_arguments[p] == f"{{{{inputs.parameters.{p}}}}}" for p in DATA_PARAMETERS)
    outputs = {p["name"] for p in templates["ingest"]["outputs"]["parameters"]}
    assert "dataset-dir" in outputs
    # The shards land where the KFP pipeline puts them (<volume>/<fingerprint[:20]>), and a
    # memoized hit restores the directory the first run wrote.
    args = ingest_data["container"]["args"]
    assert args[args.index("--store-root") + 1] == k8s.DATASETS_MOUNT
    assert "dataset-dir" in {p["name"] for p in ingest_data["outputs"]["parameters"]}


def test_the_workflow_feeds_every_data_parameter_from_its_overridable_parameters():
    spec = load("workflow-train-and-deploy.yaml")["spec"]
    declared = {p["name"] for p in spec["arguments"]["parameters"]}
    ingest = next(t for t in spec["templates"][0]["dag"]["tasks"] if t["name"] == "ingest")
    arguments = {p["name"]: p["value"] for p in ingest["arguments"]["parameters"]}
    for name in DATA_PARAMETERS:
        assert name in declared
        assert arguments[name] == f"{{{{workflow.parameters.{name}}}}}"


def test_the_cache_configmap_in_manifests_carries_the_label_argo_requires():
    import yaml

    from distml.pipelines.argo.generate import SOURCE_ROOT

    path = SOURCE_ROOT / "manifests" / "namespace" / "configmaps.yaml"
    if not path.is_file():
        pytest.skip("manifests/namespace/configmaps.yaml is not in this checkout")
    maps = {d["metadata"]["name"]: d for d in yaml.safe_load_all(path.read_text()) if d}
    labels = maps[k8s.MEMOIZE_CACHE_CONFIGMAP]["metadata"]["labels"]
    assert labels["workflows.argoproj.io/configmap-type"] == "Cache"

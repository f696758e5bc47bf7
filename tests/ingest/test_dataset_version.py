"""The data version behind a dataset value (components/ingest/dataset_version.py): what makes
the ingest cache key of KFP, Argo and `distml run` change when a folder's images change."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from kfp import dsl, local

from distml.components.common.errors import UsageError
from distml.components.ingest.component import ingest
from distml.components.ingest.dataset_version import dataset_version
from distml.components.ingest.sources import resolved_dataset_version
from tests.conftest import run_cli


def image_folder(root, counts):
    from PIL import Image

    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8), i * 9, np.uint8)).save(root / name / f"{i}.png")
    return root


def add_image(root, name):
    from PIL import Image

    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(root / "a" / name)


def test_a_folder_version_changes_with_its_images_and_only_with_them(tmp_path):
    root = image_folder(tmp_path / "images", {"a": 3, "b": 3})
    spec = f"folder:{root}"
    first = dataset_version(spec)
    assert first.startswith("files-6-") and dataset_version(spec) == first
    (root / "notes.txt").write_text("not an image")
    assert dataset_version(spec) == first
    add_image(root, "new.png")
    added = dataset_version(spec)
    assert added.startswith("files-7-") and added != first
    (root / "a" / "new.png").write_bytes((root / "a" / "0.png").read_bytes())  # replaced in place
    stat = (root / "a" / "new.png").stat()
    os.utime(root / "a" / "new.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert dataset_version(spec) not in (first, added)
    assert dataset_version(f"folder:{tmp_path / 'missing'}") == ""


def test_tfds_versions_name_the_dataset_config_and_version():
    assert dataset_version("tfds:mnist:3.0.1") == "mnist:3.0.1"
    assert dataset_version("tfds:cifar10_corrupted/brightness_1:1.0.0") == "cifar10_corrupted/brightness_1:1.0.0"
    assert dataset_version("tfds:mnist", tfds_version="3.0.1") == "mnist:3.0.1"
    assert dataset_version("tfds:mnist") == "mnist:registered"
    assert dataset_version("http://nope") == ""


def test_resolved_versions_ask_the_installed_tfds_and_refuse_unknown_datasets():
    from distml.components.ingest.digits_builder import DistmlDigits

    assert resolved_dataset_version("digits") == f"distml_digits:{DistmlDigits.VERSION}"
    assert resolved_dataset_version("tfds:mnist:3.0.1") == "mnist:3.0.1"
    with pytest.raises(UsageError, match="unknown dataset 'tfds:no_such_dataset'"):
        resolved_dataset_version("tfds:no_such_dataset")


def test_the_cli_prints_it(tmp_path):
    root = image_folder(tmp_path / "images", {"a": 2, "b": 2})
    result = run_cli("dataset-version", f"folder:{root}")
    assert result.stdout.strip() == dataset_version(f"folder:{root}")
    assert run_cli("dataset-version", f"folder:{tmp_path / 'nope'}", check=False).returncode == 2


def test_kfp_local_ingests_again_after_images_are_added(tmp_path):
    """The distml run path: kfp.local caches ingest on its inputs, dataset_version among them."""
    root = image_folder(tmp_path / "images", {"a": 10, "b": 10})
    spec = f"folder:{root}"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        enable_caching=True,
        cache_root=str(tmp_path / "cache"),
    )

    @dsl.pipeline(name="ingest-only")
    def ingest_only(dataset: str, dataset_version: str) -> dsl.Dataset:
        return ingest(
            dataset=dataset, dataset_version=dataset_version, store_root="", num_shards=1, test_fraction=0.3
        ).outputs["dataset_artifact"]

    def examples():
        metadata = json.loads(
            (Path(ingest_only(dataset=spec, dataset_version=version).output.path)).joinpath("metadata.json").read_text()
        )
        return sum(split["num_examples"] for split in metadata["splits"].values())

    version = resolved_dataset_version(spec)
    assert examples() == 20
    add_image(root, "new.png")
    version = resolved_dataset_version(spec)
    assert examples() == 21  # a cached ingest would still say 20
    shutil.rmtree(tmp_path / "root")


def test_the_compiled_pipelines_data_version_step_makes_ingest_run_again_after_images_are_added(tmp_path):
    """The KFP-on-a-cluster path: the uncached data-version step (pipelines/kfp/data_version.py)
    computes the version where the data is and feeds ingest's cache key, run here by kfp.local
    as the compiled pipeline wires it."""
    from distml.components.common import k8s
    from distml.pipelines.kfp.data_version import data_version, data_version_task

    root = image_folder(tmp_path / "images", {"a": 10, "b": 10})
    spec = f"folder:{root}"
    assert data_version.python_func(dataset=spec, tfds_data_dir="", label="") == resolved_dataset_version(spec)
    assert data_version.python_func(dataset=spec, tfds_data_dir="", label="v2").endswith("+v2")
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        enable_caching=True,
        cache_root=str(tmp_path / "cache"),
    )

    @dsl.pipeline(name="versioned-ingest")
    def versioned_ingest(dataset: str) -> dsl.Dataset:
        version = data_version_task(dataset, "", "", k8s.IMAGE)
        return ingest(
            dataset=dataset, dataset_version=version.output, store_root="", num_shards=1, test_fraction=0.3
        ).outputs["dataset_artifact"]

    def examples():
        metadata = json.loads(Path(versioned_ingest(dataset=spec).output.path).joinpath("metadata.json").read_text())
        return sum(split["num_examples"] for split in metadata["splits"].values())

    assert examples() == 20
    add_image(root, "new.png")
    assert examples() == 21  # with `dataset` alone as ingest's key, the cache would still say 20
    shutil.rmtree(tmp_path / "root")

"""A dataset artifact verifies itself, outputs are checked up front and may be mount points,
and a folder source's empty class is refused."""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from distml.components.common.errors import DataIntegrityError, UsageError
from distml.components.ingest.core import ingest
from distml.components.ingest.reader import load_metadata, read_split
from tests.conftest import run_cli
from tests.mounts import tmpfs


@pytest.fixture
def artifact_copy(digits_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(digits_dataset, copy)
    return copy


def edit_metadata(artifact, change):
    path = artifact / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "field, change",
    [
        ("fingerprint", lambda m: m.update(fingerprint="0" * 64)),
        ("image_shape", lambda m: m.update(image_shape=[14, 56, 1])),
        ("num_classes", lambda m: m.update(num_classes=12)),
        ("class_names", lambda m: m["class_names"].reverse()),
        ("splits", lambda m: m["splits"]["train"].update(num_examples=99)),
    ],
)
def test_an_edited_field_is_a_one_line_error_naming_file_and_field(artifact_copy, field, change):
    edit_metadata(artifact_copy, change)
    with pytest.raises(DataIntegrityError, match=rf"{artifact_copy / 'metadata.json'}: field '{field}'"):
        load_metadata(artifact_copy)


def test_train_refuses_an_edited_or_invalid_metadata_in_one_line(artifact_copy, tmp_path):
    edit_metadata(artifact_copy, lambda m: m.update(image_shape=[14, 56, 1]))
    result = run_cli("train", "--dataset", artifact_copy, "--model-dir", tmp_path / "m", "--epochs", "1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"distml train: error: {artifact_copy / 'metadata.json'}: field 'image_shape' does not match its checksum: "
        "the file was edited or is corrupted; re-run `distml ingest`"
    ]
    (artifact_copy / "metadata.json").write_text('{"format": ')
    with pytest.raises(DataIntegrityError, match="metadata.json is not valid JSON"):
        load_metadata(artifact_copy)
    assert not (tmp_path / "m").exists()


def test_a_missing_shard_is_named_never_read_from_the_recorded_location(artifact_copy):
    (artifact_copy / "train-00000-of-00008.tfrecord").unlink()
    with pytest.raises(DataIntegrityError, match="train-00000-of-00008.tfrecord is missing"):
        read_split(artifact_copy, "train")
    for shard in artifact_copy.glob("*.tfrecord"):
        shard.unlink()
    with pytest.raises(UsageError, match="holds metadata only"):
        read_split(artifact_copy, "train")
    assert read_split(artifact_copy, "train", follow_location=True) is not None  # asked for explicitly


def test_ingest_writes_into_a_pre_created_folder_and_a_mount_point(tmp_path):
    empty = tmp_path / "given"
    empty.mkdir()
    inode = os.stat(empty).st_ino
    ingest("digits", empty, num_shards=1)
    assert os.stat(empty).st_ino == inode and load_metadata(empty)["num_classes"] == 10
    assert [p.name for p in empty.iterdir() if p.name.startswith(".")] == []
    with tmpfs(tmp_path / "mnt") as mount:
        result = run_cli("ingest", "--output", mount, "--num-shards", "1", check=False)
        assert result.returncode == 0, result.stderr
        assert os.path.ismount(mount) and load_metadata(mount)["splits"]["test"]["num_examples"] == 360


def test_a_read_only_output_fails_before_any_work(tmp_path):
    with tmpfs(tmp_path / "ro", "ro") as mount:
        # A dataset source that does not exist would fail too, later: the output is checked first.
        result = run_cli("ingest", "--dataset", "folder:/nonexistent", "--output", mount / "ds", check=False)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"distml ingest: error: --output {mount / 'ds'} is not writable here ({mount}: Read-only file system)"
        ]


def _image_folder(root, counts):
    from PIL import Image

    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8), i * 9, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_an_empty_class_is_an_error_unless_allowed(tmp_path, caplog):
    root = _image_folder(tmp_path / "images", {"a": 6, "b": 6, "empty": 0})
    with pytest.raises(UsageError, match=r"class\(es\) empty have no PNG/JPEG images.*--allow-empty-classes"):
        ingest(f"folder:{root}", tmp_path / "ds", num_shards=1, test_fraction=0.3)
    assert not (tmp_path / "ds").exists()
    with caplog.at_level(logging.WARNING, logger="distml"):
        meta = ingest(f"folder:{root}", tmp_path / "ds", num_shards=1, test_fraction=0.3, allow_empty_classes=True)
    assert meta["class_names"] == ["a", "b", "empty"]
    assert "kept, as --allow-empty-classes asks" in caplog.text


def test_a_split_missing_classes_is_reported(tmp_path, caplog):
    root = tmp_path / "images"
    _image_folder(root / "train", {"a": 3, "b": 3})
    _image_folder(root / "test", {"a": 2})
    with caplog.at_level(logging.WARNING, logger="distml"):
        ingest(f"folder:{root}", tmp_path / "ds", num_shards=1)
    assert "split test of" in caplog.text and "has no examples of class(es) b" in caplog.text

"""Version allocation in a model repository, on stand-in version folders (no TensorFlow): the
layout checks only that saved_model.pb and model.json exist, so these run in milliseconds
(and under `make mutation`)."""

import json
import stat

import pytest

from distml.components.common.errors import UsageError
from distml.components.common.model_artifact import (
    check_model_name,
    directory_digest,
    latest_version,
    list_versions,
    push,
    resolve_version_dir,
)


def push_version(source, repo, model_name, version=None):
    return push(source, repo, model_name, version)[0]


def newest_version(repo, model_name):
    latest = latest_version(repo, model_name)
    return latest[0] if latest else None


def version(folder, payload=b"model", **info):
    (folder / "assets.extra").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(payload)
    (folder / "assets.extra" / "model.json").write_text(json.dumps({"model_type": "cnn", **info}))
    return folder


def test_versions_count_up_from_one_in_numeric_order(tmp_path):
    source = version(tmp_path / "src" / "1")
    repo = tmp_path / "repo"
    assert list_versions(repo, "m") == [] and newest_version(repo, "m") is None
    assert [push_version(source, repo, "m") for _ in range(10)] == list(range(1, 11))
    (repo / "m" / ".tmp-upload").mkdir()
    (repo / "m" / "notes").mkdir()
    assert list_versions(repo, "m") == list(range(1, 11)) and newest_version(repo, "m") == 10  # 10 > 9 > 2
    assert push_version(source, repo, "m", version=42) == 42 and push_version(source, repo, "m") == 43


def test_a_pushed_copy_records_its_number_is_world_readable_and_equals_its_source(tmp_path):
    source = version(tmp_path / "src" / "7", version="7")
    number = push_version(source, tmp_path / "repo", "m")
    copy = tmp_path / "repo" / "m" / str(number)
    assert json.loads((copy / "assets.extra" / "model.json").read_text()) == {"model_type": "cnn", "version": "1"}
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    assert stat.S_IMODE((copy / "saved_model.pb").stat().st_mode) == 0o644
    assert directory_digest(copy) == directory_digest(source)  # the version number is not content
    assert directory_digest(version(tmp_path / "other", payload=b"different")) != directory_digest(source)


@pytest.mark.parametrize(
    "setup, kwargs, message",
    [
        (lambda repo, src: None, {"version": 0}, "version must be a positive integer, got 0"),
        (
            lambda repo, src: push_version(src, repo, "m"),
            {"version": 1},
            "already exists: versions in a model repository are immutable",
        ),
    ],
)
def test_bad_pushes_are_refused(tmp_path, setup, kwargs, message):
    source = version(tmp_path / "src" / "1")
    setup(tmp_path / "repo", source)
    before = list_versions(tmp_path / "repo", "m")
    with pytest.raises(UsageError, match=message):
        push_version(source, tmp_path / "repo", "m", **kwargs)
    assert list_versions(tmp_path / "repo", "m") == before


def test_only_complete_versions_are_pushed_or_resolved(tmp_path):
    (tmp_path / "half" / "1").mkdir(parents=True)
    (tmp_path / "half" / "1" / "saved_model.pb").write_bytes(b"x")  # no model.json
    with pytest.raises(UsageError, match="is not a model version"):
        push_version(tmp_path / "half" / "1", tmp_path / "repo", "m")
    with pytest.raises(UsageError, match="has no assets.extra/model.json: not a model written by"):
        resolve_version_dir(tmp_path / "half")
    model_dir = tmp_path / "model"
    version(model_dir / "1")
    assert resolve_version_dir(model_dir) == model_dir / "1"
    assert resolve_version_dir(model_dir / "1") == model_dir / "1"
    version(model_dir / "2")
    assert resolve_version_dir(model_dir) == model_dir / "2"  # several: the newest complete one
    assert resolve_version_dir(model_dir, 1) == model_dir / "1"
    with pytest.raises(UsageError, match="does not exist"):
        resolve_version_dir(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "../m"])
def test_model_names_that_are_not_one_path_segment_are_refused(name):
    with pytest.raises(UsageError):
        check_model_name(name)


def test_digest_reads_only_model_json_as_json_and_sees_every_other_file(tmp_path):
    a = version(tmp_path / "a")
    (a / "assets.extra" / "labels.txt").write_text("zero\none\n")  # sorts before model.json
    (a / "README").write_text("notes")
    b = version(tmp_path / "b")
    (b / "assets.extra" / "labels.txt").write_text("zero\nONE\n")
    (b / "README").write_text("notes")
    assert directory_digest(a) != directory_digest(b)

"""Version allocation in a model repository, on stand-in version folders (no TensorFlow): the
layout checks only that saved_model.pb and model.json exist, so these run in milliseconds
(and under `make mutation`)."""

import errno
import json
import os
import shutil
import stat
import time

import pytest

from distml.components.common import model_artifact
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.files import STALE_AFTER_S
from distml.components.common.model_artifact import (
    ModelArtifactError,
    _one_line,
    check_model_name,
    directory_digest,
    latest_version,
    list_versions,
    push,
    read_model_info,
    remove_stale_claims,
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


def model_json(folder):
    return folder / "assets.extra" / "model.json"


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


def test_a_pushed_tree_is_readable_by_any_user_whatever_its_source_modes(tmp_path):
    source = version(tmp_path / "src" / "1")
    (source / "variables").mkdir()
    (source / "variables" / "variables.index").write_bytes(b"i")
    for path in (source / "saved_model.pb", source / "variables" / "variables.index", model_json(source)):
        path.chmod(0o600)
    for folder in (source / "variables", source / "assets.extra"):
        folder.chmod(0o700)
    copy = tmp_path / "repo" / "m" / str(push_version(source, tmp_path / "repo", "m"))
    modes = {p.relative_to(copy).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in copy.rglob("*")}
    assert modes == {
        "saved_model.pb": 0o644,
        "variables": 0o755,
        "variables/variables.index": 0o644,
        "assets.extra": 0o755,
        "assets.extra/model.json": 0o644,
    }


def test_the_digest_does_not_depend_on_the_key_order_of_model_json(tmp_path):
    a = version(tmp_path / "a", model_type="cnn", num_classes=10)
    b = version(tmp_path / "b")
    model_json(b).write_text(json.dumps({"num_classes": 10, "model_type": "cnn"}))
    assert directory_digest(a) == directory_digest(b)


def test_a_folder_without_any_savedmodel_is_not_a_model_and_a_half_version_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty is not a model: it holds no model version"):
        resolve_version_dir(tmp_path / "empty")
    (tmp_path / "half" / "1").mkdir(parents=True)
    (tmp_path / "half" / "1" / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"half/1 has no assets.extra/model.json"):
        resolve_version_dir(tmp_path / "half")


def test_only_old_empty_claims_are_removed(tmp_path):
    base = tmp_path / "m"
    for name in ("1", "2", "3"):
        (base / name).mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_bytes(b"x")  # a version, not an empty claim
    old = time.time() - STALE_AFTER_S - 60
    for name in ("1", "3"):
        os.utime(base / name, (old, old))
    remove_stale_claims(base)
    assert sorted(p.name for p in base.iterdir()) == ["2", "3"]


@pytest.mark.parametrize("version_number", [None, 5])
def test_a_push_whose_rename_fails_gives_its_number_back(tmp_path, monkeypatch, version_number):
    source = version(tmp_path / "src" / "1")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model_artifact.os, "rename", no_space)
    with pytest.raises(DistmlError, match="the repository is unchanged: .*No space left on device"):
        push(source, tmp_path / "repo", "m", version_number)
    assert list_versions(tmp_path / "repo", "m") == []


def test_an_interrupted_push_gives_its_number_back(tmp_path, monkeypatch):
    source = version(tmp_path / "src" / "1")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_artifact.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        push(source, tmp_path / "repo", "m")
    assert list_versions(tmp_path / "repo", "m") == []


def test_a_failed_copy_is_reported_by_its_first_failed_file_in_one_line():
    assert _one_line(shutil.Error([("a/x", "b/x", "[Errno 28] No space"), ("a/y", "b/y", "other")])) == (
        "a/x: [Errno 28] No space"
    )
    assert _one_line(shutil.Error("`a` and `b` are the same file")) == "`a` and `b` are the same file"
    assert _one_line(OSError("No space left on device\n(while copying variables)")) == "No space left on device"
    assert _one_line(OSError()) == "OSError"


def test_a_missing_or_broken_model_json_is_a_model_artifact_error(tmp_path):
    with pytest.raises(ModelArtifactError, match="has no assets.extra/model.json: not a distml model version"):
        read_model_info(tmp_path)
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "model.json").write_text("{not json")
    with pytest.raises(ModelArtifactError, match="model.json is not valid JSON"):
        read_model_info(tmp_path)


def test_a_number_another_pusher_claims_first_is_skipped(tmp_path, monkeypatch):
    source = version(tmp_path / "src" / "1")
    claim = model_artifact._claim

    def another_pusher_first(base, number):
        if number == 1:
            claim(base, number)  # the other pusher's mkdir lands between our listing and ours
        return claim(base, number)

    monkeypatch.setattr(model_artifact, "_claim", another_pusher_first)
    assert push_version(source, tmp_path / "repo", "m") == 2


def test_a_claim_filled_by_another_pusher_meanwhile_moves_on_to_the_next_number(tmp_path, monkeypatch):
    source = version(tmp_path / "src" / "1")
    rename, calls = os.rename, []

    def filled_once(src, dst):
        calls.append(dst)
        if len(calls) == 1:  # after a stale-claim cleanup, another pusher renamed its copy onto our number
            version(tmp_path / "other")
            os.rmdir(dst)
            rename(tmp_path / "other", dst)
            raise OSError(errno.ENOTEMPTY, "Directory not empty")
        rename(src, dst)

    monkeypatch.setattr(model_artifact.os, "rename", filled_once)
    assert push_version(source, tmp_path / "repo", "m") == 2
    assert list_versions(tmp_path / "repo", "m") == [1, 2]

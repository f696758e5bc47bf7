"""The model repository on disk (common/model_artifact.py), and the deploy core's light imports."""

import multiprocessing
import os
import subprocess
import sys

import pytest

from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.model_artifact import (
    latest_version,
    list_versions,
    push,
    read_model_info,
    resolve_version_dir,
)
from tests.deploy.conftest import version_dir


def test_push_numbers_versions_and_records_them(trained_models, tmp_path):
    source = version_dir(trained_models["cnn"])
    assert push(source, tmp_path, "digits")[0] == 1
    assert push(source, tmp_path, "digits") == (2, tmp_path / "digits" / "2")
    assert list_versions(tmp_path, "digits") == [1, 2]
    assert read_model_info(tmp_path / "digits" / "2")["version"] == "2"
    assert read_model_info(source)["version"] == "1"  # the source is untouched
    with pytest.raises(UsageError, match="immutable"):
        push(source, tmp_path, "digits", version=1)
    assert [p.name for p in (tmp_path / "digits").iterdir() if p.name.startswith(".")] == []


def test_failed_push_leaves_no_version(trained_models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"x")
    (broken / "assets.extra").mkdir()
    (broken / "assets.extra" / "model.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        push(broken, tmp_path / "repo", "digits")
    assert list(tmp_path.joinpath("repo", "digits").iterdir()) == []


def _push_many(source, repo, rounds, start, results):
    start.wait()
    for _ in range(rounds):
        try:
            results.put(push(source, repo, "digits")[0])
        except DistmlError as e:
            results.put(f"error: {e}")


def test_concurrent_pushes_all_land_as_distinct_consecutive_versions(trained_models, tmp_path):
    """Eight processes push three times each, released together: every push lands."""
    pushers, rounds = 8, 3
    source = version_dir(trained_models["cnn"])
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    procs = [
        context.Process(target=_push_many, args=(source, tmp_path, rounds, start, results)) for _ in range(pushers)
    ]
    for proc in procs:
        proc.start()
    start.set()
    landed = [results.get(timeout=120) for _ in range(pushers * rounds)]
    for proc in procs:
        proc.join(timeout=60)
    assert [r for r in landed if not isinstance(r, int)] == []
    assert sorted(landed) == list(range(1, pushers * rounds + 1))
    for number in landed:
        assert read_model_info(tmp_path / "digits" / str(number))["version"] == str(number)
    assert latest_version(tmp_path, "digits")[0] == pushers * rounds
    assert [p.name for p in (tmp_path / "digits").iterdir() if p.name.startswith(".")] == []


def test_a_pusher_killed_mid_copy_leaves_nothing_the_next_push_keeps(trained_models, tmp_path):
    """SIGKILL during the copy: the half copy is no version, and the next push removes it."""
    source = version_dir(trained_models["cnn"])
    code = (
        "import os, signal, sys\n"
        "from distml.components.common import model_artifact\n"
        "model_artifact._make_readable = lambda tree: os.kill(os.getpid(), signal.SIGKILL)  # copied, not claimed\n"
        "model_artifact.push(sys.argv[1], sys.argv[2], 'digits')\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(source), str(tmp_path)])
    assert killed.returncode == -9
    litter = [p.name for p in (tmp_path / "digits").iterdir()]
    assert litter and all(name.startswith(".") for name in litter)  # the temporary and its owner file
    assert list_versions(tmp_path, "digits") == []
    assert push(source, tmp_path, "digits")[0] == 1
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]


def test_resolve_version_dir_is_the_newest_complete_version(trained_models, tmp_path):
    model_dir = trained_models["cnn"]
    assert resolve_version_dir(model_dir) == model_dir / "1"
    assert resolve_version_dir(model_dir / "1") == model_dir / "1"
    push(version_dir(model_dir), tmp_path, "digits")
    push(version_dir(model_dir), tmp_path, "digits")
    os.mkdir(tmp_path / "digits" / "3")  # a claim whose pusher died: no complete version
    assert resolve_version_dir(tmp_path / "digits") == tmp_path / "digits" / "2"
    assert latest_version(tmp_path, "digits") == (2, tmp_path / "digits" / "2")
    assert push(version_dir(model_dir), tmp_path, "digits")[0] == 4  # never onto a taken number
    with pytest.raises(UsageError, match="is not a model: it holds no model version"):
        resolve_version_dir(tmp_path / "digits" / "3")
    os.utime(tmp_path / "digits" / "3", (0, 0))  # the claim's pusher died long ago
    assert push(version_dir(model_dir), tmp_path, "digits")[0] == 5
    assert list_versions(tmp_path, "digits") == [1, 2, 4, 5]  # the stale empty claim is gone
    with pytest.raises(UsageError, match="does not exist"):
        resolve_version_dir(tmp_path / "missing")


def test_deploy_core_imports_neither_tensorflow_nor_kserve():
    code = (
        "import sys, distml.components.deploy.core, distml.components.deploy.cli, distml.components.serve.cli;"
        "import distml.components.common.model_artifact;"
        "print(sorted(m for m in ('tensorflow', 'kserve', 'kfp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

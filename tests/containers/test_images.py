"""containers/: hadolint-clean, multi-stage, pinned, non-root, `distml` entrypoint, each image
installing its lock from requirements/; the slim image's entrypoint works without TensorFlow."""

import re
import subprocess
import sys
import tomllib

import pytest

from distml.components.common import k8s
from tests.manifests.tools import REPO, tool

CONTAINERS = REPO / "containers"
# Dockerfile -> (the lock it installs, the tag its header tells users to build)
IMAGES = {
    "Dockerfile": ("requirements/cpu.lock", k8s.IMAGE),
    "Dockerfile.gpu": ("requirements/gpu.lock", k8s.GPU_IMAGE),
    "Dockerfile.slim": ("requirements/slim.lock", k8s.SLIM_IMAGE),
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
    result = subprocess.run([tool("hadolint"), "--failure-threshold", "style", str(CONTAINERS / name)],
                            capture_output=True, text=True)
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
    install, tag = IMAGES[name]
    assert f"docker build -f containers/{name} -t {tag} ." in text  # the header says how to build it
    parts = stages(text)
    assert len(parts) >= 2, "multi-stage"
    for from_line, _ in parts:  # pinned base: name:MAJOR.MINOR.PATCH-variant, never latest
        assert re.match(r"FROM python:\d+\.\d+\.\d+-slim-\w+( AS \w+)?$", from_line), from_line
    build = " ".join(parts[0][1])
    assert re.search(r"pip install --no-cache-dir pip==\d+\.\d+", build)
    assert f"--require-hashes --no-deps -r {install}" in build
    final_from, final = parts[-1]
    assert " AS " not in final_from
    final_text = "\n".join(final)
    assert not re.search(r"\bpip install\b|apt-get install|apk add", final_text)  # nothing built here
    assert not BUILD_TOOLS.search(final_text)
    assert "COPY --from=build /opt/distml /opt/distml" in final
    assert f"useradd --uid {k8s.RUN_AS_USER} --gid {k8s.RUN_AS_USER}" in final_text
    users = [i for i in final if i.startswith("USER ")]
    assert users == [f"USER {k8s.RUN_AS_USER}:{k8s.RUN_AS_USER}"]  # numeric: runAsNonRoot can verify it
    assert final.index(users[0]) > max(i for i, line in enumerate(final) if line.startswith(("RUN", "COPY")))
    assert 'ENTRYPOINT ["distml"]' in final


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_dockerignore_sends_only_what_pip_install_needs():
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"  # an allowlist
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    tool_cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = {"pyproject.toml", "setup.py", pyproject()["readme"], "requirements/*.lock",
              *tool_cfg["package-dir"].values()}
    assert needed <= allowed
    assert not allowed & {"tests", ".git", ".venv", ".venv-tools", "benchmarks", "manifests", "distml-output"}


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

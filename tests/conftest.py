"""Fixtures shared by the whole suite. Everything runs offline on the CPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 (hooks)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VALIDATE_MANIFESTS = SHARED / "tools" / "validate-manifests"


@pytest.fixture(scope="session")
def digits_dataset(tmp_path_factory):
    """The offline digits dataset ingested once for the session: 8 shards per split."""
    from distml.components.ingest.core import ingest

    out = tmp_path_factory.mktemp("datasets") / "digits"
    ingest("digits", out, num_shards=8)
    return out


@pytest.fixture
def validate_manifests():
    """Run ../shared/tools/validate-manifests on paths; skip where ../shared is absent (a user's clone)."""
    if not VALIDATE_MANIFESTS.exists():
        pytest.skip("../shared/tools/validate-manifests is not beside this clone")

    def validate(*paths):
        result = subprocess.run(
            [sys.executable, str(VALIDATE_MANIFESTS), *map(str, paths)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    return validate


def run_cli(*args, check=True, env=None, timeout=600):
    """Run `distml ARGS` as a user would, in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "distml", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"distml {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def trained_models(digits_dataset, tmp_path_factory):
    """{model_type: model_dir} for cnn, dropout and batch_norm, each trained in-process for two
    short epochs on `digits_dataset` (test accuracy well above chance); artifact layout as
    documented in components/train/README.md."""
    from distml.components.train.core import train

    root = tmp_path_factory.mktemp("models")
    models = {}
    for model_type in ("cnn", "dropout", "batch_norm"):
        model_dir = root / model_type
        train(digits_dataset, model_dir, model_type=model_type, epochs=2, batch_size=32, seed=0)
        models[model_type] = model_dir
    return models


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(relative):
    """A recorded upstream object (YAML) from tests/fixtures/; each file names its source."""
    import yaml

    return yaml.safe_load((FIXTURES / relative).read_text())


@pytest.fixture
def kube(tmp_path, monkeypatch):
    """A fake Kubernetes API server on localhost (tests/kube_api.py) that the real kubernetes
    client reaches through KUBECONFIG, as on a laptop outside a cluster."""
    from tests.kube_api import FakeKubernetes

    fake = FakeKubernetes()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in a pod
    kubeconfig = str(fake.start(tmp_path))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # for subprocesses
    # kubernetes.config reads KUBECONFIG once, when imported
    monkeypatch.setattr("kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    yield fake
    fake.stop()


# Modules whose tests build on one shared run directory in file order (a cold run, then a
# cached rerun, then a changed one): pytest-randomly shuffles every other test.
IN_FILE_ORDER = ("tests/kfp/test_distml_run.py",)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    slots = [i for i, item in enumerate(items) if item.location[0] in IN_FILE_ORDER]
    ordered = sorted((items[i] for i in slots), key=lambda item: (item.location[0], item.location[1]))
    for slot, item in zip(slots, ordered):
        items[slot] = item

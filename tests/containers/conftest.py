"""The container tests build the images once per session, as `make images` does; they skip,
with the reason in the summary, only where containers cannot run at all."""

import os
import shutil

import pytest

from distml.components.common import k8s
from tests.containers.engine import IMAGES, Network, build_images, fs_group_volume, require_engine


@pytest.fixture(scope="session")
def images():
    """{"cpu": tag, "slim": tag} of the images just built from this checkout
    (DISTML_TEST_PREBUILT_IMAGES=1: the ones `make images` built, without rebuilding)."""
    require_engine()
    if os.environ.get("DISTML_TEST_PREBUILT_IMAGES") == "1":
        return {flavour: IMAGES[flavour] for flavour in ("cpu", "slim")}
    return build_images(("cpu", "slim"))


@pytest.fixture
def network():
    """A fresh `--internal` network, removed with its containers."""
    net = Network()
    yield net
    net.remove()


@pytest.fixture
def training_claims(digits_dataset, tmp_path):
    """{PVC name: host folder} of a training pod's volumes, prepared as the kubelet prepares
    them for the pods' fsGroup: the digits dataset under datasets/, an empty models/."""
    datasets = tmp_path / "datasets"
    shutil.copytree(digits_dataset, datasets / "digits")
    return {
        k8s.DATASETS_PVC: fs_group_volume(datasets, k8s.RUN_AS_USER),
        k8s.MODELS_PVC: fs_group_volume(tmp_path / "models", k8s.RUN_AS_USER),
    }

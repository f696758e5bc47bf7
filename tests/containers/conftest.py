"""The container tests build the images once per session, as `make images` does; they skip,
with the reason in the summary, only where containers cannot run at all."""

import os

import pytest

from tests.containers.engine import IMAGES, build_images, require_engine


@pytest.fixture(scope="session")
def images():
    """{"cpu": tag, "slim": tag} of the images just built from this checkout
    (DISTML_TEST_PREBUILT_IMAGES=1: the ones `make images` built, without rebuilding)."""
    require_engine()
    if os.environ.get("DISTML_TEST_PREBUILT_IMAGES") == "1":
        return {flavour: IMAGES[flavour] for flavour in ("cpu", "slim")}
    return build_images(("cpu", "slim"))

"""The container tests build the images once per session, as `make images` does; they skip,
with the reason in the summary, only where containers cannot run at all."""

import pytest

from tests.containers.engine import build_images, require_engine


@pytest.fixture(scope="session")
def images():
    """{"cpu": tag, "slim": tag} of the images just built from this checkout."""
    require_engine()
    return build_images(("cpu", "slim"))

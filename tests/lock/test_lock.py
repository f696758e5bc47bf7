"""requirements/*.lock: every environment the repository installs comes from a lock that agrees
with pyproject's ranges, and the environment running these tests is exactly dev.lock."""

import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

REQUIREMENTS = REPO / "requirements"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# lock -> the pyproject extras it installs (besides the base dependencies)
LOCKED_EXTRAS = {
    "dev.lock": ("tf", "serve", "dev"),
    "cpu.lock": ("tf", "serve"),
    "slim.lock": (),
    "gpu.lock": ("gpu", "serve"),
}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)")


def pins(lock_name):
    """{canonical name: version} of a lock; every entry must be pinned and hashed."""
    text = (REQUIREMENTS / lock_name).read_text()
    out = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = entry.splitlines()[0]
        if not first or first.startswith("#"):
            continue
        match = PIN.match(first)
        assert match, f"{lock_name}: not an exact pin: {first}"
        assert "--hash=sha256:" in entry, f"{lock_name}: {match[1]} has no hash"
        out[canonicalize_name(match[1])] = match[2]
    return out


def direct_requirements(extras):
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize("lock_name", LOCKED_EXTRAS)
def test_lock_pins_every_direct_dependency_inside_pyprojects_range(lock_name):
    pinned = pins(lock_name)
    requirements = direct_requirements(LOCKED_EXTRAS[lock_name])
    if lock_name == "dev.lock":  # distml is installed from source without build isolation
        requirements += [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is missing from requirements/{lock_name}: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock_name} pins {req.name}=={pinned[name]}, outside pyproject's {req}: run `make lock`"
        )


@pytest.mark.parametrize("lock_name", ["cpu.lock", "slim.lock", "gpu.lock", "bench.lock"])
def test_image_and_bench_locks_run_the_versions_the_tests_ran(lock_name):
    dev, other = pins("dev.lock"), pins(lock_name)
    differ = {n: (v, dev[n]) for n, v in other.items() if n in dev and dev[n] != v}
    assert not differ, f"{lock_name} disagrees with dev.lock: {differ}"


def test_gpu_image_runs_the_same_tensorflow_as_the_cpu_image():
    assert pins("gpu.lock")["tensorflow"] == pins("cpu.lock")["tensorflow-cpu"]


def test_installed_environment_is_exactly_the_lock():
    """What pip installed matches dev.lock: nothing missing, nothing at another version,
    nothing it does not name (pip itself and distml aside)."""
    pinned = pins("dev.lock")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    missing = sorted(set(pinned) - set(installed))
    other_version = {n: (installed[n], v) for n, v in pinned.items() if n in installed and installed[n] != v}
    unlocked = sorted(set(installed) - set(pinned) - {"pip", "distml"})
    assert not missing, f"locked but not installed: {missing} (run `make install`)"
    assert not other_version, f"installed version differs from dev.lock: {other_version}"
    assert not unlocked, f"installed but not in dev.lock: {unlocked}"


def test_lock_script_resolves_for_the_images_platform():
    script = (REQUIREMENTS / "lock.sh").read_text()
    assert "--generate-hashes" in script and "--python-version 3.11" in script
    for lock_name in [*LOCKED_EXTRAS, "tools.lock", "bench.lock"]:
        assert f"compile {lock_name} " in script, f"lock.sh does not produce {lock_name}"

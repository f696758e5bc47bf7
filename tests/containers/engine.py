"""The docker engine for the container tests: whether containers can run here, the images
`make images` builds (built once per session; docker's layer cache makes a rebuild after
a source change take seconds), and small `docker` helpers."""

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from distml.components.common import k8s
from tests.conftest import REPO

IMAGES = {"cpu": k8s.IMAGE, "slim": k8s.SLIM_IMAGE}  # what `make images` builds (the GPU image: `make images-gpu`)


def engine_problem():
    """None when containers can run here, else why not."""
    if not shutil.which("docker"):
        return "no docker CLI (Debian: apt-get install docker.io)"
    result = subprocess.run(["docker", "info", "--format", "{{json .ServerVersion}}"], capture_output=True, text=True)
    if result.returncode != 0:
        return f"the docker engine does not answer (start dockerd): {result.stderr.strip()[:300]}"
    return None


def require_engine():
    problem = engine_problem()
    if problem:
        pytest.skip(f"CONTAINER TESTS NOT RUN: containers cannot run on this machine: {problem}")


def docker(*args, check=True, timeout=600, **kwargs):
    result = subprocess.run(["docker", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(map(str, args[:3]))} ... exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def build_images(flavours=("cpu", "slim")):
    """Build the images as `make images` does (containers/build-image.sh), with this
    interpreter's environment for the wheels; progress goes to the terminal."""
    for flavour in flavours:
        print(f"\nbuilding the {flavour} image (containers/build-image.sh {flavour})", file=sys.stderr, flush=True)
        result = subprocess.run(
            ["sh", "containers/build-image.sh", flavour],
            cwd=REPO,
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"building the {flavour} image failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        print(result.stderr.strip(), file=sys.stderr, flush=True)
    return {flavour: IMAGES[flavour] for flavour in flavours}


def inspect(kind, name):
    return json.loads(docker(kind, "inspect", name).stdout)[0]


class Network:
    """A `docker network create --internal` network: its containers reach each other by name
    and nothing outside this machine. Removed with every container on it."""

    def __init__(self, prefix="distml-test"):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        docker("network", "create", "--internal", self.name)

    def remove(self):
        containers = docker("ps", "-aq", "--filter", f"network={self.name}", check=False).stdout.split()
        if containers:
            docker("rm", "-f", *containers, check=False)
        docker("network", "rm", self.name, check=False)

    def ip(self, container):
        return inspect("container", container)["NetworkSettings"]["Networks"][self.name]["IPAddress"]


def fs_group_volume(path, fs_group):
    """A host folder prepared as the kubelet prepares a pod's volume for its `fsGroup`:
    everything in it (recursively) group-owned by fs_group and group read/writable, folders
    setgid so that new files inherit the group. The owner stays root: the pod's user gets
    in through the group only."""
    path.mkdir(parents=True, exist_ok=True)
    for item in [path, *path.rglob("*")]:
        if item.is_symlink():
            continue
        os.chown(item, -1, fs_group)
        mode = item.stat().st_mode
        item.chmod(mode | 0o060 | (0o2010 if item.is_dir() else (0o010 if mode & 0o100 else 0)))
    return path

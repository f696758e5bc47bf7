"""Every image `make images` builds: non-root, `--help` of every subcommand, and the pipeline's
steps one container after another on a shared volume, each run as a distml pod runs
(runAsUser/runAsGroup 1000, fsGroup 1000 on a volume the user does not own, no
capabilities, no privilege escalation, no network)."""

import json

import pytest

from distml.cli import SUBCOMMANDS
from distml.components.common import k8s
from tests.containers import pods
from tests.containers.engine import docker, fs_group_volume, inspect

# The first test to run builds the images (session fixture): minutes on a cold cache.
pytestmark = pytest.mark.timeout(3600)

FLAVOURS = ["cpu", "slim"]
POD = {
    "securityContext": k8s.pod_security_context(),
    "containers": [{"name": "step", "securityContext": k8s.container_security_context()}],
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_image_runs_as_its_numeric_non_root_user(images, flavour):
    config = inspect("image", images[flavour])["Config"]
    assert config["User"] == f"{k8s.RUN_AS_USER}:{k8s.RUN_AS_USER}"
    assert config["Entrypoint"] == ["distml"]
    ids = docker("run", "--rm", "--network", "none", "--entrypoint", "id", images[flavour]).stdout
    assert ids.startswith(f"uid={k8s.RUN_AS_USER}(distml) gid={k8s.RUN_AS_USER}(distml)")
    assert docker("run", "--rm", "--network", "none", images[flavour], "--version").stdout.startswith("distml ")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_help_of_every_subcommand(images, flavour):
    script = (
        "for c in " + " ".join(SUBCOMMANDS) + '; do echo "== $c"; distml "$c" --help || echo "!! $c exited $?"; done'
    )
    out = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", images[flavour], "-c", script).stdout
    for name in SUBCOMMANDS:
        section = out.split(f"== {name}\n", 1)[1].split("\n== ", 1)[0]
        assert section.startswith(f"usage: distml {name}"), f"{flavour}: distml {name} --help:\n{section[:2000]}"
        assert "!! " not in section, section[-2000:]


def test_pipeline_steps_on_a_shared_volume_as_pods(images, tmp_path):
    """ingest -> train (1 epoch) -> select -> deploy --target local, each step a new container
    with the pods' security context; the volume is root's, writable through fsGroup only."""
    volume = fs_group_volume(tmp_path / "volume", k8s.RUN_AS_USER)
    as_pod = pods.security_args(POD, POD["containers"][0], images["cpu"])
    assert "--group-add" in as_pod and "--cap-drop=ALL" in as_pod

    def step(*args):
        return docker(
            "run", "--rm", "--network", "none", *as_pod, "-v", f"{volume}:/mnt/data", images["cpu"], *args, timeout=900
        )

    step("ingest", "--dataset", "digits", "--output", "/mnt/data/datasets/digits", "--num-shards", "2")
    step(
        "train",
        "--dataset",
        "/mnt/data/datasets/digits",
        "--model-dir",
        "/mnt/data/models/cnn",
        "--model-type",
        "cnn",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "10",
        "--launcher",
        "in-process",
    )
    step(
        "select",
        "--dataset-dir",
        "/mnt/data/datasets/digits",
        "--candidates",
        "/mnt/data/models/cnn",
        "--model-repo",
        "/mnt/data/repo",
        "--model-name",
        "digits",
        "--min-accuracy",
        "0",
        "--output-dir",
        "/mnt/data/selection",
    )
    deployed = step(
        "deploy",
        "--target",
        "local",
        "--repo",
        "/mnt/data/repo",
        "--model-name",
        "digits",
        "--result-out",
        "/mnt/data/deploy.json",
    )

    assert (volume / "models" / "cnn" / "1" / "saved_model.pb").is_file()
    selection = json.loads((volume / "selection" / "selection.json").read_text())
    assert selection["winner"] == "cnn" and selection["blessed"], selection
    assert list((volume / "repo" / "digits").iterdir()), "select pushed no version"
    assert json.loads((volume / "deploy.json").read_text()), deployed.stdout
    for path in volume.rglob("*"):  # everything the steps wrote: the pod's user, the volume's group
        stat = path.lstat()
        assert (stat.st_uid, stat.st_gid) == (k8s.RUN_AS_USER, k8s.RUN_AS_USER), path

"""What the training container tests share: a small training as a user's dry run generates
its manifest, and the wait for its first checkpoint (the moment a worker is killed)."""

import time

import yaml

from distml.components.common import k8s
from tests.conftest import run_cli

WORKERS = 2
MODEL_DIR = "models/cnn"  # on the models volume
# Few steps, a checkpoint early: the first checkpoint lands while most steps are still to come.
TRAINING = ["--model-type", "cnn", "--epochs", "2", "--steps-per-epoch", "20", "--checkpoint-every", "5"]
TRAINING += ["--batch-size", "32", "--cpu", "1", "--memory", "3Gi"]


def generated_manifest(launcher, run_id):
    """The manifest as a user gets it: `distml train --launcher <launcher> --dry-run`."""
    out = run_cli(
        "train",
        "--launcher",
        launcher,
        "--dry-run",
        "--workers",
        WORKERS,
        "--dataset",
        f"{k8s.DATASETS_MOUNT}/digits",
        "--model-dir",
        f"{k8s.MODELS_MOUNT}/{MODEL_DIR}",
        *TRAINING,
        "--run-id",
        run_id,
    ).stdout
    manifest = yaml.safe_load(out)
    return manifest.get("manifest", manifest)


def wait_for_first_checkpoint(models, running, logs, timeout=600):
    """Until a checkpoint is on the models volume; fails when `running()` is false first."""
    deadline = time.monotonic() + timeout
    while not list(models.rglob("*.index")):
        assert time.monotonic() < deadline, f"no checkpoint in {timeout} s:\n" + logs()
        assert running(), "a worker stopped early:\n" + logs()
        time.sleep(1)

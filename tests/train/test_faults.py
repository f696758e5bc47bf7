"""Training under an operator's bad day: damaged checkpoints, mount points as outputs, a full
volume, and the litter of killed processes."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from distml.components.common.errors import UsageError
from distml.components.train.config import TrainConfig, check
from distml.components.train.core import train
from tests.conftest import run_cli
from tests.mounts import tmpfs

FAST = {"epochs": 1, "steps_per_epoch": 4, "batch_size": 16, "checkpoint_every": 2}


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def flip_a_bit(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


def interrupted_run(dataset, model_dir, run_id):
    """Checkpoints at steps 2 and 4 of run `run_id`, as if killed before the model was written."""
    train(dataset, model_dir, run_id=run_id, keep_checkpoints=True, **FAST)
    for path in sorted(model_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    model_dir.rmdir()
    config = check(TrainConfig(dataset_dir=str(dataset), model_dir=str(model_dir), run_id=run_id))
    return config.run_checkpoint_dir / "checkpoints"


@pytest.mark.parametrize("damage", [truncate, flip_a_bit])
def test_resume_falls_back_to_the_newest_checkpoint_that_restores(digits_dataset, tmp_path, caplog, damage):
    model_dir = tmp_path / "model"
    checkpoints = interrupted_run(digits_dataset, model_dir, "damaged")
    newest = checkpoints / "ckpt-2.data-00000-of-00001"
    damage(newest)
    metrics = train(digits_dataset, model_dir, run_id="damaged", **{**FAST, "epochs": 2})
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 8
    assert f"checkpoint cannot be restored, set aside: {newest}" in caplog.text
    assert "resuming from ckpt-1" in caplog.text


def test_every_checkpoint_damaged_starts_over_naming_them(digits_dataset, tmp_path, caplog):
    model_dir = tmp_path / "model"
    checkpoints = interrupted_run(digits_dataset, model_dir, "all-damaged")
    for data in checkpoints.glob("ckpt-*.data-*"):
        truncate(data)
    metrics = train(digits_dataset, model_dir, run_id="all-damaged", **FAST)
    assert metrics["resumed_from_step"] == 0 and metrics["steps"] == 4
    assert "training starts over" in caplog.text and "ckpt-1.data-00000-of-00001" in caplog.text


def test_a_mount_point_and_a_pre_created_folder_work_as_model_dir(digits_dataset, tmp_path):
    given = tmp_path / "given"
    given.mkdir()
    inode = os.stat(given).st_ino
    train(digits_dataset, given, **FAST)
    assert (
        os.stat(given).st_ino == inode
        and (given / "metrics.json").is_file()
        and (given / "1" / "saved_model.pb").is_file()
    )
    with tmpfs(tmp_path / "mnt") as mount:
        train(digits_dataset, mount, checkpoint_dir=tmp_path / "ckpt", **FAST)
        assert os.path.ismount(mount)
        assert sorted(p.name for p in mount.iterdir()) == ["1", "metrics.json", "model.keras", "tensorboard"]


def test_a_read_only_model_dir_fails_before_training(digits_dataset, tmp_path):
    with tmpfs(tmp_path / "ro", "ro") as mount:
        with pytest.raises(
            UsageError, match=f"--model-dir {mount / 'model'} is not writable here .*Read-only file system"
        ):
            train(digits_dataset, mount / "model", **FAST)


def test_a_full_volume_is_one_error_and_the_supervisor_does_not_retry_it(digits_dataset, tmp_path):
    with tmpfs(tmp_path / "tiny", "size=64k") as mount:
        result = run_cli(
            "train",
            "--dataset",
            digits_dataset,
            "--model-dir",
            mount,
            "--launcher",
            "local",
            "--workers",
            "1",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "16",
            "--checkpoint-dir",
            tmp_path / "ckpt",
            "--max-restarts",
            "2",
            check=False,
        )
    assert result.returncode == 1
    assert "restarting" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"distml train: error: worker 0: writing the model to {mount} failed: ")


def _die_holding_a_temporary(path):
    """A process that creates an owned temporary at `path` and is SIGKILLed inside it."""
    code = (
        "import os, signal, sys\n"
        "from distml.components.common.files import owned_temporary\n"
        "with owned_temporary(__import__('pathlib').Path(sys.argv[1])):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, str(path)]).returncode == -signal.SIGKILL
    assert path.exists()


def test_litter_of_killed_processes_is_removed_by_the_next_run_never_a_live_one(digits_dataset, tmp_path):
    """A killed export's hidden sibling of the model folder and a killed worker's scratch
    folder are removed by the next run; a temporary whose writer is alive is left alone."""
    from distml.components.common.files import owned_temporary, temporary_name

    model_dir = tmp_path / "model"
    killed_export = tmp_path / temporary_name("model")
    _die_holding_a_temporary(killed_export)
    killed_scratch = Path(tempfile.gettempdir()) / temporary_name("distml-litter-worker-1")
    _die_holding_a_temporary(killed_scratch)
    with owned_temporary(tmp_path / temporary_name("model")) as live:
        result = run_cli(
            "train",
            "--dataset",
            digits_dataset,
            "--model-dir",
            model_dir,
            "--launcher",
            "local",
            "--workers",
            "2",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "16",
            "--run-id",
            "litter",
        )
        assert live.exists()  # its writer (this process) holds the lock
        assert not killed_export.exists()
    assert result.returncode == 0
    assert not killed_scratch.exists()  # removed by the worker that started next on this machine
    assert not [p for p in os.listdir(tempfile.gettempdir()) if "distml-litter-" in p]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert json.loads((model_dir / "metrics.json").read_text())["num_workers"] == 2


def test_two_workers_resume_past_a_truncated_newest_checkpoint(digits_dataset, tmp_path):
    """The operator's case: a group's newest checkpoint is damaged, the run is started again
    with its --run-id; the chief sets the damaged one aside and both workers restore the older."""
    model_dir = tmp_path / "model"
    common = [
        "--dataset",
        digits_dataset,
        "--model-dir",
        model_dir,
        "--launcher",
        "local",
        "--workers",
        "2",
        "--steps-per-epoch",
        "4",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "2",
        "--run-id",
        "group",
        "--max-restarts",
        "0",
    ]
    run_cli("train", *common, "--epochs", "1", "--keep-checkpoints")
    for path in sorted(model_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    model_dir.rmdir()
    checkpoints = (
        check(TrainConfig(dataset_dir=str(digits_dataset), model_dir=str(model_dir), run_id="group")).run_checkpoint_dir
        / "checkpoints"
    )
    truncate(checkpoints / "ckpt-2.data-00000-of-00001")
    result = run_cli("train", *common, "--epochs", "2")
    assert f"set aside: {checkpoints / 'ckpt-2.data-00000-of-00001'}" in result.stderr
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 8 and metrics["attempt"] == 0


def test_the_chief_leaves_the_group_only_after_every_worker_is_done_with_it(digits_dataset, tmp_path):
    """The chief hosts the coordination service: exiting right after the end barrier, it
    could close the service before a worker got the barrier's answer (that worker then failed
    with "Socket closed" although the run was done). Worker 1 is frozen once the chief has
    written the model (worker 1 waits at the barrier by then): the chief must still be there."""
    command = [sys.executable, "-m", "distml", "train", "--dataset", str(digits_dataset)]
    command += ["--model-dir", str(tmp_path / "model"), "--launcher", "local", "--workers", "2", "--epochs", "1"]
    command += ["--steps-per-epoch", "2", "--batch-size", "16", "--checkpoint-every", "0", "--max-restarts", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, model_written = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if "[worker 0]" in line and "model written" in line:
                model_written.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    worker_1 = None
    try:
        assert model_written.wait(timeout=300), "".join(lines)
        (worker_1,) = [int(line.split("(pid ")[1].split(")")[0]) for line in lines if "started worker 1 " in line]
        os.kill(worker_1, signal.SIGSTOP)
        time.sleep(3)
        assert not [line for line in lines if "worker 0 finished" in line], "".join(lines)
        os.kill(worker_1, signal.SIGCONT)
        assert proc.wait(timeout=120) == 0, "".join(lines)
    finally:
        if worker_1 is not None and proc.poll() is None:
            os.kill(worker_1, signal.SIGCONT)
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
    assert any("worker 0 finished" in line for line in lines) and any("worker 1 finished" in line for line in lines)

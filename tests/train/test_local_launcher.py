"""Multi-worker training on localhost: the local launcher, MWMS and fault tolerance (slow: real TF processes)."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from distml.components.common.errors import DistmlError
from distml.components.train.config import READY_MARKER, TrainConfig, check
from distml.components.train.local import launch_local
from tests.conftest import run_cli
from tests.processes import still_alive

pytestmark = pytest.mark.slow


def test_two_local_workers_train_a_model_that_serves_as_well_as_it_trained(digits_dataset, tmp_path):
    import tensorflow as tf

    from distml.components.ingest.reader import read_split

    model_dir = tmp_path / "cnn"
    result = run_cli(
        "train",
        "--dataset",
        digits_dataset,
        "--model-dir",
        model_dir,
        "--launcher",
        "local",
        "--workers",
        2,
        "--epochs",
        2,
        "--batch-size",
        32,
        "--run-id",
        "two-workers",
    )
    log = result.stderr
    assert "[worker 1]" in log and re.search(
        r"\[worker 0\] .*epoch 2/2: loss [\d.]+, accuracy [\d.]+, \d+ examples/s", log
    )
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["num_workers"] == 2 and metrics["replicas"] == 2 and metrics["global_batch_size"] == 64
    assert metrics["steps"] == metrics["total_steps"] == 2 * (1437 // 64)
    assert [e["epoch"] for e in metrics["history"]] == [1, 2]

    images, labels = next(iter(read_split(digits_dataset, "test", batch_size=1000, shuffle=False)))
    serve = tf.saved_model.load(str(model_dir / "1")).signatures["serving_default"]
    class_ids = serve(images=tf.cast(images, tf.float32))["class_ids"].numpy()
    accuracy = float(np.mean(class_ids == labels.numpy()))
    assert accuracy == pytest.approx(metrics["final"]["test_accuracy"])
    assert accuracy > 0.7 and accuracy >= metrics["final"]["accuracy"] - 0.1
    # Only the chief wrote: no checkpoint folder left beside the model, no worker scratch.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn"]
    assert not [p for p in os.listdir(tempfile.gettempdir()) if "distml-two-workers-" in p]


def test_killed_and_preempted_workers_restart_the_group_from_the_last_checkpoint(digits_dataset, tmp_path):
    """Attempt 0: SIGKILL worker 1 after the first checkpoint. Attempt 1: SIGTERM it (a pod
    eviction) after the first epoch; PreemptionCheckpointHandler saves a checkpoint and exits.
    Each restarted group resumes where the last checkpoint left it, keeps the epochs already
    logged, and ends on the planned step."""
    model_dir = tmp_path / "model"
    command = [
        sys.executable,
        "-m",
        "distml",
        "train",
        "--dataset",
        str(digits_dataset),
        "--model-dir",
        str(model_dir),
        "--launcher",
        "local",
        "--workers",
        "2",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "10",
        "--max-restarts",
        "2",
        "--timeout",
        "500",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker_1_pid, attempt, signalled, log = None, 0, [], []
    for line in proc.stderr:
        log.append(line)
        started = re.search(r"started worker 1 \(pid (\d+)\)", line)
        if started:
            worker_1_pid = int(started[1])
        if "restarting from the latest checkpoint" in line:
            attempt += 1
        trigger = ("checkpoint saved at step", "epoch 1/3:")[min(attempt, 1)]
        if line.startswith("[worker 0]") and trigger in line and len(signalled) == attempt < 2:
            sig = (signal.SIGKILL, signal.SIGTERM)[attempt]
            os.kill(worker_1_pid, sig)
            signalled.append(sig)
    assert proc.wait() == 0, "".join(log)
    log = "".join(log)
    assert signalled == [signal.SIGKILL, signal.SIGTERM]
    assert "worker 1 was killed by SIGKILL" in log and "restart 1 of 2" in log
    # Every worker saves and exits after a preemption notice; the supervisor names the first it sees.
    assert re.search(r"worker [01] was preempted .*restart 2 of 2", log)
    restored = [int(s) for s in re.findall(r"\[worker 0\] .*restored checkpoint at step (\d+)", log)]
    assert len(restored) == 2 and 10 <= restored[0] < 44 <= restored[1]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["attempt"] == 2 and metrics["resumed_from_step"] == restored[1]
    assert metrics["steps"] == metrics["total_steps"] == 3 * (1437 // 32)
    assert [e["epoch"] for e in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][0]["steps"] == 44 - restored[0]  # epoch 1 as attempt 1 logged it
    assert metrics["final"]["test_accuracy"] > 0.5


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_its_supervisor(digits_dataset, tmp_path, sig):
    """SIGTERM: the supervisor stops its group and exits 143. SIGKILL: the kernel kills the
    workers (PR_SET_PDEATHSIG). Either way no worker runs on, and no model is written."""
    command = [
        sys.executable,
        "-m",
        "distml",
        "train",
        "--dataset",
        str(digits_dataset),
        "--model-dir",
        str(tmp_path / "model"),
        "--launcher",
        "local",
        "--workers",
        "2",
        "--epochs",
        "100",
        "--timeout",
        "300",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers, ready, log = [], set(), []
    try:
        for line in proc.stderr:
            log.append(line)
            started = re.search(r"started worker \d \(pid (\d+)\)", line)
            if started:
                workers.append(int(started[1]))
            if READY_MARKER in line:
                ready.add(line.split("]")[0])
            if len(ready) == 2:
                break
        assert len(workers) == 2 and still_alive(workers) == set(workers), "".join(log)
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == (128 + sig if sig == signal.SIGTERM else -sig)
        deadline = time.monotonic() + 30
        while still_alive(workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not still_alive(workers)
    finally:
        for pid in still_alive([proc.pid, *workers]):
            os.kill(pid, signal.SIGKILL)
    if sig == signal.SIGTERM:
        assert "distml train: terminated (SIGTERM)" in proc.stderr.read()
    assert not (tmp_path / "model").exists()


def test_workers_that_never_join_hit_the_startup_timeout(digits_dataset, tmp_path):
    config = check(TrainConfig(dataset_dir=str(digits_dataset), model_dir=str(tmp_path / "m"), epochs=1))
    with pytest.raises(DistmlError, match=r"did not join the group within 0 s .*gave up after 0 restarts"):
        launch_local(config, 2, max_restarts=0, startup_timeout=0.2)
    assert not (tmp_path / "m").exists()


def test_workers_share_the_machine_s_cores_between_their_thread_pools():
    from distml.components.train.local import thread_pools

    assert thread_pools(2, cores=2) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    assert thread_pools(2, cores=8)["TF_NUM_INTRAOP_THREADS"] == "4"
    assert thread_pools(3, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"  # never zero

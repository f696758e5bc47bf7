"""Distributed semantics with real MultiWorkerMirroredStrategy workers on localhost: what each
worker reads, and what one synchronous step computes (slow: TensorFlow processes)."""

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from distml.components.common import tf_config
from distml.components.common.ports import free_ports
from tests.conftest import REPO

pytestmark = pytest.mark.slow

WORKERS = 2
TRAIN_EXAMPLES = 128  # < 256 pixel values; 4 shards of 32: each worker's two shards are 4 batches of 16
PER_REPLICA_BATCH = 16


def run_workers(mode, args, tmp_path, workers=WORKERS):
    """Run `workers` processes of tests/train/mwms_worker.py as one MWMS cluster; their results by rank."""
    addresses = [f"localhost:{p}" for p in free_ports(workers)] if workers > 1 else []
    procs, outs = [], []
    for index in range(workers):
        out = tmp_path / f"{mode}-{workers}-{index}.json"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
        env.pop("TF_CONFIG", None)
        if addresses:
            env["TF_CONFIG"] = tf_config.build(addresses, index)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.train.mwms_worker", mode, str(out), json.dumps(args)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        outs.append(out)
    try:
        logs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()  # SIGKILL: TensorFlow catches SIGTERM
                p.wait()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return [json.loads(out.read_text()) for out in outs]


@pytest.fixture(scope="module")
def numbered_dataset(tmp_path_factory):
    """An ingested folder dataset whose example i is an image of constant value i (which
    survives the folder source's resizing)."""
    import tensorflow as tf

    from distml.components.ingest.core import ingest

    root = tmp_path_factory.mktemp("numbered")
    for split, count in (("train", TRAIN_EXAMPLES), ("test", 8)):
        for i in range(count):
            folder = root / split / f"class{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            image = np.full((8, 8, 1), i, np.uint8)
            (folder / f"{i:04d}.png").write_bytes(tf.io.encode_png(image).numpy())
    out = root / "artifact"
    ingest(f"folder:{root}", out, num_shards=4)
    return out


def test_each_epoch_every_example_is_read_once_by_exactly_one_worker(numbered_dataset, tmp_path):
    steps = TRAIN_EXAMPLES // (PER_REPLICA_BATCH * WORKERS)
    results = run_workers(
        "read",
        {"dataset": str(numbered_dataset), "per_replica_batch": PER_REPLICA_BATCH, "steps": steps, "seed": 3},
        tmp_path,
    )
    assert sorted(r["rank"] for r in results) == list(range(WORKERS))
    for path in ("cpu", "gpu"):  # the GPU path: the strategy's distribute_datasets_from_function
        per_worker = [set(r[path]["ids"]) for r in results]
        everything = Counter(i for r in results for i in r[path]["ids"])
        assert sorted(everything) == list(range(TRAIN_EXAMPLES)), path
        assert set(everything.values()) == {1}, f"{path}: examples read more than once per epoch"
        assert not per_worker[0] & per_worker[1], f"{path}: workers read overlapping shards"
        assert all(len(ids) == TRAIN_EXAMPLES // WORKERS for ids in per_worker), path
    for r in results:
        assert r["gpu"]["contexts"] == [[WORKERS, r["rank"]]]  # one input pipeline per worker


def test_one_step_on_two_workers_equals_one_step_on_the_global_batch(tmp_path):
    args = {"global_batch": 32, "seed": 5}
    reference = run_workers("step", args, tmp_path, workers=1)[0]
    distributed = run_workers("step", args, tmp_path)
    for worker in distributed:  # every replica holds the same variables after the all-reduce
        assert worker["loss_sum"] == pytest.approx(reference["loss_sum"], rel=1e-5)
        assert worker["correct"] == reference["correct"]
        for got, want in zip(worker["updates"], reference["updates"]):
            want = np.array(want)
            np.testing.assert_allclose(np.array(got), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())

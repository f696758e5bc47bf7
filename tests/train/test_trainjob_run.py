"""A TrainJob run the way Trainer and JobSet would run it, with processes on localhost as
the pods: each worker gets the command, args and environment its pod would get
(tests/train/jobset.py) and derives its own TF_CONFIG from them; the pods' DNS names map
to loopback ports (DISTML_ADDRESS_MAP), the volumes to folders. One worker is SIGKILLed
after the first checkpoint; as on the cluster (Job backoffLimit 0, JobSet failurePolicy)
the whole group is recreated with the same names and resumes from the checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

from distml.components.common import k8s, tf_config
from distml.components.common.ports import free_ports
from distml.components.common.processes import die_with_parent
from distml.components.train import trainer_runtime
from distml.components.train.config import TrainConfig, check
from distml.components.train.trainjob import TrainJobOptions, trainjob_manifest
from tests.train import jobset

WORKERS = 2


def start_pods(pods, mounts, address_map, logs, attempt):
    procs = []
    for (hostname, argv, env), log_path in zip(pods, logs):
        assert argv[:2] == ["distml", "train"]
        for mount, folder in mounts.items():
            argv = [a.replace(mount, str(folder)) if a.startswith(mount) else a for a in argv]
        process_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        process_env.update(env, **{tf_config.ADDRESS_MAP: json.dumps(address_map)})
        with open(log_path, "a") as log:
            log.write(f"--- {hostname} attempt {attempt}\n")
            log.flush()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distml", *argv[1:]],
                    env=process_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent(),
                )
            )
    return procs


def wait_for(predicate, procs, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        assert all(p.poll() in (None, 0) for p in procs) or predicate(), [p.poll() for p in procs]
        time.sleep(0.5)


def test_a_trainjob_group_trains_loses_a_worker_and_resumes_from_its_checkpoint(digits_dataset, tmp_path):
    config = check(
        TrainConfig(
            dataset_dir=f"{k8s.DATASETS_MOUNT}/digits",
            model_dir=f"{k8s.MODELS_MOUNT}/trainjobs/cnn",
            model_type="cnn",
            epochs=2,
            batch_size=16,
            checkpoint_every=10,
        )
    )
    trainjob = trainjob_manifest(config, WORKERS, TrainJobOptions(cpu="1"))  # one thread pool per core
    name = trainjob["metadata"]["name"]
    mounts = {k8s.DATASETS_MOUNT: digits_dataset.parent, k8s.MODELS_MOUNT: tmp_path / "models"}
    ports = free_ports(WORKERS)
    address_map = {f"{name}-node-0-{i}.{name}:{trainer_runtime.PORT}": f"127.0.0.1:{ports[i]}" for i in range(WORKERS)}
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    runtime = trainer_runtime.runtime_manifest()

    procs = start_pods(jobset.worker_pods(runtime, trainjob, restart_attempt=0), mounts, address_map, logs, 0)
    try:
        wait_for(lambda: "checkpoint saved at step" in logs[0].read_text(), procs, timeout=300)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        # The pod's failure fails its Job (backoffLimit 0); JobSet recreates the group.
        for p in procs:
            p.kill()
            p.wait()
        procs = start_pods(jobset.worker_pods(runtime, trainjob, restart_attempt=1), mounts, address_map, logs, 1)
        for p in procs:
            p.wait(timeout=400)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    output = "\n".join(log.read_text() for log in logs)
    assert [p.returncode for p in procs] == [0] * WORKERS, output
    model_dir = tmp_path / "models" / "trainjobs" / "cnn"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["num_workers"] == WORKERS and metrics["run_id"] == config.run_id
    assert metrics["attempt"] == 1 and metrics["resumed_from_step"] >= 10, output
    assert metrics["steps"] == metrics["total_steps"] == 2 * (1437 // (16 * WORKERS))
    assert metrics["final"]["test_accuracy"] > 0.5
    assert (model_dir / config.version / "saved_model.pb").is_file()

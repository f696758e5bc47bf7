"""The local launcher: N worker processes on localhost with TF_CONFIG, supervised the way
the Training Operator supervises a TFJob.

- each worker runs `distml train --launcher worker ...` with the same run id, so a
  restarted group resumes from the run's latest checkpoint;
- worker output is relayed line by line, prefixed with `[worker i] <model type> |`;
- a start-up timeout: a lone worker waits forever for its peers;
- the machine's cores are shared out: each of N workers gets TensorFlow thread pools of
  cores/N threads (unless TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS are set);
- workers never outlive the supervisor: it stops them on Ctrl-C, SIGTERM or an error, and
  the kernel kills them if the supervisor itself is killed (Linux);
- if any worker dies, the whole group is stopped with SIGKILL (TensorFlow catches
  SIGTERM) and restarted, up to `max_restarts` times. Failures a restart cannot fix (a
  usage error or an expected `distml` error in a worker) end the run at once.
"""

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from distml.components.common import tf_config
from distml.components.common.errors import DistmlError, UsageError
from distml.components.common.ports import free_ports
from distml.components.common.processes import die_with_parent
from distml.components.train.config import READY_MARKER, WORKER_LAUNCHER, worker_args

log = logging.getLogger("distml")

POLL_INTERVAL_S = 0.2
USAGE_EXIT = UsageError.exit_code
ERROR_EXIT = DistmlError.exit_code
DISTML_ERROR_PREFIX = "distml train: error:"
PREEMPTED_EXIT = 42  # PreemptionCheckpointHandler's exit after its checkpoint


def thread_pools(workers, cores=None):
    """Pool sizes for one of `workers` TensorFlow processes on this machine. Each would size
    its pools to every core by default; oversubscribed cores stall the parallel kernels
    (2 workers on 2 cores: ~14% more examples/s with 1 thread each, docs/benchmarks.md)."""
    cores = cores or len(os.sched_getaffinity(0))
    threads = str(max(1, cores // workers))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}


def describe_exit(code):
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    if code == PREEMPTED_EXIT:
        return f"was preempted (SIGTERM; saved a checkpoint and exited with status {code})"
    return f"exited with status {code}"


class GroupFailed(Exception):
    def __init__(self, message, retryable):
        super().__init__(message)
        self.retryable = retryable


class WorkerGroup:
    """One attempt: the worker processes, their relayed output and their readiness."""

    def __init__(self, config, workers, attempt):
        self.config, self.workers, self.attempt = config, workers, attempt
        self.procs, self.threads = [], []
        self.ready = [threading.Event() for _ in range(workers)]
        self.tails = [collections.deque(maxlen=20) for _ in range(workers)]
        self.print_lock = threading.Lock()

    def start(self):
        addresses = [f"localhost:{port}" for port in free_ports(self.workers)]
        command = [
            sys.executable,
            "-m",
            "distml",
            "train",
            "--launcher",
            WORKER_LAUNCHER,
            "--attempt",
            str(self.attempt),
            *worker_args(self.config),
        ]
        pools = thread_pools(self.workers) if self.workers > 1 else {}
        for index in range(self.workers):
            env = {**pools, **os.environ, "TF_CONFIG": tf_config.build(addresses, index), "PYTHONUNBUFFERED": "1"}
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                start_new_session=True,  # Ctrl-C reaches the supervisor only
                preexec_fn=die_with_parent(),
            )  # and no worker outlives it
            self.procs.append(proc)
            log.info("started worker %d (pid %d) at %s", index, proc.pid, addresses[index])
            thread = threading.Thread(target=self._relay, args=(index, proc), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _relay(self, index, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.tails[index].append(line)
            if READY_MARKER in line:
                self.ready[index].set()
            with self.print_lock:
                # The model type tells apart the workers of trainings that run side by side.
                print(f"[worker {index}] {self.config.model_type} | {line}", file=sys.stderr, flush=True)

    def wait(self, startup_timeout, deadline):
        """Return when every worker exited 0; raise GroupFailed or DistmlError otherwise."""
        startup_deadline = time.monotonic() + startup_timeout
        finished = set()
        while True:
            codes = [p.poll() for p in self.procs]
            for index, code in enumerate(codes):
                if code == 0 and index not in finished:
                    finished.add(index)
                    log.info("worker %d finished", index)
            for index, code in enumerate(codes):
                if code not in (None, 0):
                    self._drain()
                    self._raise_for(index, code)
            if all(code == 0 for code in codes):
                self._drain()
                return
            now = time.monotonic()
            if now > startup_deadline and not all(e.is_set() for e in self.ready):
                missing = [str(i) for i, e in enumerate(self.ready) if not e.is_set()]
                raise GroupFailed(
                    f"worker(s) {', '.join(missing)} did not join the group within "
                    f"{startup_timeout:.0f} s (--startup-timeout)",
                    retryable=True,
                )
            if deadline is not None and now > deadline:
                raise DistmlError("training did not finish within --timeout; stopped the workers")
            time.sleep(POLL_INTERVAL_S)

    def _raise_for(self, index, code):
        last = next((line for line in reversed(self.tails[index]) if line.strip()), "")
        message = f"worker {index} {describe_exit(code)}"
        if last and code not in (PREEMPTED_EXIT, -signal.SIGKILL):
            message += f"; its last line: {last}"
        error_line = next((line for line in reversed(self.tails[index]) if DISTML_ERROR_PREFIX in line), None)
        if code == USAGE_EXIT and error_line:
            raise UsageError(error_line.split(DISTML_ERROR_PREFIX, 1)[1].strip())
        if code == ERROR_EXIT and error_line:
            raise DistmlError(f"worker {index}: {error_line.split(DISTML_ERROR_PREFIX, 1)[1].strip()}")
        raise GroupFailed(message, retryable=True)

    def _drain(self):
        for thread in self.threads:
            thread.join(timeout=5)

    def kill(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()  # SIGKILL: TensorFlow handles SIGTERM itself
        for proc in self.procs:
            proc.wait()
        self._drain()


def launch_local(config, workers, *, max_restarts=3, startup_timeout=300.0, timeout=None):
    """Run `workers` local processes until the run finishes; return the chief's metrics."""
    deadline = time.monotonic() + timeout if timeout else None
    log.info("run %s: %d local workers, checkpoints in %s", config.run_id, workers, config.run_checkpoint_dir)
    for attempt in range(max_restarts + 1):
        group = WorkerGroup(config, workers, attempt)
        try:
            group.start()
            group.wait(startup_timeout, deadline)
        except GroupFailed as failure:
            group.kill()
            if attempt == max_restarts:
                raise DistmlError(f"{failure} (gave up after {max_restarts} restarts)") from None
            log.warning(
                "%s; stopped the group, restarting from the latest checkpoint (restart %d of %d)",
                failure,
                attempt + 1,
                max_restarts,
            )
            continue
        finally:
            group.kill()
        metrics = json.loads((Path(config.model_dir) / "metrics.json").read_text())
        return metrics

"""What `distml run` shows while kfp.local runs the pipeline: each step's state (waiting,
running, done, cached, failed, skipped) under a name a person knows ("train cnn", not
"for-loop-1-iteration-0"), and each step's own progress lines prefixed with that name.

kfp.local runs the ParallelFor iterations in threads and says which task it runs only in
log lines, through a logger setup that threads undo for each other (the second training's
"finished" lines went missing). So `track_steps` hooks kfp.local where it executes one task
(`task_executor.execute_single_task`, wrapped; the kfp version is pinned by the lock and
tests/kfp/test_distml_run.py runs through these hooks) and:
- names the step after its `model_type` argument when it has one, and puts a fan-out
  iteration's outputs under `variant-<model type>/` instead of `for-loop-N-iteration-I/`;
- records whether the step ran or came from the cache, and how long it took;
- marks the thread, so that `StepOutput` prefixes the step's output lines with its name;
- replaces kfp.local's per-task logger swap (not thread-safe) by one log-file handler, and
  its print indentation (a global swap of builtins.print, not thread-safe either) by nothing.
"""

import contextlib
import logging
import os
import re
import signal
import threading
import time

from distml.components.common.processes import Terminated

WAITING, RUNNING, DONE, CACHED, FAILED, SKIPPED = "waiting", "running", "done", "cached", "failed", "skipped"
_ITERATION = re.compile(r"/for-loop-\d+-iteration-\d+$")
_current = threading.local()  # .label: the step this thread runs; .executed: it did not come from the cache


def current_label():
    return getattr(_current, "label", None)


class StepBoard:
    """The pipeline's steps and their states; prints a line for every change."""

    def __init__(self, labels, out):
        self.out = out
        self.lock = threading.Lock()
        self.steps = {
            label: {
                "step": label.split(" ")[0],
                "variant": label.partition(" ")[2] or None,
                "status": WAITING,
                "seconds": None,
            }
            for label in labels
        }
        self.width = max(len(label) for label in labels)

    def set(self, label, status, seconds=None):
        with self.lock:
            step = self.steps.setdefault(
                label,
                {
                    "step": label.split(" ")[0],
                    "variant": label.partition(" ")[2] or None,
                    "status": WAITING,
                    "seconds": None,
                },
            )
            step["status"], step["seconds"] = status, seconds
            took = f" in {seconds:.1f} s" if seconds is not None and status == DONE else ""
            self.print(f"==> {label}: {status}{took}   [{self.overview()}]")

    def finish(self, reason_for_waiting):
        """Steps that never started (deploy of a model that was not blessed) are skipped."""
        for step in self.steps.values():
            if step["status"] == WAITING:
                step["status"], step["reason"] = SKIPPED, reason_for_waiting

    def overview(self):
        return ", ".join(f"{label} {step['status']}" for label, step in self.steps.items())

    def print(self, line):
        self.out.write(line + "\n")
        self.out.flush()

    def records(self):
        return [dict(step, name=label) for label, step in self.steps.items()]


def _label_of(task_name, task_spec, io_store):
    from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils

    try:
        arguments = OrchestratorUtils.make_task_arguments(task_inputs_spec=task_spec.inputs, io_store=io_store)
    except Exception:  # a name is a nicety: never fail a run over it
        arguments = {}
    variant = arguments.get("model_type")
    return (f"{task_name} {variant}" if isinstance(variant, str) and variant else task_name), variant


@contextlib.contextmanager
def track_steps(board, log_file):
    """Hook kfp.local (see the module docstring) for the duration of a run."""
    from kfp.local import logging_utils, task_dispatcher
    from kfp.local.orchestrator import task_executor

    original_execute = task_executor.execute_single_task
    original_dispatch = task_dispatcher.run_single_task_implementation
    original_context, original_indent = logging_utils.local_logger_context, logging_utils.indented_print

    def execute_single_task(*args, **kwargs):
        label, variant = _label_of(kwargs["task_name"], kwargs["task_spec"], kwargs["io_store"])
        if variant and _ITERATION.search(kwargs["pipeline_resource_name"]):
            kwargs["pipeline_resource_name"] = _ITERATION.sub(f"/variant-{variant}", kwargs["pipeline_resource_name"])
        _current.label, _current.executed = label, False
        board.set(label, RUNNING)
        started = time.monotonic()
        try:
            outputs, status = original_execute(*args, **kwargs)
        except BaseException:
            board.set(label, FAILED)
            raise
        finally:
            _current.label = None
        from kfp.local import status as kfp_status

        if status == kfp_status.Status.FAILURE:
            board.set(label, FAILED)
        else:
            board.set(label, DONE if _current.executed else CACHED, time.monotonic() - started)
        return outputs, status

    def run_single_task_implementation(*args, **kwargs):
        _current.executed = True
        return original_dispatch(*args, **kwargs)

    root = logging.getLogger()
    saved = root.level, root.handlers[:]

    class PlainFormatter(logging_utils.MillisecondFormatter):
        def format(self, record):  # kfp.local colours task names: not in a file
            return re.sub(r"\x1b\[[0-9;]*m", "", super().format(record))

    handler = logging.StreamHandler(log_file)
    handler.setFormatter(PlainFormatter(fmt="%(asctime)s - %(levelname)s - %(message)s", datefmt="%H:%M:%S.%f"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    task_executor.execute_single_task = execute_single_task
    task_dispatcher.run_single_task_implementation = run_single_task_implementation
    logging_utils.local_logger_context = contextlib.nullcontext
    logging_utils.indented_print = contextlib.nullcontext
    try:
        yield board
    finally:
        task_executor.execute_single_task = original_execute
        task_dispatcher.run_single_task_implementation = original_dispatch
        logging_utils.local_logger_context, logging_utils.indented_print = original_context, original_indent
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def _descendants(pid):
    """Every live process below `pid`, from /proc (Linux; elsewhere none are found)."""
    children = {}
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else ()):
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rpartition(")")[2].split()[:2]
        except OSError:
            continue
        if state != "Z":
            children.setdefault(int(ppid), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


@contextlib.contextmanager
def steps_stop_on_sigterm():
    """SIGTERM during the pipeline: kill the running steps' processes, then unwind (Terminated).

    kfp.local waits for its ParallelFor threads before letting an exception through, and
    those wait for their step processes, which do not stop by themselves: without this a
    SIGTERMed run would train to the end first. SIGKILL, because TensorFlow catches SIGTERM;
    every artifact is written atomically, so a killed step leaves nothing half-written.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""Keep `distml run`'s terminal readable: kfp.local relays every step's whole output (its
executor-input JSON, library banners, progress bars). Everything goes to the run's log file;
the terminal gets what distml itself logs (steps, workers, epochs), each line prefixed with
the step's name ("train cnn |"). The steps' states come from local_progress.StepBoard.

Step output arrives on the thread kfp.local runs that step on (ParallelFor iterations run
side by side), so the parsing state is kept per thread.
"""

import io
import re
import threading
from collections import deque

from distml.pipelines.kfp.local_progress import current_label

_EXECUTOR_LINE = re.compile(r"^\s*\[KFP Executor [^\]]* ([A-Z]+)\]: (.*)$")
_EXECUTOR_CHATTER = (
    "Looking for component",
    "Loading KFP component",
    "Wrote executor output",
    "Did not write output",
    "Got executor_input",
)
# A local worker's relayed line: "[worker 1] cnn | 20:54:44 INFO epoch 1/2: ..."
_WORKER_LINE = re.compile(r"^\s*\[worker (\d+)\] [^|]*\| (?:\d\d:\d\d:\d\d )?([A-Z]+ )?(.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What TensorFlow, TFDS (absl), matplotlib and uvicorn say at INFO/WARNING in a step's process.
_LIBRARY_CHATTER = (
    "absl::InitializeLog()",
    "oneDNN custom operations",
    "Load dataset info from",
    "Creating a tf.data.Dataset reading",
    "Constructing tf.data.Dataset",
    "Variant folder",
    "Generating dataset",
    "Reusing dataset",
    "Dataset ",
    "generated new fontManager",
    "Fields info.",
    "Skipping",
    "No config specified",
    "Overwrite dataset info",
)
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")


def strip_colors(text):
    return _ANSI.sub("", text)


def step_line(line):
    """What the terminal shows of one line of a step's output, or None (log file only)."""
    plain = strip_colors(line).rstrip()
    match = _EXECUTOR_LINE.match(plain)
    if match:
        level, message = match.groups()
        if message.startswith(_EXECUTOR_CHATTER) or message.startswith(_LIBRARY_CHATTER):
            return None
        return message if level == "INFO" else f"{level}: {message}"
    match = _WORKER_LINE.match(plain)
    if match:
        worker, level, message = match.groups()
        if not level or message.startswith(_LIBRARY_CHATTER):  # not a log line: a library's print or banner
            return None
        level = level.strip()
        return f"worker {worker}: {message}" if level == "INFO" else f"worker {worker}: {level}: {message}"
    return None


class _ThreadState:
    def __init__(self):
        self.pending = ""
        self.json_end = None  # the closing line of the executor-input JSON being skipped


class StepOutput(io.TextIOBase):
    """A stdout for the duration of a run: all to `log_file`, the readable part to `terminal`."""

    def __init__(self, terminal, log_file, width=0):
        self.terminal = terminal
        self.log_file = log_file
        self.width = width
        self._states = {}
        self._lock = threading.Lock()
        self._colors = terminal.isatty()
        self.errors_by_step = {}  # label -> the last error lines that step printed (for a one-line failure)

    def writable(self):
        return True

    def write(self, text):
        self.log_file.write(strip_colors(text))
        state = self._states.setdefault(threading.get_ident(), _ThreadState())
        state.pending += text
        *lines, state.pending = state.pending.split("\n")
        label = current_label()
        for line in lines:
            self._handle(state, label, line)
        return len(text)

    def flush(self):
        self.log_file.flush()
        self.terminal.flush()

    def _handle(self, state, label, line):
        plain = strip_colors(line)
        if state.json_end is not None:
            if plain.rstrip() == state.json_end:
                state.json_end = None
            return
        if "Got executor_input:" in plain:
            # The JSON dump that follows ends with a brace at the indentation of the line announcing it.
            state.json_end = plain[: len(plain) - len(plain.lstrip())] + "}"
            return
        error = _ERROR_LINE.match(plain)
        if error and label:
            self.errors_by_step.setdefault(label, deque(maxlen=3)).append((error.group(1), error.group(2).strip()))
        shown = step_line(line)
        if shown is None:
            return
        prefix = f"{label:<{self.width}} | " if label else ""
        with self._lock:
            self.terminal.write(prefix + shown + "\n")

    def last_error(self, label):
        """(exception class name, message) of the last error line `label`'s step printed, or None."""
        errors = self.errors_by_step.get(label)
        return errors[-1] if errors else None

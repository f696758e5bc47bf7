"""Keep `distml run`'s terminal readable: kfp.local prints every task's full executor input
(JSON) and output listing. Everything goes to a log file; the terminal gets task starts and
ends, cache hits, and what the components themselves log (step, worker, epoch)."""

import io
import re

_KFP_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} - [A-Z]+ - ")
_EXECUTOR_PREFIX = re.compile(r"\[KFP Executor [^\]]*\]: ")
_EXECUTOR_CHATTER = ("Looking for component", "Loading KFP component", "Wrote executor output", "Did not write output")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# TensorFlow's and TFDS's start-up chatter, printed by every worker process.
_LIBRARY_CHATTER = ("absl::InitializeLog()", "oneDNN custom operations", "Load dataset info from",
                    "Creating a tf.data.Dataset reading", "Constructing tf.data.Dataset")


def strip_colors(text):
    return _ANSI.sub("", text)


class KfpOutputFilter(io.TextIOBase):
    def __init__(self, terminal, log_file):
        self.terminal = terminal
        self.log_file = log_file
        self._pending = ""
        self._colors = terminal.isatty()
        self._json_end = None  # the closing line of the executor-input JSON being skipped
        self._in_outputs = False

    def writable(self):
        return True

    def write(self, text):
        self.log_file.write(strip_colors(text))
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            shown = self._show(line)
            if shown is not None:
                self.terminal.write((shown if self._colors else strip_colors(shown)) + "\n")
        return len(text)

    def flush(self):
        self.log_file.flush()
        self.terminal.flush()

    def _show(self, line):
        plain = strip_colors(line)
        if _KFP_LOG_LINE.match(plain):
            self._in_outputs = plain.rstrip().endswith("outputs:")
            self._json_end = None
            return None if self._in_outputs else line
        if self._in_outputs:
            return None
        if self._json_end is not None:
            if plain.rstrip() == self._json_end:
                self._json_end = None
            return None
        if "Got executor_input:" in plain:
            # The JSON dump ends with a brace at the indentation of the line announcing it.
            self._json_end = plain[: len(plain) - len(plain.lstrip())] + "}"
            return None
        if not plain.strip() or set(plain.strip()) == {"-"} or any(c in plain for c in _LIBRARY_CHATTER):
            return None
        if "[KFP Executor" in plain:
            message = _EXECUTOR_PREFIX.split(plain, maxsplit=1)[-1]
            return None if message.startswith(_EXECUTOR_CHATTER) else "    " + message
        return line

"""What libraries print to a distml command's terminal: their start-up banners and the
deprecation warnings addressed to their own developers go to the debug log (`distml -v`
shows them); everything else they say still reaches stderr.

TensorFlow's C++ side writes "oneDNN custom operations are on" (twice: two native
libraries, each with its own absl) straight to file descriptor 2 while it is imported,
before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not silence it.
`quiet_native_banners` points file descriptor 2 at a filter process for the duration of
that import only (whenever and by whichever library it happens). The filter passes every
other line on to the real stderr as it comes, so a library that aborts the import
("compiled to use AVX instructions, but these aren't available") is still heard; no
output after the import passes through it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from types import ModuleType

log = logging.getLogger("distml.console")

# Lines a library writes to fd 2 while it is imported that say nothing a user can act on.
NATIVE_BANNERS = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)
NOISY_IMPORTS = ("tensorflow",)


# The filter: banner lines to its stdout (a file the importer logs at debug level once the
# import is done), every other line to its stderr, the importer's real one, at once.
_FILTER = """
import sys
banners = sys.argv[1:]
for line in sys.stdin.buffer:
    out = sys.stdout if any(b.encode() in line for b in banners) else sys.stderr
    out.buffer.write(line)
    out.flush()
"""
FILTER_EXIT_TIMEOUT_S = 30


class _FilteringLoader(importlib.abc.Loader):
    """The module's own loader, with file descriptor 2 through the filter while it executes."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        sys.stderr.flush()
        with tempfile.TemporaryFile() as banners:
            # Started before fd 2 moves: its stderr is the real one.
            filter_process = subprocess.Popen(
                [sys.executable, "-c", _FILTER, *NATIVE_BANNERS], stdin=subprocess.PIPE, stdout=banners
            )
            saved = os.dup(2)
            os.dup2(filter_process.stdin.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                filter_process.stdin.close()  # its end of input: it passes on the rest and exits
                try:
                    filter_process.wait(timeout=FILTER_EXIT_TIMEOUT_S)
                except subprocess.TimeoutExpired:  # a process started meanwhile holds the pipe
                    filter_process.kill()
                    filter_process.wait()
                module.__loader__ = self.loader  # the real loader from now on (resources, reloads)
                if module.__spec__ is not None:
                    module.__spec__.loader = self.loader
                banners.seek(0)
                for line in banners.read().decode(errors="replace").splitlines():
                    log.debug("%s", line)


class _NoisyImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        # Libraries also look modules up without importing them (importlib.util.find_spec):
        # only executing the module counts.
        self.names.discard(name)
        try:
            spec = importlib.util.find_spec(name)  # the finders after this one
        finally:
            self.names.add(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteringLoader(spec.loader)
        return spec


def quiet_native_banners(names: tuple[str, ...] = NOISY_IMPORTS) -> None:
    """From now on, the first import of each module in `names` runs with fd 2 filtered
    (see the module docstring). Nothing is imported here: a command that never imports
    TensorFlow (or an image without it) is not slowed down."""
    pending = tuple(name for name in names if name not in sys.modules)
    if pending and not any(isinstance(finder, _NoisyImportFinder) for finder in sys.meta_path):  # once per process
        sys.meta_path.insert(0, _NoisyImportFinder(pending))


def _is_deprecation(category: type[Warning]) -> bool:
    return issubclass(category, (DeprecationWarning, PendingDeprecationWarning)) or "Deprecation" in category.__name__


def log_library_warnings() -> None:
    """Python warnings as log lines: deprecations (FastAPI's about the ORJSONResponse that
    KServe uses, for one) at debug level, any other warning at warning level."""

    def show(message, category, filename, lineno, file=None, line=None):
        level = logging.DEBUG if _is_deprecation(category) else logging.WARNING
        log.log(level, "%s (%s:%s: %s)", message, filename, lineno, category.__name__)

    warnings.showwarning = show

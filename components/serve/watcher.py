"""Hot swap: keep the newest loadable version of <repo>/<model_name>/ in memory.

A background thread polls the repository (and wakes early on `wake()`, which the server
calls on SIGHUP). A newer version is loaded and checked beside the one being served, then
swapped in with one reference assignment, so requests already running finish on the old
model and later ones use the new one. A version that fails to load is logged and skipped
until its files change; the old model keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from distml.components.common.model_artifact import is_version_dir, list_versions
from distml.components.serve.loaded_model import LoadedModel, ModelLoadError, load_version

log = logging.getLogger("distml.serve")


def newest_complete_version(repo: Path | str, model_name: str) -> int | None:
    for version in reversed(list_versions(repo, model_name)):
        if is_version_dir(Path(repo) / model_name / str(version)):
            return version
    return None


def files_fingerprint(directory: Path | str) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of every file: changes when a version is re-copied or finishes copying."""
    entries = []
    for path in sorted(Path(directory).rglob("*")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class VersionWatcher:
    def __init__(
        self,
        repo: Path | str,
        model_name: str,
        poll_interval_s: float = 2.0,
        on_swap: Callable[[LoadedModel], None] | None = None,
        warmup_batch_sizes: Iterable[int] = (),
    ) -> None:
        self.repo = Path(repo)
        self.model_name = model_name
        self.poll_interval_s = poll_interval_s
        self.on_swap = on_swap
        self.warmup_batch_sizes = warmup_batch_sizes  # run on a new version before it is swapped in
        self.current = None  # the LoadedModel being served; replaced, never mutated
        self._failed = {}  # version -> fingerprint of its files when loading failed
        self._load_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None

    def refresh(self) -> bool:
        """Load the newest complete version if it is not the one served. True if it swapped."""
        with self._load_lock:
            version = newest_complete_version(self.repo, self.model_name)
            if version is None or (self.current is not None and version == self.current.version):
                return False
            version_dir = self.repo / self.model_name / str(version)
            fingerprint = files_fingerprint(version_dir)
            if self._failed.get(version) == fingerprint:
                return False
            try:
                model = load_version(version_dir, version, self.warmup_batch_sizes)
            except ModelLoadError as e:
                self._failed[version] = fingerprint
                serving = f"still serving version {self.current.version}" if self.current else "nothing to serve yet"
                log.error("version %d of %s failed to load (%s): %s", version, self.model_name, serving, e)
                return False
            previous, self.current = self.current, model
            self._failed.pop(version, None)
            if previous is None:
                log.info("serving %s version %d from %s", self.model_name, version, version_dir)
            else:
                log.info("switched %s from version %d to version %d", self.model_name, previous.version, version)
            if self.on_swap:
                self.on_swap(model)
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="distml-version-watcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _poll(self):
        while not self._stopping.is_set():
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.refresh()
            except Exception:  # a watcher bug must not stop serving the current version
                log.exception("checking %s for new versions failed", self.repo / self.model_name)

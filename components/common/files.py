"""File helpers: content hashes, outputs that appear complete or not at all, and temporaries
that the next run can tell apart from ones still in use.

Every temporary this module makes is owned: beside it lies `<temporary>.owner`, locked
(flock) by the writing process for as long as it works and naming the kernel it runs on.
A temporary whose owner lock is free was left by a process that died (SIGKILL, OOM, node
loss); `remove_stale_temporaries` removes those, never one whose owner still holds its
lock. Where the owner ran on another kernel (a pod on another node sharing the volume),
a free lock is only trusted once the temporary is older than STALE_AFTER_S, since not
every network filesystem carries locks between hosts.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from distml.components.common.errors import UsageError

TMP_MARK = ".tmp-"
OWNER_SUFFIX = ".owner"
STALE_AFTER_S = 3600.0  # a free owner lock from another kernel is trusted after this long


def sha256_file(path: Path | str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


def temporary_name(final_name: str) -> str:
    """A hidden name for a temporary of `final_name`: `.<final_name>.tmp-<random>`."""
    return f".{final_name}{TMP_MARK}{uuid.uuid4().hex[:12]}"


def is_temporary_name(name: str) -> bool:
    return name.startswith(".") and TMP_MARK in name and not name.endswith(OWNER_SUFFIX)


@contextlib.contextmanager
def owned_temporary(path: Path | str, *, directory: bool = True) -> Iterator[Path]:
    """Create `path` (a directory, or nothing when `directory` is False: the caller creates a
    file there) with its locked owner file; remove both on every exit this process sees."""
    path = Path(path)
    owner = path.with_name(path.name + OWNER_SUFFIX)
    fd = os.open(owner, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({"boot_id": _boot_id(), "pid": os.getpid(), "host": socket.gethostname()}).encode())
        if directory:
            path.mkdir()
        try:
            yield path
        finally:
            _remove(path)
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        os.close(fd)


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _age_s(path):
    try:
        return time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def remove_stale_temporaries(
    folder: Path | str, match: Callable[[str], bool] = is_temporary_name, stale_after_s: float = STALE_AFTER_S
) -> list[Path]:
    """Remove the temporaries in `folder` (names for which `match` is true) whose writer is
    gone; return the paths removed. Safe while other processes write there."""
    folder = Path(folder)
    try:
        names = [p.name for p in folder.iterdir()]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    removed = []
    for name in names:
        if name.endswith(OWNER_SUFFIX) or not match(name):
            continue
        path = folder / name
        owner = folder / (name + OWNER_SUFFIX)
        try:
            fd = os.open(owner, os.O_RDONLY)
        except FileNotFoundError:
            # No owner: written by a version without owner files, or its owner was removed
            # first by a cleanup that died. Only age tells.
            if _age_s(path) > stale_after_s:
                _remove(path)
                removed.append(path)
            continue
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue  # its writer is alive
                raise
            try:
                info = json.loads(os.read(fd, 4096) or b"{}")
            except ValueError:
                info = {}
            same_kernel = info.get("boot_id") == _boot_id()
            if same_kernel or _age_s(owner) > stale_after_s:
                _remove(path)
                with contextlib.suppress(OSError):
                    owner.unlink()
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def _entries(folder):
    return [p for p in Path(folder).iterdir() if not (p.name.startswith(".") and TMP_MARK in p.name)]


def check_output_dir(path: Path | str, *, what: str = "output", replace_existing: bool = False) -> None:
    """Fail in one line before any work if `path` cannot become an output directory: it must
    be absent or an empty directory (stale temporaries aside; any directory with
    `replace_existing`), and writable."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise UsageError(f"{what} {path} exists and is not a directory")
        remove_stale_temporaries(path)
        if _entries(path) and not replace_existing:
            raise UsageError(f"{what} {path} is not empty; choose a new one")
        probe_dir = path
    else:
        probe_dir = path.parent
        try:
            probe_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{what} {path} cannot be created: {e.strerror or e}") from None
    check_writable(probe_dir, what=f"{what} {path}")


def check_writable(folder: Path | str, *, what: str | None = None) -> None:
    """Create and remove a file in `folder`: the one test a read-only mount cannot pass."""
    folder = Path(folder)
    probe = folder / temporary_name("write-probe")
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"{what or folder} is not writable here ({folder}: {e.strerror or e})") from None


@contextlib.contextmanager
def atomic_directory(
    final_path: Path | str, *, last: str | None = None, replace_existing: bool = False
) -> Iterator[Path]:
    """Yield a staging directory whose content appears at `final_path` complete or not at all.

    - `final_path` absent: the staging directory is a hidden sibling, renamed into place.
    - `final_path` an empty directory (a mount point, or one an orchestrator created): it is
      never renamed over or removed. The staging directory is hidden inside it (the same
      filesystem), and its entries are moved in one by one, `last` (the file whose presence
      says the output is complete) at the end. A failure removes whatever was moved in.
      With `replace_existing` it may hold an earlier output: `last` is removed first, then
      each entry replaces its namesake.
    Stale temporaries of earlier, killed writers are removed first.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    in_place = final_path.is_dir()
    if in_place:
        remove_stale_temporaries(final_path)
        if _entries(final_path) and not replace_existing:
            raise UsageError(f"{final_path} is not empty; choose a new output")
        staging_path = final_path / temporary_name("staging")
    else:
        remove_stale_temporaries(final_path.parent, match=lambda name: name.startswith(f".{final_path.name}{TMP_MARK}"))
        staging_path = final_path.parent / temporary_name(final_path.name)
    with owned_temporary(staging_path) as staging:
        yield staging
        if not in_place:
            os.rename(staging, final_path)
            return
        names = sorted(p.name for p in staging.iterdir())
        if last in names:
            names.remove(last)
            names.append(last)
        if last and replace_existing:
            _remove(final_path / last)  # the earlier output is no longer complete
        moved = []
        try:
            for name in names:
                if replace_existing and (final_path / name).is_dir():
                    _remove(final_path / name)
                os.replace(staging / name, final_path / name)
                moved.append(final_path / name)
        except BaseException:
            for path in reversed(moved):
                _remove(path)
            raise


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write a file via a temporary sibling and rename, so readers never see half of it."""
    path = Path(path)
    tmp = path.parent / temporary_name(path.name)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise

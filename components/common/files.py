"""File helpers: content hashes and directories that appear complete or not at all."""

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path


def sha256_file(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_directory(final_path):
    """Yield a temporary sibling directory; rename it to `final_path` only if the block succeeds.

    A failed or interrupted write leaves nothing at `final_path` (an empty directory that
    an orchestrator created for the output is replaced; a non-empty one is an error the
    caller must handle first).
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = final_path.parent / f".{final_path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final_path.is_dir() and not any(final_path.iterdir()):
            final_path.rmdir()
        os.rename(tmp, final_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path, text):
    """Write a file via a temporary sibling and rename, so readers never see half of it."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(text)
    os.replace(tmp, path)

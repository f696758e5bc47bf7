"""A real mount point for output tests: tmpfs, as an orchestrator's volume would be one.
Needs root (`mount -t tmpfs`); callers skip cleanly where it is not permitted."""

import contextlib
import subprocess

import pytest


@contextlib.contextmanager
def tmpfs(path, *options):
    path.mkdir(parents=True, exist_ok=True)
    args = ["mount", "-t", "tmpfs", *(["-o", ",".join(options)] if options else []), "tmpfs", str(path)]
    try:
        mounted = subprocess.run(args, capture_output=True, text=True).returncode == 0
    except FileNotFoundError:
        mounted = False
    if not mounted:
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)

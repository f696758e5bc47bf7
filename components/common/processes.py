"""Process lifetimes: SIGTERM as an exception, children that do not outlive their parent.

The kernel's part (prctl) is Linux only; elsewhere `die_with_parent` is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so `finally` blocks stop children and clean up."""


def raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # resolved before any fork: the child may only make the call


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A Popen `preexec_fn`: the child gets `signum` when the thread that started it ends
    (its supervisor killed, even by SIGKILL), instead of running on as an orphan."""
    if _PRCTL is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _PRCTL(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call
            os.kill(os.getpid(), signum)

    return preexec

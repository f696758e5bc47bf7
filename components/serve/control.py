"""The local control file `<repo>/<model>/.distml-serve.json` and the SIGHUP sent through it.

A running `distml serve` records who it is (pid, the process's start time, boot id and
command line from /proc, its ports and the version it serves); `distml deploy --target
local` reads the record and signals the server to check the repository now. A record is
believed only when the process it names is that server: same boot, same start time, same
command line. Anything else (a SIGKILLed server's leftover, a reused pid)
is stale: ignored and removed. The signal goes through a pidfd opened before the check, so
the pid cannot be recycled between the check and the signal.

Linux only (/proc, pidfd); stdlib only (the deploy core imports this).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from distml.components.common.files import write_text_atomic

if TYPE_CHECKING:
    from distml.components.serve.loaded_model import LoadedModel

log = logging.getLogger("distml.serve")

STATE_FILE = ".distml-serve.json"


def state_path(repo: Path | str, model_name: str) -> Path:
    return Path(repo) / model_name / STATE_FILE


def process_identity(pid: int) -> dict[str, object] | None:
    """{"boot_id", "start_ticks", "cmdline"} of a running process, or None if there is none."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().decode(errors="replace")
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, ValueError):
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces, so count after its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return {"boot_id": boot_id, "start_ticks": int(fields[19]), "cmdline": cmdline.split("\0")}


def _is_that_server(state):
    identity = process_identity(state["pid"])
    return identity is not None and all(state.get(key) == value for key, value in identity.items())


def read_server_state(repo: Path | str, model_name: str) -> dict[str, object] | None:
    """The record of the live `distml serve` on this model, or None; a stale record is removed."""
    path = state_path(repo, model_name)
    try:
        text = path.read_text()
        state = json.loads(text)
        if not isinstance(state, dict) or not isinstance(state.get("pid"), int):
            raise ValueError("no pid")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s (%s)", path, e)
        return None
    if _is_that_server(state):
        return state
    log.info("removing stale %s: pid %s is not the distml serve that wrote it", path, state["pid"])
    try:
        if path.read_text() == text:  # a server that started meanwhile may have rewritten it
            path.unlink()
    except OSError:
        pass
    return None


def signal_server(state: Mapping[str, object], signum: int = signal.SIGHUP) -> bool:
    """Send `signum` to the server `state` names, if it still is that server. True if sent."""
    try:
        pidfd = os.pidfd_open(int(state["pid"]))
    except ProcessLookupError:
        return False
    try:
        if not _is_that_server(state):  # checked after pidfd_open: the fd pins this very process
            return False
        signal.pidfd_send_signal(pidfd, signum)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


class ServerState:
    """Best-effort record of this server (a read-only repository mount just skips it)."""

    def __init__(self, repo: Path | str, model_name: str, host: str, http_port: int, grpc_port: int) -> None:
        self.path = state_path(repo, model_name)
        self.fields = {
            "pid": os.getpid(),
            **(process_identity(os.getpid()) or {}),
            "model_name": model_name,
            "host": host,
            "http_port": http_port,
            "grpc_port": grpc_port,
        }

    def update(self, model: LoadedModel) -> None:
        self.fields.update(serving_version=model.version, switched_at=time.time())
        try:
            write_text_atomic(self.path, json.dumps(self.fields, indent=2) + "\n")
        except OSError as e:
            log.debug("not recording server state in %s: %s", self.path, e)

    def remove(self) -> None:
        try:
            if json.loads(self.path.read_text()).get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass

"""`distml request-sink` refuses what it cannot run with in one line naming the flag, at start
(not in a request's thread at the first event, nor as a bind traceback)."""

import socket

from distml.components.common.ports import free_ports
from tests.conftest import run_cli


def sink_error(*flags):
    result = run_cli("request-sink", *flags, check=False, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("distml request-sink: error: "), line
    return line.removeprefix("distml request-sink: error: ")


def test_flags_it_cannot_run_with_are_one_line_naming_the_flag(tmp_path):
    logs = tmp_path / "logs"
    assert sink_error("--log-dir", logs, "--max-bytes", "10") == "--max-bytes must be at least 1024, got 10"
    assert sink_error("--log-dir", logs, "--backups", "-1") == "--backups must be 0 or more, got -1"
    assert sink_error("--log-dir", logs, "--port", "70000") == (
        "--port must be between 0 (any free port) and 65535, got 70000"
    )
    (tmp_path / "a-file").write_text("")
    assert sink_error("--log-dir", tmp_path / "a-file" / "logs").startswith(
        f"--log-dir {tmp_path / 'a-file' / 'logs'}: cannot create it ("
    )
    (port,) = free_ports(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        assert sink_error("--log-dir", logs, "--host", "127.0.0.1", "--port", port) == (
            f"--port {port}: cannot listen on 127.0.0.1:{port} (in use); pass another --port or --host"
        )

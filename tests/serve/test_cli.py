"""`distml serve` refuses flags it cannot serve with in one line naming the flag, before it
starts TensorFlow and KServe (whose own failure was a traceback per server)."""

import socket

import pytest

from distml.components.common.ports import free_ports
from tests.conftest import run_cli


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "repo" / "digits").mkdir(parents=True)
    return tmp_path / "repo"


def serve_error(repo, *flags):
    result = run_cli("serve", "--repo", repo, "--model-name", "digits", *flags, check=False, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("distml serve: error: "), line
    return line.removeprefix("distml serve: error: ")


def test_a_port_in_use_names_its_flag(repo):
    http_port, grpc_port = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", grpc_port))
        taken.listen()
        error = serve_error(repo, "--http-port", http_port, "--grpc-port", grpc_port)
    assert (
        error == f"--grpc-port {grpc_port}: cannot listen on 127.0.0.1:{grpc_port} (in use); pass another --grpc-port"
    )


def test_ports_out_of_range_or_the_same_and_a_foreign_host(repo):
    assert serve_error(repo, "--http-port", "70000") == "--http-port must be between 1 and 65535, got 70000"
    assert serve_error(repo, "--grpc-port", "0") == "--grpc-port must be between 1 and 65535, got 0"
    assert serve_error(repo, "--http-port", "9000", "--grpc-port", "9000") == (
        "--http-port and --grpc-port are both 9000: give them different ports"
    )
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it.
    assert serve_error(repo, "--host", "192.0.2.1").startswith("--host 192.0.2.1: cannot listen there (")

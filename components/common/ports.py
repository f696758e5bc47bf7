"""The model server's ports (the same on a laptop and in an InferenceService) and free TCP
ports on localhost, for local worker groups and servers."""

import errno
import socket

MAX_PORT = 65535

HTTP_PORT = 8080  # REST, V1 and V2: the port KServe routes to
GRPC_PORT = 8081  # V2 gRPC: KServe's gRPC port


def free_ports(count: int) -> list[int]:
    """Ports the OS hands out as free now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def bind_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port now ("in use", "not an address here"), or
    None. SO_REUSEADDR as uvicorn and gRPC set it: a port left in TIME_WAIT is free to them."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        return f"not an address: {e.strerror}"
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return "in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
    return None

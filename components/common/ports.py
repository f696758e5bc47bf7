"""The model server's ports (the same on a laptop and in an InferenceService) and free TCP
ports on localhost, for local worker groups and servers."""

import socket

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

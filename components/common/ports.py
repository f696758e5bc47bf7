"""Free TCP ports on localhost, for local worker groups and servers."""

import socket


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

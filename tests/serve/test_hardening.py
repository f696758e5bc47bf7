"""`distml serve` against hostile clients: binding, oversized bodies and messages, a
decompression bomb, stalled clients, large client batches, a stale control file, and
(last: it takes the model away) the repository extension when explicitly enabled.
Memory is the server process's own (VmRSS / VmHWM from /proc) before and after."""

import asyncio
import base64
import json
import socket
import struct
import subprocess
import threading
import time
import urllib.request
import zlib

import numpy as np
import pytest

from distml.components.deploy.core import deploy_local
from tests.serve.conftest import local_predictions, make_repo
from tests.serve.server import Server

MODEL = "digits"
MAX_BODY = 2**20
CLIENT_TIMEOUT_S = 2
MODEL_BATCH = 16


def start_server(trained_models, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo"), MODEL, trained_models["cnn"])
    return Server(
        repo,
        MODEL,
        tmp_path_factory.mktemp("logs") / "serve.log",
        max_batch_size=1024,
        extra_args=[
            "--max-body-bytes",
            MAX_BODY,
            "--client-timeout",
            CLIENT_TIMEOUT_S,
            "--model-batch-size",
            MODEL_BATCH,
            "--enable-repository-extension",
        ],
    )


@pytest.fixture(scope="module")
def server(trained_models, tmp_path_factory):
    server = start_server(trained_models, tmp_path_factory)
    yield server
    server.stop()


def _png_bomb(side=12000):
    """A valid grayscale PNG of side x side black pixels: ~150 KB on the wire, side² bytes decoded."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), b"\0" * (side + 1)  # filter byte + pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_binds_only_the_host_it_is_given(server):
    for port in (server.http_port, server.grpc_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with pytest.raises(ConnectionRefusedError):  # another loopback address of this machine
            socket.create_connection(("127.0.0.2", port), timeout=5).close()


def test_decompression_bomb_is_refused_from_its_header(server):
    bomb = base64.b64encode(_png_bomb()).decode()
    body = {"instances": [{"b64": bomb}]}
    rss_before, peak_before = server.memory_mb()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(server.post(f"/v1/models/{MODEL}:predict", body)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss_after, peak_after = server.memory_mb()
    print(
        f"bomb ({len(bomb)} B, 2 at once): server RSS {rss_before:.0f} -> {rss_after:.0f} MB, "
        f"peak {peak_before:.0f} -> {peak_after:.0f} MB"
    )
    assert [status for status, _ in results] == [400, 400], results
    assert all(
        "12000x12000 image is larger" in body["error"] and "--max-image-pixels" in body["error"] for _, body in results
    )
    assert peak_after - peak_before < 50  # decoding would take 144 MB, 720 MB as float32


def _post_streaming(port, head, chunks):
    """Send the headers, stream the body from another thread, return the first bytes of the answer
    (the server may answer and close before the body is through)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)

        def send_body():
            try:
                for chunk in chunks:
                    s.sendall(chunk)
            except OSError:
                pass

        sender = threading.Thread(target=send_body)
        sender.start()
        answer = s.recv(4096)
        try:
            s.shutdown(socket.SHUT_RDWR)  # ends a sender still blocked in sendall
        except OSError:
            pass  # the server has closed (or reset) the connection already
        sender.join()
        return answer


def test_oversized_bodies_get_413_before_they_are_read(server):
    # A valid V1 body of ~40 MB: parsing it would cost hundreds of MB before any check.
    image = json.dumps([[[255]] * 28] * 28)
    body = ('{"instances": [' + ", ".join([image] * 8000) + "]}").encode()
    head = (
        f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    rss_before, peak_before = server.memory_mb()
    start = time.monotonic()
    answer = _post_streaming(server.http_port, head, [body[i : i + 2**20] for i in range(0, len(body), 2**20)])
    seconds = time.monotonic() - start
    rss_after, peak_after = server.memory_mb()
    print(
        f"{len(body) / 2**20:.0f} MB body: answered in {seconds:.2f} s; server RSS {rss_before:.0f} -> {rss_after:.0f} MB, "
        f"peak {peak_before:.0f} -> {peak_after:.0f} MB"
    )
    assert answer.startswith(b"HTTP/1.1 413") and b"--max-body-bytes" in answer, answer
    assert peak_after - peak_before < 20

    # Chunked (no Content-Length): cut off once past the limit.
    head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    chunk = b"x" * 65536
    answer = _post_streaming(
        server.http_port, head, [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (4 * MAX_BODY // len(chunk))
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer

    # gRPC: the same limit on messages.
    import grpc
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    pixels = InferInput("images", [2048, 28, 28, 1], "UINT8")
    pixels.set_data_from_numpy(np.zeros((2048, 28, 28, 1), np.uint8))  # 1.6 MB

    async def call():
        client = InferenceGRPCClient(server.grpc_url, retries=0)
        try:
            await client.infer(InferRequest(MODEL, [pixels]))
        finally:
            await client.close()

    with pytest.raises(grpc.RpcError) as refused:
        asyncio.run(call())
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _read_until_closed(sock):
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_stalled_clients_are_dropped(server):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=CLIENT_TIMEOUT_S + 10) as stalled_body:
        stalled_body.sendall(
            f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"instances"'.encode()
        )
        assert _read_until_closed(stalled_body).startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=CLIENT_TIMEOUT_S + 10) as stalled_headers:
        stalled_headers.sendall(b"POST /v1/models/digits:pre")
        assert _read_until_closed(stalled_headers) == b""
    assert time.monotonic() - started < 2 * CLIENT_TIMEOUT_S + 8
    assert "request body not received within" in server.log()
    assert "request headers not received within" in server.log()


def _model_calls(server):
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("distml_model_call_images_")
    }
    return values["distml_model_call_images_count"], values["distml_model_call_images_sum"]


def test_large_client_batches_are_split_and_concurrent_requests_merged(server, trained_models, test_images):
    images = np.concatenate([test_images[0]] * 4)[:100]
    calls_before, images_before = _model_calls(server)
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": images.astype(int).tolist()})
    assert status == 200, body
    assert [p["class_id"] for p in body["predictions"]] == local_predictions(trained_models["cnn"], images).tolist()
    calls, sent = _model_calls(server)
    assert (calls - calls_before, sent - images_before) == (-(-100 // MODEL_BATCH), 100)  # 7 calls of at most 16

    one_image = {"instances": images[:1].astype(int).tolist()}
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(server.post(f"/v1/models/{MODEL}:predict", one_image)))
        for _ in range(24)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [200] * 24
    calls_after, _ = _model_calls(server)
    assert calls_after - calls < 24  # some requests shared a model call


def test_stale_control_file_is_ignored_and_removed(trained_models, tmp_path):
    """A SIGKILLed server's file naming a pid now used by another process: no signal, file removed."""
    repo = make_repo(tmp_path, MODEL, trained_models["cnn"])
    bystander = subprocess.Popen(["sleep", "60"])  # SIGHUP would terminate it
    try:
        state_file = repo / MODEL / ".distml-serve.json"
        state_file.write_text(
            json.dumps(
                {"pid": bystander.pid, "http_port": 1, "grpc_port": 2, "model_name": MODEL, "serving_version": 1}
            )
        )
        result = deploy_local(repo, MODEL)
        time.sleep(0.2)
        assert bystander.poll() is None
        assert result["server"] is None
        assert not state_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_enabled_repository_extension_unload_makes_the_server_unhealthy(trained_models, tmp_path_factory):
    """With the extension on (an explicit choice), an unload must show in the probes. A server
    of its own: the unload would take the model from the other tests (they run in any order)."""
    server = start_server(trained_models, tmp_path_factory)
    try:
        _unload_shows_in_the_probes(server)
    finally:
        server.stop()


def _unload_shows_in_the_probes(server):
    assert server.get("/v2/health/live")[0] == 200
    assert server.post(f"/v2/repository/models/{MODEL}/unload", {})[0] == 200
    assert server.get("/v2/health/live")[0] == 503
    assert server.get("/v2/health/ready")[0] == 503

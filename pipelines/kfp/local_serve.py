"""`distml run --serve`: start `distml serve` on the model `distml run` pushed and send it one
real test image, so the whole path from dataset to prediction is shown working."""

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from distml.components.common.errors import DistmlError
from distml.components.common.ports import free_ports
from distml.components.common.processes import die_with_parent

READY_TIMEOUT_S = 120


def start_server(model_repo, model_name, http_port, grpc_port):
    command = [sys.executable, "-m", "distml", "serve", "--repo", str(model_repo), "--model-name", model_name,
               "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    server = subprocess.Popen(command, preexec_fn=die_with_parent(signal.SIGTERM))  # gracefully, with distml run
    try:
        wait_until_ready(server, f"http://127.0.0.1:{http_port}/v2/models/{model_name}/ready")
    except BaseException:  # not ready, or interrupted meanwhile: leave no server behind
        server.kill()
        server.wait()
        raise
    return server


def wait_until_ready(server, url):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DistmlError(f"distml serve exited with status {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise DistmlError(f"distml serve was not ready within {READY_TIMEOUT_S} s")


def one_test_image(dataset_dir):
    """The first image of the test split and its label."""
    from distml.components.ingest.reader import read_split

    images, labels = next(iter(read_split(dataset_dir, "test", batch_size=1, shuffle=False)))
    return images.numpy()[0], int(labels.numpy()[0])


def predict_v1(http_port, model_name, image):
    body = json.dumps({"instances": [image.tolist()]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v1/models/{model_name}:predict", data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())

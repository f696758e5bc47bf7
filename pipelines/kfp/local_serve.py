"""`distml run --serve`: start `distml serve` on the model `distml run` pushed and send it one
real test image, so the whole path from dataset to prediction is shown working."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from distml.components.common.errors import DistmlError
from distml.components.common.ports import GRPC_PORT, HTTP_PORT, bind_problem, free_ports
from distml.components.common.processes import die_with_parent
from distml.components.serve import spec as serve_spec

READY_TIMEOUT_S = 120
DEFAULT_PORTS = (HTTP_PORT, GRPC_PORT)


def serve_plan(model_repo, model_name):
    """The command to serve the model and the ports it names: 8080/8081 when free, else two free ones."""
    from distml.components.deploy.core import serve_command

    http_port, grpc_port = (
        DEFAULT_PORTS if not any(bind_problem(serve_spec.DEFAULTS.host, p) for p in DEFAULT_PORTS) else free_ports(2)
    )
    return {
        "command": serve_command(model_repo, model_name, http_port, grpc_port),
        "http_port": http_port,
        "grpc_port": grpc_port,
    }


def record(summary, workdir):
    """Rewrite last-run.json with what was added to the summary after the pipeline."""
    (Path(workdir).resolve() / "last-run.json").write_text(json.dumps(summary, indent=2) + "\n")


def start_server(model_repo, model_name, http_port, grpc_port, log_path):
    """`distml serve` in the background, its output (banners, warnings, access log) into `log_path`."""
    command = [
        sys.executable,
        "-m",
        *serve_spec.serve_command(str(model_repo), model_name, http_port=http_port, grpc_port=grpc_port),
    ]
    with open(log_path, "a") as log:
        log.write(f"\n--- {' '.join(command)}\n")
        log.flush()
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGTERM)
        )  # gracefully, with distml run
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
            raise DistmlError(
                f"distml serve exited with status {server.returncode} before it was ready; its output is in the run's log"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise DistmlError(f"distml serve was not ready within {READY_TIMEOUT_S} s")


def one_test_image(dataset_dir, log_path):
    """The first image of the test split and its label (TensorFlow's start-up banner to `log_path`)."""
    with native_output_to(log_path):
        from distml.components.ingest.reader import read_split

        images, labels = next(iter(read_split(dataset_dir, "test", batch_size=1, shuffle=False)))
    return images.numpy()[0], int(labels.numpy()[0])


@contextlib.contextmanager
def native_output_to(log_path):
    """Send what C++ libraries write straight to file descriptor 2 (TensorFlow's and oneDNN's
    banners) to the log file for a while; Python's sys.stderr is left alone."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log_path, "a") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def predict_v1(http_port, model_name, image):
    body = json.dumps({"instances": [image.tolist()]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v1/models/{model_name}:predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())

"""The loop on a laptop, end to end through a real server (issue #21): `distml serve
--request-log` answers in-distribution traffic (PNG and pixel requests) and the monitor on
its log finds no drift; inverted digits drift and the monitor says retrain; the local retrain
path (select against the served model as baseline, push) makes the running server switch
to the new version, whose traffic the log then records. test_monitor.py covers the monitor
on logs written without a server."""

import base64
import io
import time

import numpy as np
import pytest

from benchmarks.drift_shifts import load_split
from distml.components.monitor.core import monitor
from tests.serve.conftest import make_repo
from tests.serve.server import Server

MODEL = "digits"
N = 240  # images per phase: above the monitor's --min-samples 200
BATCH = 12


def _png_b64(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)[..., 0]).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _send(server, images):
    """Half the requests as V1 pixel arrays, half as V2 PNGs; the versions that answered."""
    versions = set()
    for i, start in enumerate(range(0, len(images), BATCH)):
        chunk = images[start : start + BATCH]
        if i % 2:
            pngs = [_png_b64(image) for image in chunk]
            body = {"inputs": [{"name": "images", "shape": [len(pngs)], "datatype": "BYTES", "data": pngs}]}
            status, answer = server.post(f"/v2/models/{MODEL}/infer", body)
        else:
            status, answer = server.post(f"/v1/models/{MODEL}:predict", {"instances": chunk.astype(int).tolist()})
        assert status == 200, answer
        versions.add(answer["model_version"])
    return versions


def _collect(log_dir, requests, into):
    """Wait for the server's background writer to log `requests` requests, then move the log
    into `into` (the server appends to a fresh file: the next phase is logged apart)."""
    path = log_dir / "requests.jsonl"
    deadline = time.monotonic() + 30
    while not (path.exists() and len(path.read_text().splitlines()) >= requests):
        assert time.monotonic() < deadline, f"{path}: not {requests} requests logged after 30 s"
        time.sleep(0.1)
    into.mkdir()
    path.rename(into / "requests.jsonl")
    return into


@pytest.fixture(scope="module")
def server(trained_models, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo"), MODEL, trained_models["cnn"])
    logs = tmp_path_factory.mktemp("logs")
    server = Server(repo, MODEL, logs / "serve.log", max_batch_size=64, extra_args=["--request-log", logs / "requests"])
    server.repo, server.request_log = repo, logs / "requests"
    yield server
    server.stop()


def test_served_traffic_is_monitored_and_drift_leads_to_a_new_served_version(
    server, digits_dataset, trained_models, tmp_path
):
    from distml.components.select.core import select_models

    images, _ = load_split(digits_dataset, "test")  # 360 images neither reference saw
    sample = images[np.random.default_rng(0).permutation(len(images))[:N]].astype(np.float32)
    requests = -(-N // BATCH)

    assert _send(server, sample) == {"1"}
    report = monitor(
        digits_dataset,
        model=trained_models["cnn"],
        request_logs=[_collect(server.request_log, requests, tmp_path / "in-distribution")],
    )
    assert report["status"] == "no drift" and report["retrain"] is False, report["reason"]
    assert report["current"]["num_images"] == report["current"]["num_predictions"] == N
    assert report["current"]["num_requests"] == requests and report["current"]["versions"] == {"1": N}

    assert _send(server, 255.0 - sample) == {"1"}  # inverted digits
    report = monitor(
        digits_dataset,
        model=trained_models["cnn"],
        request_logs=[_collect(server.request_log, requests, tmp_path / "inverted")],
        output_dir=tmp_path / "monitor",
    )
    assert report["status"] == "drift" and report["retrain"] is True, report["reason"]
    assert {"brightness", "ink_fraction"} <= set(report["drifted"])

    # Retrain locally: what `distml run` does after training, its select step beating the served
    # model (baseline "latest") and pushing to the repository the server watches. Retraining
    # itself is not repeated here: the session's other variants stand in for the new models,
    # accepted whatever their accuracy (min_improvement -1) so the rest of the path runs.
    selection = select_models(
        digits_dataset,
        [trained_models["dropout"], trained_models["batch_norm"]],
        model_repo=server.repo,
        model_name=MODEL,
        baseline="latest",
        min_accuracy=0.0,
        min_improvement=-1.0,
    )
    assert selection["baseline"]["version"] == 1 and selection["pushed"]["version"] == 2, selection["reason"]
    deadline = time.monotonic() + 60
    while _send(server, sample[:BATCH]) != {"2"}:
        assert time.monotonic() < deadline, f"the server did not switch to version 2:\n{server.log()}"
        time.sleep(0.5)

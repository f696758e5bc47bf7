"""Hot swap under load, a version that fails to load, `deploy --target local` signalling a
running server, and graceful SIGTERM. Each test starts its own server (any order works); the
servers poll their repository only once an hour, so a switch within the test's wait can come
only from deploy's SIGHUP."""

import shutil
import signal
import threading
import time

import numpy as np
import pytest

from distml.components.deploy.core import deploy_local
from distml.components.serve.control import read_server_state
from tests.serve.conftest import local_predictions, make_repo, version_dir
from tests.serve.server import Server

MODEL = "digits"


NO_POLLING = 3600.0


@pytest.fixture
def repo(trained_models, tmp_path):
    return make_repo(tmp_path / "repo", MODEL, trained_models["cnn"])


@pytest.fixture
def server(repo, tmp_path):
    server = Server(repo, MODEL, tmp_path / "serve.log", poll_interval=NO_POLLING)
    yield server
    server.stop()


class Load:
    """Threads sending V1 requests until stopped, recording (model_version, class ids) or the failure."""

    def __init__(self, server, images, threads=3):
        self.server, self.body = server, {"instances": images.astype(int).tolist()}
        self.results, self.failures = [], []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                status, body = self.server.post(f"/v1/models/{MODEL}:predict", self.body)
            except OSError as e:
                self.failures.append(repr(e))
                continue
            if status != 200:
                self.failures.append(f"{status} {body}")
            else:
                self.results.append((body["model_version"], [p["class_id"] for p in body["predictions"]]))

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)


def test_no_server_running_prints_serve_command(trained_models, tmp_path):
    result = deploy_local(tmp_path / "repo", MODEL, trained_models["cnn"])
    assert (result["version"], result["pushed"], result["server"]) == (1, True, None)
    assert result["serve_command"].startswith(f"distml serve --repo {tmp_path / 'repo'} --model-name {MODEL}")
    again = deploy_local(tmp_path / "repo", MODEL, trained_models["cnn"])
    assert (again["version"], again["pushed"]) == (1, False)  # idempotent: the same model is not pushed twice


def test_swap_to_pushed_version_without_failing_requests(server, repo, trained_models, test_images):
    images = test_images[0][:4]
    expected = {
        "1": local_predictions(trained_models["cnn"], images).tolist(),
        "2": local_predictions(trained_models["dropout"], images).tolist(),
    }
    with Load(server, images) as load:
        while len(load.results) < 5 and not load.failures:
            time.sleep(0.1)
        result = deploy_local(repo, MODEL, trained_models["dropout"], wait_s=90)
        assert result["pushed"] and result["version"] == 2
        assert result["server"]["serving_version"] == 2
        switched = len(load.results)
        while len(load.results) < switched + 5 and not load.failures:
            time.sleep(0.1)
    assert not load.failures
    versions = [version for version, _ in load.results]
    assert versions[0] == "1" and versions[-1] == "2"
    assert all(ids == expected[version] for version, ids in load.results)
    # Once version 2 answered, version 1 never answers again (allowing for requests in flight at the switch).
    first_v2 = versions.index("2")
    assert versions[first_v2 + len(load._threads) :].count("1") == 0


def test_broken_version_is_logged_and_old_one_keeps_serving(server, repo, trained_models, test_images):
    assert deploy_local(repo, MODEL, trained_models["dropout"], wait_s=60)["server"]["serving_version"] == 2
    broken = repo / MODEL / ".incoming"
    shutil.copytree(version_dir(trained_models["cnn"]), broken)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    broken.rename(repo / MODEL / "3")
    with pytest.raises(Exception, match="still serves version 2"):
        deploy_local(repo, MODEL, wait_s=5)
    assert "version 3 of digits failed to load (still serving version 2)" in server.log()
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": test_images[0][:1].astype(int).tolist()})
    assert status == 200 and body["model_version"] == "2"


def test_sigterm_finishes_in_flight_requests_and_exits_cleanly(repo, test_images, tmp_path):
    # One request long enough (3,200 instances) to be mid-way when the signal comes: its answer
    # must arrive whole within the grace period.
    big = {"instances": np.repeat(test_images[0], 100, axis=0).astype(int).tolist()}
    # A grace period long enough for the request to finish on a loaded machine (a request cut
    # at its end fails the test, which is what a grace period of 0 does).
    server = Server(
        repo,
        MODEL,
        tmp_path / "serve.log",
        max_batch_size=len(big["instances"]),
        poll_interval=NO_POLLING,
        grace_period=90,
    )
    try:
        _sigterm_under_load(server, repo, test_images, big)
    finally:
        server.stop()


def _sigterm_under_load(server, repo, test_images, big):
    answer = {}

    def send_big():
        try:
            answer["reply"] = server.post(f"/v1/models/{MODEL}:predict", big)
        except OSError as e:  # reset or refused: the server dropped a request it had accepted
            answer["reply"] = (repr(e), None)

    slow = threading.Thread(target=send_big)
    with Load(server, test_images[0][:8], threads=2) as load:
        while len(load.results) < 3:
            time.sleep(0.05)
        slow.start()
        time.sleep(1.0)  # the big request is being served
        assert slow.is_alive(), "the big request finished before the signal: make it bigger"
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=150) == 0
    slow.join(timeout=60)
    status, body = answer["reply"]
    assert status == 200, f"the request in flight at SIGTERM got {status}"
    assert len(body["predictions"]) == len(big["instances"])
    # Requests sent before the signal got answers; later ones found the port closed (never a 5xx).
    assert load.results
    assert all(
        failure.startswith(("URLError", "ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected"))
        for failure in load.failures
    ), load.failures
    assert read_server_state(repo, MODEL) is None
    assert not (repo / MODEL / ".distml-serve.json").exists()

"""The server's request log writer: off the event loop, bounded, never failing a prediction."""

import json
import logging

import numpy as np

from distml.components.monitor.request_log import RequestLog
from distml.components.serve.request_logging import REQUESTS_NOT_LOGGED, BackgroundRequestLog

IMAGES = np.zeros((4, 28, 28, 1), np.float32)
PROBABILITIES = np.full((4, 10), 0.1, np.float32)
CLASS_IDS = np.zeros(4, np.int64)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_requests_are_written_by_the_background_thread(tmp_path):
    writer = BackgroundRequestLog(RequestLog(tmp_path / "requests.jsonl", model_name="digits"))
    for version in (1, 1, 2):
        writer.submit(IMAGES, PROBABILITIES, CLASS_IDS, version)
    writer.close()
    lines = _lines(tmp_path / "requests.jsonl")
    assert [(line["version"], line["n"], line["model"]) for line in lines] == [("1", 4, "digits")] * 2 + [
        ("2", 4, "digits")
    ]
    assert not writer._thread.is_alive()


def test_a_writer_that_falls_behind_drops_requests_instead_of_holding_their_images(tmp_path, caplog):
    request_log = RequestLog(tmp_path / "requests.jsonl")
    writer = BackgroundRequestLog(request_log, max_pending_bytes=2 * IMAGES.nbytes)
    dropped_before = REQUESTS_NOT_LOGGED._value.get()
    with caplog.at_level(logging.WARNING, "distml.serve"), request_log.file._lock:  # a disk that stalls
        for _ in range(5):
            writer.submit(IMAGES, PROBABILITIES, CLASS_IDS, 1)
    writer.close()
    assert len(_lines(tmp_path / "requests.jsonl")) == 2
    assert writer.dropped == 3 and REQUESTS_NOT_LOGGED._value.get() - dropped_before == 3
    assert sum("not logged" in r.message for r in caplog.records) == 1  # once, not per request
    writer = BackgroundRequestLog(request_log)  # the bytes held are given back when lines are written
    writer.submit(IMAGES, PROBABILITIES, CLASS_IDS, 1)
    writer.close()
    assert len(_lines(tmp_path / "requests.jsonl")) == 3 and writer._pending_bytes == 0


def test_a_failing_log_never_fails_the_caller(tmp_path):
    request_log = RequestLog(tmp_path / "requests.jsonl")
    (tmp_path / "requests.jsonl").mkdir()  # every append now fails
    writer = BackgroundRequestLog(request_log)
    dropped_before = REQUESTS_NOT_LOGGED._value.get()
    writer.submit(IMAGES, PROBABILITIES, CLASS_IDS, 1)
    writer.submit("not an array", PROBABILITIES, CLASS_IDS, 1)  # a caller's bug: counted, not raised
    writer.close()
    assert request_log.dropped == 1 and writer.dropped == 1
    assert REQUESTS_NOT_LOGGED._value.get() - dropped_before == 2


def test_sampling_is_decided_before_anything_is_queued(tmp_path):
    request_log = RequestLog(tmp_path / "requests.jsonl", sample_rate=0.25, seed=0)
    writer = BackgroundRequestLog(request_log)
    for _ in range(400):
        writer.submit(IMAGES, PROBABILITIES, CLASS_IDS, 1)
    writer.close()
    assert 60 <= len(_lines(tmp_path / "requests.jsonl")) <= 140

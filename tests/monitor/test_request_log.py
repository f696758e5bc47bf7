"""The request log: sampled, bounded, no raw images by default; read back from the local
format and from KServe's inference logger CloudEvents (binary-mode POSTs as a sink stores
them, and the blob-storage logger's JSON)."""

import base64
import json

import numpy as np
import pytest

from distml.components.common.errors import UsageError
from distml.components.common.image_features import image_features, pixel_histogram
from distml.components.monitor.request_log import (
    CE_REQUEST,
    CE_RESPONSE,
    RequestLog,
    cloudevent_from_http,
    read_traffic,
)

SHAPE = (28, 28, 1)


def batch(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *SHAPE)).astype(np.float32)
    probabilities = rng.dirichlet(np.ones(10), n)
    return images, probabilities, probabilities.argmax(axis=1)


def test_logged_requests_read_back_as_the_same_features_and_predictions(tmp_path):
    log = RequestLog(tmp_path / "requests.jsonl", model_name="digits")
    sent = [batch(3, seed) for seed in range(4)]
    for images, probabilities, class_ids in sent:
        assert log.record(images, probabilities, class_ids, model_version=7)
    line = json.loads((tmp_path / "requests.jsonl").read_text().splitlines()[0])
    assert "images" not in line and line["n"] == 3 and line["version"] == "7"  # no raw images by default
    traffic = read_traffic([tmp_path], SHAPE)
    images = np.concatenate([s[0] for s in sent])
    assert traffic.requests == 4 and traffic.num_images == traffic.num_predictions == 12
    np.testing.assert_allclose(traffic.features["brightness"], image_features(images)["brightness"], atol=1e-5)
    assert traffic.pixel_histogram.tolist() == pixel_histogram(images).tolist()
    assert traffic.class_ids == np.concatenate([s[2] for s in sent]).tolist()
    assert traffic.versions == {"7": 12}


def test_images_are_kept_only_when_asked(tmp_path):
    log = RequestLog(tmp_path / "r.jsonl", store_images=True)
    images, probabilities, class_ids = batch(2)
    log.record(images, probabilities, class_ids)
    stored = json.loads((tmp_path / "r.jsonl").read_text())["images"]
    raw = np.frombuffer(base64.b64decode(stored["b64"]), np.uint8).reshape(stored["shape"])
    assert (raw == images.astype(np.uint8)).all()


def test_sampling_logs_about_the_rate_and_rotation_bounds_the_size(tmp_path):
    log = RequestLog(tmp_path / "r.jsonl", sample_rate=0.25, max_bytes=4096, backups=2, seed=1)
    images, probabilities, class_ids = batch(1)
    written = sum(log.record(images, probabilities, class_ids) for _ in range(400))
    assert 70 <= written <= 130
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 4096 for f in files)
    # Every line kept is whole; the oldest ones were dropped.
    assert read_traffic([tmp_path], SHAPE).skipped == []
    with pytest.raises(UsageError, match="sample rate"):
        RequestLog(tmp_path / "x.jsonl", sample_rate=0)


def _ce_headers(kind, event_id):
    return {
        "Ce-Specversion": "1.0",
        "Ce-Type": kind,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Id": event_id,
        "Ce-Inferenceservicename": "distml-classifier",
        "Ce-Namespace": "distml",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "",
        "Content-Type": "application/json",
    }


def test_kserve_logger_cloudevents_v1_and_v2_pair_requests_with_responses(tmp_path):
    images, probabilities, class_ids = batch(2)
    v1_request = {"instances": images.reshape(2, 28, 28).tolist()}
    v1_response = {
        "predictions": [
            {"class_id": int(c), "class_name": str(c), "probabilities": p.tolist()}
            for c, p in zip(class_ids, probabilities)
        ],
        "model_version": "3",
    }
    v2_request = {
        "inputs": [{"name": "images", "shape": [2, 28, 28, 1], "datatype": "FP32", "data": images.reshape(-1).tolist()}]
    }
    v2_response = {
        "model_name": "m",
        "model_version": "3",
        "outputs": [
            {"name": "class_ids", "shape": [2], "datatype": "INT64", "data": class_ids.tolist()},
            {"name": "probabilities", "shape": [2, 10], "datatype": "FP32", "data": probabilities.reshape(-1).tolist()},
        ],
    }
    posts = [
        (CE_RESPONSE, "a", v1_response),
        (CE_REQUEST, "a", v1_request),
        (CE_REQUEST, "b", v2_request),
        (CE_RESPONSE, "b", v2_response),
        (CE_REQUEST, "c", v1_request),
    ]  # c: its response never came
    sink = tmp_path / "events.jsonl"
    sink.write_text(
        "".join(
            json.dumps(cloudevent_from_http(_ce_headers(k, i), json.dumps(body).encode())) + "\n"
            for k, i, body in posts
        )
    )
    traffic = read_traffic([sink], SHAPE)
    assert traffic.requests == 3 and traffic.num_images == 6 and traffic.num_predictions == 4
    assert traffic.unpaired == 1  # a and b were paired by ce-id
    expected = image_features(np.concatenate([images, images, images]))["contrast"]
    np.testing.assert_allclose(sorted(traffic.features["contrast"]), sorted(expected))
    assert sorted(traffic.class_ids) == sorted(class_ids.tolist() * 2)
    np.testing.assert_allclose(sorted(traffic.confidence), sorted(probabilities.max(axis=1).tolist() * 2))


def test_kserve_blob_storage_json_and_unreadable_entries(tmp_path):
    images, probabilities, class_ids = batch(1)
    body = lambda d: base64.b64encode(json.dumps(d).encode()).decode()  # noqa: E731 - Go marshals []byte as base64
    records = [
        {"Id": "x", "ReqType": CE_REQUEST, "InferenceService": "m", "Bytes": body({"instances": images.tolist()})},
        {
            "Id": "x",
            "ReqType": CE_RESPONSE,
            "InferenceService": "m",
            "Bytes": body({"predictions": probabilities.tolist()}),
        },
    ]
    (tmp_path / "blob.json").write_text(json.dumps(records))
    (tmp_path / "broken.jsonl").write_text('{"format": "distml.request-log/v1", "inpu\n{"what": 1}\n')
    traffic = read_traffic([tmp_path], SHAPE)
    assert traffic.num_images == 1 and traffic.class_ids == class_ids.tolist()
    assert len(traffic.skipped) == 2
    with pytest.raises(UsageError, match="does not exist"):
        read_traffic([tmp_path / "nothing"], SHAPE)


def test_the_sink_stores_what_kserves_logger_posts_where_the_monitor_reads_it(tmp_path):
    import threading
    import urllib.error
    import urllib.request

    from distml.components.monitor.sink import RequestSink, make_server

    server = make_server(RequestSink(tmp_path), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    images, probabilities, class_ids = batch(2)

    def post(headers, body):
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    try:
        assert post(_ce_headers(CE_REQUEST, "r1"), {"instances": images.tolist()}) == 200
        assert post(_ce_headers(CE_RESPONSE, "r1"), {"predictions": probabilities.tolist()}) == 200
        assert post({"Content-Type": "application/json"}, {"instances": []}) == 400  # not a CloudEvent
        bad_name = {**_ce_headers(CE_REQUEST, "r2"), "Ce-Inferenceservicename": "../../etc"}
        assert post(bad_name, {"instances": images.tolist()}) == 400
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["distml-classifier"]
    traffic = read_traffic([tmp_path / "distml-classifier"], SHAPE)
    assert traffic.num_images == 2 and traffic.class_ids == class_ids.tolist()


def test_logged_requests_of_any_size_are_measured_as_the_server_preprocessed_them():
    """KServe's logger records what clients sent: images of any size, which the server
    preprocessed as ingest did; the monitor measures them the same way."""
    import io

    from PIL import Image

    from distml.components.common.preprocessing import preprocess, preprocessing_params
    from distml.components.monitor.request_log import decode_request

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    params = preprocessing_params(SHAPE)
    expected = preprocess(rgb, params).astype(np.float32)
    b64 = base64.b64encode(png.getvalue()).decode()
    v1 = decode_request({"instances": [{"b64": b64}, rgb.tolist(), np.zeros(SHAPE).tolist()]}, SHAPE, params)
    np.testing.assert_array_equal(v1[:2], [expected, expected])
    np.testing.assert_array_equal(v1[2], np.zeros(SHAPE))
    v2 = {"inputs": [{"name": "images", "datatype": "UINT8", "shape": [1, 48, 64, 3], "data": rgb.ravel().tolist()}]}
    np.testing.assert_array_equal(decode_request(v2, SHAPE, params), [expected])
    v2 = {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": [b64]}]}
    np.testing.assert_array_equal(decode_request(v2, SHAPE), [expected])  # params from the shape

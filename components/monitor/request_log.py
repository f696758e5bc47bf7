"""The request log: what the model served, in a form the monitor reads.

Writing (`RequestLog`, called by the model server once per predict call): a sampled,
size-bounded JSON-lines file. Each line is one request:

    {"format": "distml.request-log/v1", "time": ISO-8601, "id": str, "model": str, "version": str,
     "n": images in the request,
     "inputs": {"brightness": [n], "contrast": [n], "ink_fraction": [n], "pixel_histogram": [32]},
     "predictions": {"class_ids": [n], "confidence": [n]},
     "images": {"dtype": "uint8", "shape": [n, H, W, C], "b64": ...}   only with store_images=True}

Raw images are not kept by default: the statistics the monitor compares are enough, and
they are small and hold no user content. When the file would pass `max_bytes` it is
rotated (`log.jsonl` -> `log.jsonl.1` -> ... up to `backups`), so the log never grows
past (backups + 1) * max_bytes.

Reading (`read_traffic`): that format, and KServe's inference logger output on a cluster,
so the cluster path uses KServe's own mechanism. The KServe agent posts one CloudEvent per
request and one per response (binary mode: `ce-type` org.kubeflow.serving.inference.request
or .response, `ce-id` shared by the pair, `ce-inferenceservicename`, `ce-namespace`,
`ce-component`, `ce-endpoint`; the body is the V1 or V2 JSON). `cloudevent_from_http` turns
such a POST into a structured-mode event (one JSON line, `data` the parsed body) as a sink
stores it; the reader takes structured events one per line or as a JSON array, and the
JSON files KServe's blob-storage logger writes (arrays of {"Id", "ReqType", "Bytes"
base64, ...}). Requests and responses are paired by id.
"""

import base64
import binascii
import datetime
import json
import logging
import os
import random
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distml.components.common.errors import UsageError
from distml.components.common.image_features import IMAGE_FEATURES, PIXEL_BINS, image_features, pixel_histogram
from distml.components.common.model_artifact import CLASS_IDS, INPUT_NAME, PROBABILITIES
from distml.components.common.preprocessing import preprocess, preprocess_encoded, preprocessing_params

log = logging.getLogger("distml")

LOG_FORMAT = "distml.request-log/v1"
CE_REQUEST = "org.kubeflow.serving.inference.request"
CE_RESPONSE = "org.kubeflow.serving.inference.response"
DEFAULT_MAX_BYTES = 16 << 20
DEFAULT_BACKUPS = 3
_DIGITS = 5  # decimals kept per feature value: finer than any histogram bin


MIN_MAX_BYTES = 1024


class RotatingFile:
    """Append whole lines to `path`; past `max_bytes` it becomes path.1 (path.1 -> path.2 ...,
    the oldest beyond `backups` dropped). Thread-safe."""

    def __init__(self, path, max_bytes=DEFAULT_MAX_BYTES, backups=DEFAULT_BACKUPS):
        if max_bytes < MIN_MAX_BYTES:
            raise UsageError(f"request log max bytes must be at least {MIN_MAX_BYTES}, got {max_bytes}")
        if backups < 0:
            raise UsageError(f"request log backups must be 0 or more, got {backups}")
        self.path, self.max_bytes, self.backups = Path(path), max_bytes, backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, line):
        with self._lock:
            self._rotate_if_needed(len(line.encode()))
            with open(self.path, "a") as f:
                f.write(line)

    def _rotate_if_needed(self, incoming):
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + incoming <= self.max_bytes:
            return
        if self.backups == 0:
            self.path.unlink()
            return
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))


class RequestLog:
    """Thread-safe writer; `record` never raises (a full disk must not fail predictions)."""

    def __init__(
        self,
        path,
        *,
        sample_rate=1.0,
        max_bytes=DEFAULT_MAX_BYTES,
        backups=DEFAULT_BACKUPS,
        store_images=False,
        model_name="",
        seed=None,
    ):
        if not 0.0 < sample_rate <= 1.0:
            raise UsageError(f"request log sample rate must be in (0, 1], got {sample_rate}")
        self.file = RotatingFile(path, max_bytes, backups)
        self.path = self.file.path
        self.sample_rate = sample_rate
        self.store_images, self.model_name = store_images, model_name
        self._random = random.Random(seed)
        self.written = self.dropped = 0

    def record(self, images, probabilities, class_ids, *, model_version="", request_id=None):
        """Log one request (if sampled): images [N,H,W,C] 0-255, probabilities [N,K], class_ids [N].
        Returns True when a line was written."""
        if not self.sampled():
            return False
        return self.write(images, probabilities, class_ids, model_version=model_version, request_id=request_id)

    def sampled(self):
        """One draw: should the next request be logged? (The server draws on its event loop
        and writes sampled requests from a background thread.)"""
        return self.sample_rate >= 1.0 or self._random.random() < self.sample_rate

    def write(self, images, probabilities, class_ids, *, model_version="", request_id=None):
        """Log one request, sampled or not; True when a line was written, never raises."""
        try:
            line = (
                json.dumps(
                    self._entry(images, probabilities, class_ids, model_version, request_id), separators=(",", ":")
                )
                + "\n"
            )
            self.file.append(line)
            self.written += 1
            return True
        except Exception as e:  # noqa: BLE001 - logging must never fail the prediction
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("request log %s: %d request(s) not logged: %s", self.path, self.dropped, e)
            return False

    def _entry(self, images, probabilities, class_ids, model_version, request_id):
        images = np.asarray(images)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        entry = {
            "format": LOG_FORMAT,
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "id": request_id or uuid.uuid4().hex,
            "model": self.model_name,
            "version": str(model_version),
            "n": int(len(images)),
            "inputs": {name: np.round(values, _DIGITS).tolist() for name, values in image_features(images).items()},
            "predictions": {
                "class_ids": np.asarray(class_ids).astype(int).tolist(),
                "confidence": np.round(probabilities.max(axis=1), _DIGITS).tolist(),
            },
        }
        entry["inputs"]["pixel_histogram"] = pixel_histogram(images).tolist()
        if self.store_images:
            raw = np.clip(np.rint(images), 0, 255).astype(np.uint8)
            entry["images"] = {
                "dtype": "uint8",
                "shape": list(raw.shape),
                "b64": base64.b64encode(raw.tobytes()).decode(),
            }
        return entry


def cloudevent_from_http(headers, body):
    """A binary-mode CloudEvent (HTTP headers + body, as KServe's logger posts it) -> the
    structured-mode dict a sink stores, one JSON line each."""
    lower = {k.lower(): v for k, v in headers.items()}
    event = {k[3:]: v for k, v in lower.items() if k.startswith("ce-")}
    if "type" not in event or "id" not in event:
        raise ValueError("not a CloudEvent: no ce-type / ce-id header")
    event["datacontenttype"] = lower.get("content-type", "application/json")
    try:
        event["data"] = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        event["data_base64"] = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode()
    return event


@dataclass
class Traffic:
    """What the served requests looked like: per-image features and predictions."""

    features: dict = field(default_factory=lambda: {name: [] for name in IMAGE_FEATURES})
    pixel_histogram: np.ndarray = field(default_factory=lambda: np.zeros(PIXEL_BINS, dtype=np.int64))
    class_ids: list = field(default_factory=list)
    confidence: list = field(default_factory=list)
    requests: int = 0
    versions: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)  # (where, why) of entries that could not be read
    unpaired: int = (
        0  # logger events whose request or response never arrived (dropped, failed, or a one-sided logger mode)
    )

    @property
    def num_images(self):
        return len(self.features["brightness"])

    @property
    def num_predictions(self):
        return len(self.class_ids)

    def add_inputs(self, features, pixel_hist):
        for name in IMAGE_FEATURES:
            self.features[name].extend(np.asarray(features[name], dtype=np.float64).tolist())
        self.pixel_histogram += np.asarray(pixel_hist, dtype=np.int64)

    def add_images(self, images):
        self.add_inputs(image_features(images), pixel_histogram(images))

    def add_predictions(self, class_ids, confidence, version=""):
        self.class_ids.extend(int(c) for c in class_ids)
        self.confidence.extend(float(c) for c in confidence)
        self.versions[str(version)] = self.versions.get(str(version), 0) + len(class_ids)


def log_files(paths):
    """Every log file under `paths` (files, or directories: their files, oldest rotation first)."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")]
            files += sorted(found, key=_rotation_order)
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"--request-log {p} does not exist")
    return files


def _rotation_order(path):
    # log.jsonl.3 is older than log.jsonl.1, which is older than log.jsonl
    suffix = path.suffix.lstrip(".")
    return (str(path.parent), path.name.split(".")[0], -int(suffix) if suffix.isdigit() else 0, path.name)


def read_traffic(paths, image_shape, preprocessing=None):
    """Read every request log entry under `paths` (local format, CloudEvents, KServe blob JSON);
    images in logged requests are preprocessed with `preprocessing` (the model's) as the server does."""
    traffic = Traffic()
    pending = {}  # id -> {"request": data, "response": data, "version": str}
    for path in log_files(paths):
        for where, item in _items(path, traffic):
            try:
                _dispatch(item, traffic, pending)
            except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as e:
                traffic.skipped.append((where, str(e) or type(e).__name__))
    for event_id, pair in pending.items():
        try:
            _add_pair(pair, traffic, image_shape, preprocessing)
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as e:
            traffic.skipped.append((f"event {event_id}", str(e) or type(e).__name__))
    if traffic.skipped:
        log.warning(
            "skipped %d unreadable request log entries (first: %s: %s)", len(traffic.skipped), *traffic.skipped[0]
        )
    return traffic


def _items(path, traffic):
    text = path.read_text(errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):  # one JSON array: KServe blob storage or a batch of events
        try:
            for i, item in enumerate(json.loads(stripped)):
                yield f"{path}[{i}]", item
            return
        except ValueError:
            pass
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{path}:{number}", json.loads(line)
            except ValueError:
                traffic.skipped.append((f"{path}:{number}", "not JSON (a line cut by a crash or a rotation?)"))


def _dispatch(item, traffic, pending):
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    if item.get("format") == LOG_FORMAT:
        traffic.requests += 1
        inputs = item["inputs"]
        traffic.add_inputs(inputs, inputs["pixel_histogram"])
        predictions = item.get("predictions") or {}
        if predictions:
            traffic.add_predictions(predictions["class_ids"], predictions["confidence"], item.get("version", ""))
        return
    if "specversion" in item and "type" in item:  # a structured CloudEvent
        kind, event_id = item["type"], item["id"]
        data = item["data"] if "data" in item else _json_bytes(item["data_base64"])
        version = item.get("inferenceservicename", "")
    elif "ReqType" in item and "Id" in item:  # KServe blob-storage logger (Go LogRequest as JSON)
        kind, event_id = item["ReqType"], item["Id"]
        data = _json_bytes(item["Bytes"])
        version = item.get("InferenceService", "")
    else:
        raise ValueError("neither a distml request log line nor a KServe logger CloudEvent")
    if kind not in (CE_REQUEST, CE_RESPONSE):
        raise ValueError(f"unknown event type {kind!r}")
    pair = pending.setdefault(event_id, {})
    pair["request" if kind == CE_REQUEST else "response"] = data
    pair.setdefault("version", version)


def _json_bytes(b64):
    return json.loads(base64.b64decode(b64))


def _add_pair(pair, traffic, image_shape, preprocessing):
    if "request" not in pair or "response" not in pair:
        traffic.unpaired += 1
    if "request" in pair:
        images = decode_request(pair["request"], image_shape, preprocessing)
        traffic.requests += 1
        traffic.add_images(images)
    if "response" in pair:
        class_ids, confidence, version = decode_response(pair["response"])
        traffic.add_predictions(class_ids, confidence, version or pair.get("version", ""))


def decode_request(body, image_shape, preprocessing=None):
    """A V1 or V2 inference request body -> float32 images [N, H, W, C] in 0-255: what the
    server gave the model. Images of another size are preprocessed as the server (and ingest)
    does, with the model's `preprocessing` (default: what `image_shape` implies)."""
    params = preprocessing or preprocessing_params(image_shape)
    if "instances" in body:
        return np.stack([_instance(item, params) for item in body["instances"]])
    if "inputs" in body:
        tensor = body["inputs"][0]
        if tensor["datatype"] == "BYTES":
            return np.stack([_decode_image(item, params) for item in np.asarray(tensor["data"]).reshape(-1)])
        images = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        return np.stack([_pixels(image, params) for image in images])
    raise ValueError("request body is neither V1 {instances} nor V2 {inputs}")


def _instance(item, params):
    if isinstance(item, dict) and INPUT_NAME in item:
        item = item[INPUT_NAME]
    if isinstance(item, dict) and "b64" in item:
        return _decode_image(item["b64"], params)
    return _pixels(np.asarray(item, dtype=np.float32), params)


def _pixels(image, params):
    shape = (params["height"], params["width"], params["channels"])
    if image.size == np.prod(shape) and image.shape in (shape, shape[:2]):
        return image.reshape(shape)
    return preprocess(image, params).astype(np.float32)


def _decode_image(data, params):
    raw = data.encode() if isinstance(data, str) else data
    if not raw.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        raw = base64.b64decode(raw)
    return preprocess_encoded(raw, params).astype(np.float32)


def decode_response(body):
    """A V1 or V2 response (distml predictor or TF Serving) -> (class_ids, confidence, version)."""
    version = str(body.get("model_version", ""))
    if "predictions" in body:
        class_ids, confidence = [], []
        for p in body["predictions"]:
            probabilities = np.asarray(p[PROBABILITIES] if isinstance(p, dict) else p, dtype=np.float64)
            class_id = p.get("class_id", p.get(CLASS_IDS)) if isinstance(p, dict) else None
            class_ids.append(int(np.argmax(probabilities)) if class_id is None else int(class_id))
            confidence.append(float(probabilities.max()))
        return class_ids, confidence, version
    if "outputs" in body:
        outputs = {o["name"]: o for o in body["outputs"]}
        probs = outputs[PROBABILITIES]
        probabilities = np.asarray(probs["data"], dtype=np.float64).reshape(probs["shape"])
        if CLASS_IDS in outputs:
            class_ids = np.asarray(outputs[CLASS_IDS]["data"]).astype(int).reshape(-1)
        else:
            class_ids = probabilities.argmax(axis=1)
        return class_ids.tolist(), probabilities.max(axis=1).tolist(), version
    raise ValueError("response body is neither V1 {predictions} nor V2 {outputs}")

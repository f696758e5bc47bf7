"""The request sink: where KServe's inference logger sends its CloudEvents on a cluster.

The InferenceService's `spec.predictor.logger.url` points here (kserve_logger.py). Each
POST is one binary-mode CloudEvent (a request or a response of the predictor); the sink
appends it, in structured mode, as one JSON line to
`<log-dir>/<inferenceservicename>/events.jsonl` (size-rotated), which is what
`distml monitor --request-log <log-dir>/<model-name>` reads. Standard library HTTP server,
one thread per connection; `GET /healthz` for probes.
"""

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from distml.components.monitor.request_log import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, RotatingFile, cloudevent_from_http

log = logging.getLogger("distml")

EVENTS_FILE = "events.jsonl"
MAX_BODY_BYTES = 64 << 20
_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # Kubernetes object names; nothing else becomes a folder


class RequestSink:
    def __init__(self, log_dir, max_bytes=DEFAULT_MAX_BYTES, backups=DEFAULT_BACKUPS):
        self.log_dir, self.max_bytes, self.backups = Path(log_dir), max_bytes, backups
        self._files, self._lock = {}, threading.Lock()
        self.stored = 0

    def store(self, headers, body):
        """Store one event; raise ValueError when it is not a KServe logger CloudEvent."""
        event = cloudevent_from_http(headers, body)
        name = str(event.get("inferenceservicename") or "unknown")
        if not _SAFE_NAME.match(name):
            raise ValueError(f"ce-inferenceservicename {name!r} is not a Kubernetes object name")
        with self._lock:
            if name not in self._files:
                self._files[name] = RotatingFile(self.log_dir / name / EVENTS_FILE, self.max_bytes, self.backups)
            target = self._files[name]
            self.stored += 1
        target.append(json.dumps(event, separators=(",", ":")) + "\n")


def make_server(sink, host="0.0.0.0", port=8080):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                return self._reply(413, f"event larger than {MAX_BODY_BYTES} bytes")
            body = self.rfile.read(length)
            try:
                sink.store(dict(self.headers.items()), body)
            except ValueError as e:
                return self._reply(400, str(e))
            except OSError as e:
                log.warning("request sink: cannot store an event: %s", e)
                return self._reply(503, "cannot store the event")
            return self._reply(200, "stored")

        def do_GET(self):  # noqa: N802
            return self._reply(200, "ok") if self.path == "/healthz" else self._reply(404, "not found")

        def _reply(self, status, text):
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # one line per event would drown the pod log

    return ThreadingHTTPServer((host, port), Handler)

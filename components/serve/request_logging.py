"""The server side of the request log: `RequestLog.record` off the event loop.

`DistmlModel.predict` calls `submit` once per answered request. A sampled-out request costs
one random draw; a sampled one is queued for one background thread, which computes the
image features and appends the line (`components/monitor/request_log.py`, ~1-2 ms per
request of 1-8 images). The queue is bounded in bytes of images held: when the writer falls
behind (a slow disk), requests are not logged rather than memory growing, and a full disk
or any other failure loses log lines, never a prediction. Both are counted
(`distml_request_log_dropped` on /metrics) and logged once, then every 1000th time.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

from prometheus_client import Counter

if TYPE_CHECKING:
    import numpy as np

    from distml.components.monitor.request_log import RequestLog

log = logging.getLogger("distml.serve")

DEFAULT_MAX_PENDING_BYTES = 64 << 20
REQUESTS_NOT_LOGGED = Counter(
    "distml_request_log_dropped", "sampled requests the request log did not record (queue full or write failed)"
)
_STOP = object()


class BackgroundRequestLog:
    def __init__(self, request_log: RequestLog, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES) -> None:
        self.request_log = request_log
        self.max_pending_bytes = max_pending_bytes
        self.dropped = 0  # sampled requests not queued because the writer was behind
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="distml-request-log", daemon=True)
        self._thread.start()

    def submit(self, images: np.ndarray, probabilities: np.ndarray, class_ids: np.ndarray, model_version: int) -> None:
        """Queue one answered request (arrays the caller no longer changes); never raises."""
        try:
            if not self.request_log.sampled():
                return
            size = images.nbytes
            with self._lock:
                full = self._pending_bytes + size > self.max_pending_bytes
                if not full:
                    self._pending_bytes += size
            if full:
                self._count_drop(f"the writer is behind (more than {self.max_pending_bytes} bytes of images queued)")
                return
            self._queue.put((images, probabilities, class_ids, model_version, size))
        except Exception as e:  # noqa: BLE001 - logging must never fail the prediction
            self._count_drop(f"{type(e).__name__}: {e}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to `timeout_s`), then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _write(self):
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            images, probabilities, class_ids, model_version, size = item
            try:
                written_before = self.request_log.dropped
                self.request_log.write(images, probabilities, class_ids, model_version=model_version)
                if self.request_log.dropped > written_before:  # it logged why itself
                    REQUESTS_NOT_LOGGED.inc()
            except Exception as e:  # noqa: BLE001 - a writer bug must not stop the thread
                self._count_drop(f"{type(e).__name__}: {e}")
            finally:
                with self._lock:
                    self._pending_bytes -= size

    def _count_drop(self, why):
        with self._lock:
            self.dropped += 1
            dropped = self.dropped
        REQUESTS_NOT_LOGGED.inc()
        if dropped == 1 or dropped % 1000 == 0:
            log.warning("request log %s: %d request(s) not logged: %s", self.request_log.path, dropped, why)

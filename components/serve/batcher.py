"""Adaptive server-side batching: concurrent requests share one model call.

Requests queue their images; one loop on the event loop takes everything queued (up to
`model_batch_size` images, the same model version) and runs one model call in a worker
thread. While that call runs, new requests queue up, so batches grow with the load and
cost nothing when there is none (a lone request is run at once). With `max_wait_s` > 0 a
batch that is not full waits at most that long for more requests.

A client batch larger than `model_batch_size` is split across model calls, so the model's
memory is bounded by `model_batch_size` images whatever the clients send.

Model calls are padded to a few batch sizes (powers of two up to `model_batch_size`), each
warmed up when a version loads: oneDNN builds kernels per input shape, and a first call
with a new shape took 30-110 ms here, stalling every request queued behind it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import Histogram

if TYPE_CHECKING:
    from distml.components.serve.loaded_model import LoadedModel

log = logging.getLogger("distml.serve")

# On KServe's /metrics: how many images each model call got (how well requests are merged).
MODEL_CALL_IMAGES = Histogram(
    "distml_model_call_images", "images per model call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
)


class _Pending:
    __slots__ = ("served", "images", "future", "taken", "filled", "probabilities", "class_ids")

    def __init__(self, served, images, future):
        self.served, self.images, self.future = served, images, future
        self.taken = self.filled = 0
        self.probabilities = self.class_ids = None


class Batcher:
    def __init__(self, model_batch_size: int = 64, max_wait_s: float = 0.0) -> None:
        self.model_batch_size = model_batch_size
        self.max_wait_s = max_wait_s
        self.batch_sizes = tuple(
            sorted({min(2**k, model_batch_size) for k in range(model_batch_size.bit_length() + 1)})
        )
        self._queue = collections.deque()
        self._queued = None  # asyncio.Event, created on the serving loop
        self._task = None
        # One thread: the model call uses TensorFlow's own thread pools; calls run one at a time.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="distml-model")

    async def predict(self, served: LoadedModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [N, H, W, C] -> (probabilities [N, K], class_ids [N]) from `served`."""
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._queued = asyncio.Event()
            self._task = loop.create_task(self._run(), name="distml-batcher")
        pending = _Pending(served, images, loop.create_future())
        self._queue.append(pending)
        self._queued.set()
        return await pending.future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            await self._queued.wait()
            if self.max_wait_s and self._rows_queued() < self.model_batch_size:
                await asyncio.sleep(self.max_wait_s)
            parts = self._take()
            if not self._queue:
                self._queued.clear()
            if not parts:
                continue
            served = parts[0][0].served
            batch = (
                parts[0][0].images[parts[0][1] : parts[0][2]]
                if len(parts) == 1
                else np.concatenate([p.images[a:b] for p, a, b in parts])
            )
            MODEL_CALL_IMAGES.observe(len(batch))
            rows = len(batch)
            padded = next(size for size in self.batch_sizes if size >= rows)
            if padded > rows:
                batch = np.concatenate([batch, np.zeros((padded - rows, *batch.shape[1:]), batch.dtype)])
            try:
                probabilities, class_ids = await loop.run_in_executor(self._executor, served.predict, batch)
            except Exception as e:  # fail the requests in this batch, keep serving the others
                log.error("model call on %d images failed: %s: %s", len(batch), type(e).__name__, e)
                for p, _, _ in parts:
                    if not p.future.done():
                        p.future.set_exception(e)
                self._drop_failed()
                continue
            offset = 0
            for p, a, b in parts:
                n = b - a
                if p.probabilities is None:
                    p.probabilities = np.empty((len(p.images), probabilities.shape[1]), probabilities.dtype)
                    p.class_ids = np.empty(len(p.images), class_ids.dtype)
                p.probabilities[a:b] = probabilities[offset : offset + n]
                p.class_ids[a:b] = class_ids[offset : offset + n]
                offset += n
                p.filled += n
                if p.filled == len(p.images) and not p.future.done():
                    p.future.set_result((p.probabilities, p.class_ids))

    def _rows_queued(self):
        return sum(len(p.images) - p.taken for p in self._queue)

    def _take(self):
        """[(pending, start, stop)] covering up to model_batch_size rows of one model version."""
        parts, rows = [], 0
        while self._queue and rows < self.model_batch_size:
            p = self._queue[0]
            if p.future.done():  # cancelled by its client
                self._queue.popleft()
                continue
            if parts and p.served is not parts[0][0].served:
                break
            n = min(self.model_batch_size - rows, len(p.images) - p.taken)
            parts.append((p, p.taken, p.taken + n))
            p.taken += n
            rows += n
            if p.taken == len(p.images):
                self._queue.popleft()
        return parts

    def _drop_failed(self):
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()

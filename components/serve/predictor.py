"""The distml `kserve.Model`: serves whatever version the watcher holds, over V1 and V2.

Responses carry, per image, the class id, the class name (from the version's model.json)
and the probabilities, plus the version that produced them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import numpy as np
from kserve import InferRequest, InferResponse, Model
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.infer_type import InferOutput

from distml.components.common.model_artifact import CLASS_IDS, INPUT_NAME, PROBABILITIES
from distml.components.serve.inputs import DEFAULT_MAX_IMAGE_PIXELS, InvalidRequest, PixelBatch, decode_v1, decode_v2

if TYPE_CHECKING:
    from distml.components.serve.batcher import Batcher
    from distml.components.serve.request_logging import RequestLog
    from distml.components.serve.watcher import VersionWatcher


class ModelVersionNotFound(ModelNotFound):
    """A request for a version this server does not serve: 404 (gRPC NOT_FOUND)."""

    def __init__(self, model_name: str, requested: str, serving: int) -> None:
        super().__init__(model_name)
        self.reason = f"model {model_name} has no version {requested} here: this server serves version {serving}"

    def __str__(self) -> str:
        return self.reason


# The header through which a versioned URL (/v2/models/NAME/versions/N/...) reaches `predict`;
# set by the HTTP layer (http.py), which drops any copy a client sends.
VERSION_HEADER = "x-distml-model-version"
# Requests with at most this many pixel-array images are decoded on the event loop: handing
# them to a thread costs more than decoding them.
INLINE_DECODE_MAX_IMAGES = 4


class DistmlModel(Model):
    def __init__(
        self,
        name: str,
        watcher: VersionWatcher,
        max_batch_size: int,
        batcher: Batcher,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        request_log: RequestLog | None = None,
    ) -> None:
        super().__init__(name)
        self.watcher = watcher
        self.max_batch_size = max_batch_size
        self.batcher = batcher
        self.max_image_pixels = max_image_pixels
        self.request_log = request_log  # a request_logging.BackgroundRequestLog, or None

    def load(self) -> bool:
        self.watcher.refresh()
        self.ready = self.watcher.current is not None
        return self.ready

    def get_input_types(self) -> list[dict[str, object]]:
        served = self._served()
        return [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *served.image_shape]}]

    def get_output_types(self) -> list[dict[str, object]]:
        served = self._served()
        k = len(served.class_names)
        return [
            {"name": CLASS_IDS, "datatype": "INT64", "shape": [-1]},
            {"name": "class_names", "datatype": "BYTES", "shape": [-1]},
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, k]},
        ]

    def serving_version(self) -> int | None:
        served = self.watcher.current
        return None if served is None else served.version

    def _served(self, requested_version=None):
        served = self.watcher.current
        if served is None:
            raise ModelNotReady(self.name, "no version loaded")
        if requested_version not in (None, "", str(served.version)):
            raise ModelVersionNotFound(self.name, requested_version, served.version)
        return served

    async def predict(
        self,
        payload: InferRequest | dict[str, object] | PixelBatch,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse | dict[str, object]:
        is_v2 = isinstance(payload, InferRequest)
        requested = payload.model_version if is_v2 else None  # gRPC: the request's model_version field
        requested = (headers or {}).get(VERSION_HEADER) or requested
        served = self._served(requested)  # one snapshot per request: a swap mid-request does not mix versions
        try:
            if self._small(payload, is_v2):
                images = self._decode(payload, is_v2, served)
            else:
                images = await asyncio.to_thread(self._decode, payload, is_v2, served)
        except InvalidRequest as e:
            raise InvalidInput(str(e)) from None
        probabilities, class_ids = await self.batcher.predict(served, images)
        if self.request_log is not None:  # queued for a background thread: never delays or fails the response
            self.request_log.submit(images, probabilities, class_ids, served.version)
        names = [served.class_names[i] for i in class_ids]
        if is_v2:
            return self._v2_response(payload, served, probabilities, class_ids, names)
        return {
            "predictions": [
                {"class_id": int(i), "class_name": name, PROBABILITIES: p.tolist()}
                for i, name, p in zip(class_ids, names, probabilities)
            ],
            "model_name": self.name,
            "model_version": str(served.version),
        }

    @staticmethod
    def _small(payload, is_v2):
        if is_v2:
            tensor = payload.inputs[0] if len(payload.inputs) == 1 else None
            return tensor is None or (
                tensor.datatype != "BYTES"
                and bool(tensor.shape)
                and isinstance(tensor.shape[0], int)
                and tensor.shape[0] <= INLINE_DECODE_MAX_IMAGES
            )
        if not isinstance(payload, dict):
            return True  # a PixelBatch, or not V1 at all
        instances = payload.get("instances")
        return not isinstance(instances, list) or (
            len(instances) <= INLINE_DECODE_MAX_IMAGES and all(isinstance(i, list) for i in instances)
        )

    def _decode(self, payload, is_v2, served):
        if is_v2:
            return decode_v2(payload.inputs, served.preprocessing, self.max_batch_size, self.max_image_pixels)
        return decode_v1(payload, served.preprocessing, self.max_batch_size, self.max_image_pixels)

    def _v2_response(self, request, served, probabilities, class_ids, names):
        n = len(class_ids)
        outputs = [
            InferOutput(CLASS_IDS, [n], "INT64", class_ids.tolist()),
            InferOutput("class_names", [n], "BYTES", names),
            # Flat, row-major data: what gRPC contents require and REST V2 allows.
            InferOutput(
                PROBABILITIES,
                list(probabilities.shape),
                "FP32",
                probabilities.astype(np.float32).reshape(-1).tolist(),
            ),
        ]
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=str(served.version),
            infer_outputs=outputs,
            from_grpc=request.from_grpc,
        )

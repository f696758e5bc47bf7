"""The distml `kserve.Model`: serves whatever version the watcher holds, over V1 and V2.

Responses carry, per image, the class id, the class name (from the version's model.json)
and the probabilities, plus the version that produced them.
"""

import asyncio
import uuid

import numpy as np
from kserve import InferRequest, InferResponse, Model
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferOutput

from distml.components.deploy.inputs import InvalidRequest, decode_v1, decode_v2


class DistmlModel(Model):
    def __init__(self, name, watcher, max_batch_size):
        super().__init__(name)
        self.watcher = watcher
        self.max_batch_size = max_batch_size

    def load(self):
        self.watcher.refresh()
        self.ready = self.watcher.current is not None
        return self.ready

    def get_input_types(self):
        served = self._served()
        return [{"name": "images", "datatype": "FP32", "shape": [-1, *served.image_shape]}]

    def get_output_types(self):
        served = self._served()
        k = len(served.class_names)
        return [
            {"name": "class_ids", "datatype": "INT64", "shape": [-1]},
            {"name": "class_names", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, k]},
        ]

    def _served(self):
        served = self.watcher.current
        if served is None:
            raise ModelNotReady(self.name, "no version loaded")
        return served

    async def predict(self, payload, headers=None, response_headers=None):
        served = self._served()  # one snapshot per request: a swap mid-request does not mix versions
        # Decoding images and running TensorFlow leave the event loop free for other requests;
        # one hand-off to the thread pool for both (each costs a loop wake-up).
        try:
            probabilities, class_ids = await asyncio.to_thread(self._decode_and_predict, payload, served)
        except InvalidRequest as e:
            raise InvalidInput(str(e)) from None
        names = [served.class_names[i] for i in class_ids]
        if isinstance(payload, InferRequest):
            return self._v2_response(payload, served, probabilities, class_ids, names)
        return {
            "predictions": [
                {"class_id": int(i), "class_name": name, "probabilities": p.tolist()}
                for i, name, p in zip(class_ids, names, probabilities)
            ],
            "model_name": self.name,
            "model_version": str(served.version),
        }

    def _decode_and_predict(self, payload, served):
        if isinstance(payload, InferRequest):
            images = decode_v2(payload.inputs, served.image_shape, self.max_batch_size)
        else:
            images = decode_v1(payload, served.image_shape, self.max_batch_size)
        return served.predict(images)

    def _v2_response(self, request, served, probabilities, class_ids, names):
        n = len(class_ids)
        outputs = [
            InferOutput("class_ids", [n], "INT64", class_ids.tolist()),
            InferOutput("class_names", [n], "BYTES", names),
            # Flat, row-major data: what gRPC contents require and REST V2 allows.
            InferOutput("probabilities", list(probabilities.shape), "FP32", probabilities.astype(np.float32).reshape(-1).tolist()),
        ]
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=str(served.version),
            infer_outputs=outputs,
            from_grpc=request.from_grpc,
        )

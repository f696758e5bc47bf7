"""KServe's ModelServer with what distml serve needs on top; imported after kserve (server.py).

KServe 0.21 binds every interface, always exposes the model repository extension (load /
unload over REST and gRPC), reports live/ready even with no model registered, logs a
traceback for every client error and has no limit on bodies or slow clients. This module
changes exactly that, by subclassing KServe's own classes:
- `ModelServer.start`: the REST and gRPC servers bound to `host`, with the limits of
  http.py, gRPC messages capped at `max_body_bytes`, and the repository extension only when
  `repository_extension` is set;
- `ServingDataPlane`: live and ready only while the served model is registered and holds a
  loaded version (so a pod whose model is gone is restarted, not kept);
- client errors (4xx / gRPC INVALID_ARGUMENT, NOT_FOUND) log one line, no traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent import futures
from http import HTTPStatus
from typing import TYPE_CHECKING

import kserve
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from grpc import StatusCode, aio
from kserve import InferRequest
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotLive, ServerNotReady, UnsupportedProtocol
from kserve.model_repository import ModelRepository
from kserve.model_server import app as kserve_app
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer

from distml.components.serve.http import RequestLimits, slow_client_protocol
from distml.components.serve.inputs import PixelBatch, parse_v1_pixels

if TYPE_CHECKING:
    from distml.components.serve.predictor import DistmlModel

log = logging.getLogger("distml.serve")

_CLIENT_ERRORS = {
    InvalidInput: HTTPStatus.BAD_REQUEST,
    UnsupportedProtocol: HTTPStatus.BAD_REQUEST,
    ModelNotFound: HTTPStatus.NOT_FOUND,
    ModelNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
    ServerNotLive: HTTPStatus.SERVICE_UNAVAILABLE,
    ServerNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
}


class ServingDataPlane(DataPlane):
    def __init__(self, model_registry: ModelRepository, served_name: str) -> None:
        super().__init__(model_registry=model_registry)
        self.served_name = served_name
        self.repository_extension = False
        self.model = None  # the DistmlModel, set by ModelServer.start

    def decode(
        self,
        body: bytes | Mapping[str, object] | InferRequest,
        headers: Mapping[str, str] | None,
        protocol_version: str = "v1",
        model_name: str | None = None,
    ) -> tuple[PixelBatch | dict[str, object] | InferRequest, dict[str, object]]:
        # V1 pixel arrays: parsed straight to numpy (parse_v1_pixels), not to a Python object
        # per pixel, which was most of the event loop's time per request (py-spy).
        if (
            protocol_version == "v1"
            and isinstance(body, bytes)
            and self.model is not None
            and (headers or {}).get("content-type") == "application/json"
            and not any(k.startswith("ce-") for k in headers)
        ):
            served = self.model.watcher.current
            parsed = parse_v1_pixels(body, served.image_shape) if served is not None else None
            if parsed is not None:
                return parsed, {}
        return super().decode(body, headers, protocol_version, model_name)

    def _serving(self):
        model = self.model_registry.get_model(self.served_name)
        return model is not None and model.ready

    async def live(self) -> dict[str, str]:
        return {"status": "alive" if self._serving() else f"model {self.served_name} is not loaded"}

    async def ready(self) -> bool:
        return self._serving()

    def metadata(self) -> dict[str, object]:
        metadata = super().metadata()
        if not self.repository_extension:
            metadata["extensions"] = []
        return metadata


class _RESTServer(RESTServer):
    def __init__(self, *args, host, limits, client_timeout_s, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.host = host
        self.config.http = slow_client_protocol(client_timeout_s)
        self.limits = limits

    def _add_middlewares(self, app):
        # KServe's timing middleware logs nothing unless its trace logger is on, but reads the
        # process CPU time twice per request; the limits must come before any parsing.
        app.add_middleware(RequestLimits, **self.limits)

    def _add_exception_handlers(self, app):
        super()._add_exception_handlers(app)
        for exc_class, status in _CLIENT_ERRORS.items():
            app.add_exception_handler(exc_class, _one_line_handler(status))
        app.add_exception_handler(RequestValidationError, _malformed_body_handler)


def _one_line_handler(status):
    async def handler(request, exc):
        log.warning("%s %s: %d %s", request.method, request.url.path, status, exc)
        return JSONResponse(status_code=status, content={"error": str(exc)})

    return handler


async def _malformed_body_handler(request, exc):
    """FastAPI answers a V2 body that fails to parse with 422; the V2 protocol (and V1) say 400."""
    problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
    log.warning("%s %s: 400 malformed request body (%s)", request.method, request.url.path, problems)
    return JSONResponse(
        status_code=400,
        content={
            "error": f"malformed request body ({problems}); expected a V2 inference request "
            '{"inputs": [{"name", "shape", "datatype", "data"}]}'
        },
    )


class _Servicer(InferenceServicer):
    def __init__(self, data_plane, model_repository_extension, repository_extension):
        super().__init__(data_plane, model_repository_extension)
        self.repository_extension = repository_extension

    @staticmethod
    def _refuse_repository():
        raise NotImplementedError(
            "the model repository extension is disabled on this server "
            "(distml serve --enable-repository-extension turns it on)"
        )

    async def RepositoryModelLoad(self, request, context):
        if not self.repository_extension:
            self._refuse_repository()
        return await super().RepositoryModelLoad(request, context)

    async def RepositoryModelUnload(self, request, context):
        if not self.repository_extension:
            self._refuse_repository()
        return await super().RepositoryModelUnload(request, context)


class _GrpcErrors(ExceptionToStatusInterceptor):
    """Client errors: the status and one log line; anything else as KServe does (with a traceback)."""

    _CODES = {
        InvalidInput: StatusCode.INVALID_ARGUMENT,
        UnsupportedProtocol: StatusCode.INVALID_ARGUMENT,
        ModelNotFound: StatusCode.NOT_FOUND,
        ModelNotReady: StatusCode.UNAVAILABLE,
        NotImplementedError: StatusCode.UNIMPLEMENTED,
    }

    async def handle_exception(self, ex, request_or_iterator, context, method_name):
        code = next((code for cls, code in self._CODES.items() if isinstance(ex, cls)), None)
        if code is None:
            return await super().handle_exception(ex, request_or_iterator, context, method_name)
        log.warning("grpc %s: %s %s", method_name, code.name, ex)
        await context.abort(code, str(ex))


class _GRPCServer(GRPCServer):
    def __init__(self, *args, host, max_message_bytes, repository_extension, **kwargs):
        super().__init__(*args, **kwargs)
        self.host = host
        self.max_message_bytes = max_message_bytes
        self.repository_extension = repository_extension

    async def start(self, max_workers):
        servicer = _Servicer(self._data_plane, self._model_repository_extension, self.repository_extension)
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(_GrpcErrors(),),
            options=[
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.max_receive_message_length", self.max_message_bytes),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        address = f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"
        self._server.add_insecure_port(address)
        log.info("gRPC server on %s", address)
        await self._server.start()
        await self._server.wait_for_termination()


class ModelServer(kserve.ModelServer):
    def __init__(
        self,
        *,
        served_name: str,
        host: str,
        max_body_bytes: int,
        client_timeout_s: float,
        repository_extension: bool,
        **kwargs: object,
    ) -> None:
        super().__init__(enable_latency_logging=False, **kwargs)
        self.host = host
        self.max_body_bytes = max_body_bytes
        self.client_timeout_s = client_timeout_s
        self.repository_extension = repository_extension
        self.dataplane = ServingDataPlane(self.registered_models, served_name)
        self.dataplane.repository_extension = repository_extension

    def start(self, models: Sequence[DistmlModel]) -> None:
        """KServe's start for one worker process, with the REST and gRPC servers above."""
        self._register_and_check_atleast_one_model_is_ready(models)
        (model,) = models
        self.dataplane.model = model
        limits = {
            "model": model,
            "max_body_bytes": self.max_body_bytes,
            "client_timeout_s": self.client_timeout_s,
            "repository_extension": self.repository_extension,
        }
        self._rest_server = _RESTServer(
            "kserve.model_server:app",
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            host=self.host,
            limits=limits,
            client_timeout_s=self.client_timeout_s,
        )
        self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = _GRPCServer(
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs={},
                grace_period=self.grace_period,
                host=self.host,
                max_message_bytes=self.max_body_bytes,
                repository_extension=self.repository_extension,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


__all__ = ["ModelServer", "kserve_app"]

"""The HTTP side's limits, enforced before any work is done for a request.

`RequestLimits` (ASGI middleware, in front of KServe's FastAPI app):
- a body larger than `max_body_bytes` gets 413 from its Content-Length alone, or as soon
  as a chunked body passes the limit; nothing more is read and the connection is closed;
- a body that has not fully arrived `client_timeout_s` after its headers gets 408;
- versioned URLs (`/v2/models/NAME/versions/N[/ready|/infer]`, and TF Serving's
  `/v1/models/NAME/versions/N[:predict]`) are served when N is the version being served,
  else 404, and reach the model without the version segment, carrying N in a header;
- with the repository extension off, `/v2/repository/...` is 404 like any unknown path.

`SlowClientProtocol` (uvicorn's httptools protocol) closes a connection whose request
headers are not complete `client_timeout_s` after it opened or after the request began.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from distml.components.serve.predictor import VERSION_HEADER

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from distml.components.serve.predictor import DistmlModel

log = logging.getLogger("distml.serve")

_VERSIONED = re.compile(r"^/(v1|v2)/models/([^/:]+)/versions/([^/:]+)(/ready|/infer|:predict)?$")
_VERSION_HEADER = VERSION_HEADER.encode()


class _TooLarge(Exception):
    pass


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        model: DistmlModel,
        max_body_bytes: int,
        client_timeout_s: float,
        repository_extension: bool,
    ) -> None:
        self.app = app
        self.model = model
        self.max_body_bytes = max_body_bytes
        self.client_timeout_s = client_timeout_s
        self.repository_extension = repository_extension

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = [(k, v) for k, v in scope["headers"] if k != _VERSION_HEADER]
        if not self.repository_extension and path.startswith("/v2/repository"):
            return await _reply(
                send,
                404,
                "the model repository extension is disabled on this server "
                "(distml serve --enable-repository-extension turns it on)",
            )
        versioned = _VERSIONED.match(path)
        if versioned:
            protocol, name, version, action = versioned.groups()
            serving = self.model.serving_version()
            if name == self.model.name and version != str(serving):
                return await _reply(
                    send, 404, f"model {name} has no version {version} here: this server serves version {serving}"
                )
            path = f"/{protocol}/models/{name}{action or ''}"
            headers.append((_VERSION_HEADER, version.encode()))
        scope = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)

        length = next((v for k, v in headers if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return await self._too_large(scope, send, int(length))
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.client_timeout_s)
        except _TooLarge:
            return await self._too_large(scope, send, None)
        except TimeoutError:
            log.warning(
                "%s %s: request body not received within %gs: 408", scope["method"], path, self.client_timeout_s
            )
            return await _reply(send, 408, f"request body not received within {self.client_timeout_s:g} s")
        if body is None:  # the client went away
            return None
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def _read_body(self, receive):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _too_large(self, scope, send, length):
        sent = f"{length} bytes" if length is not None else "a chunked body"
        log.warning("%s %s: %s over the %d-byte limit: 413", scope["method"], scope["path"], sent, self.max_body_bytes)
        await _reply(
            send,
            413,
            f"request body larger than this server's limit of {self.max_body_bytes} bytes "
            "(distml serve --max-body-bytes)",
        )


async def _reply(send, status, error):
    body = orjson.dumps({"error": error})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status in (408, 413):
        headers.append((b"connection", b"close"))  # the rest of the body is never read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def slow_client_protocol(client_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, dropping connections whose request headers stall."""

    class SlowClientProtocol(HttpToolsProtocol):
        _headers_deadline = None

        def _arm(self):
            self._disarm()
            self._headers_deadline = self.loop.call_later(client_timeout_s, self._drop)

        def _disarm(self):
            if self._headers_deadline is not None:
                self._headers_deadline.cancel()
                self._headers_deadline = None

        def _drop(self):
            if not self.transport.is_closing():
                log.warning(
                    "closing a connection from %s: request headers not received within %gs",
                    "{}:{}".format(*self.client) if self.client else "?",
                    client_timeout_s,
                )
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self):
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self):
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

    return SlowClientProtocol

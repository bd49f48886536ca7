"""HTTP hardening of the model server, in front of kserve's FastAPI app.

- `GuardedH11Protocol`: request heads over `max_header_bytes` -> 431, heads not complete within
  `header_timeout_s` -> 408 (slow clients), both before the app sees anything.
- `GuardMiddleware` (outermost ASGI layer): Content-Length over `max_body_bytes` -> 413 before
  reading; the body read in full within `body_timeout_s` (408) and within the size (413); the
  model-repository endpoints (load/unload) -> 404; a POST without Content-Type (or with curl -d's
  form type) is read as JSON.
- `install_handlers`: 400 for schema errors and for v2 bodies kserve cannot decode, 413/503 (with
  Retry-After) from the pixel budget, and a 500 whose body names no exception class or path.

    server = HostModelServer(...)   # components/deploy/server.py wires these in
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class HttpLimits:
    """Connection-level limits: request head bytes, body bytes, and how long a client may take to send them."""

    max_body_bytes: int
    max_header_bytes: int = 16 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")


def raw_response(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def guarded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a head-size limit (431) and a head timeout (408)."""

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def _arm_head_timer(self) -> None:
            self._head_bytes, self._head_tail = 0, b""
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_timed_out)

        def _head_timed_out(self) -> None:
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            if self._head_bytes:
                message = f"request head not received within {limits.header_timeout_s:g} s"
                self.transport.write(raw_response(408, "Request Timeout", message))
            self.transport.close()

        def _head_too_large(self, data: bytes) -> bool:
            window = self._head_tail + data
            end = window.find(HEAD_END)
            size = (
                self._head_bytes - len(self._head_tail) + (end + len(HEAD_END) if end >= 0 else len(window))
            )
            self._head_bytes, self._head_tail = self._head_bytes + len(data), window[-3:]
            return size > limits.max_header_bytes

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE and self._head_too_large(data):
                message = (
                    f"request head is over {limits.max_header_bytes} bytes; send fewer or shorter headers"
                )
                self.transport.write(raw_response(431, "Request Header Fields Too Large", message))
                self.transport.close()
                return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._head_timer.cancel()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._head_timer.cancel()
            if not self.transport.is_closing():
                self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class GuardMiddleware:
    """Body size/time limits, repository endpoints off, default JSON content type, no bare 500s."""

    def __init__(self, app: Any, limits: HttpLimits) -> None:
        self.app = app
        self.limits = limits

    async def _respond(self, send: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _check_head(self, scope: dict) -> list[tuple[bytes, bytes]]:
        if "/repository/" in scope["path"]:
            raise _Reject(404, "the model repository endpoints (load/unload) are disabled on this server")
        headers = list(scope["headers"])
        names = {k.lower(): v for k, v in headers}
        length = names.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                raise _Reject(400, "Content-Length is not a number")
            if int(length) > self.limits.max_body_bytes:
                raise _Reject(
                    413,
                    f"request body is {int(length)} bytes, over the limit of {self.limits.max_body_bytes}",
                )
        binary = b"inference-header-content-length" in names
        form = names.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded")
        if scope["method"] == "POST" and not binary and (b"content-type" not in names or form):
            headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]  # curl -d's default
            headers.append((b"content-type", b"application/json"))
        return headers

    async def _read_body(self, receive: Any) -> bytes | None:
        body, deadline = bytearray(), time.monotonic() + self.limits.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise _Reject(
                    408, f"request body not received within {self.limits.body_timeout_s:g} s"
                ) from None
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.limits.max_body_bytes:
                raise _Reject(413, f"request body is over the limit of {self.limits.max_body_bytes} bytes")
            if not message.get("more_body", False):
                return bytes(body)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            scope = {**scope, "headers": self._check_head(scope)}
            body = await self._read_body(receive)
            if body is None:
                return
            replayed = False

            async def replay() -> dict:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, tracked_send)
        except _Reject as e:
            if not started:
                await self._respond(send, e.status, str(e))
        except Exception:  # logged; the client gets a 500 that names nothing internal
            log.exception("unhandled error serving %s", scope.get("path"))
            if not started:
                await self._respond(send, 500, "internal server error; the server log has the details")


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


def install_handlers(app: Any) -> None:
    """Exception handlers on kserve's app (call after kserve adds its own: these replace the generic one)."""
    from fastapi.exceptions import RequestValidationError

    from components.deploy.budget import ServerBusy, TooLarge

    async def schema_error(_request: Any, exc: RequestValidationError) -> Any:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
        )
        return _json_error(400, f"malformed request body: {details}")

    async def busy(_request: Any, exc: ServerBusy) -> Any:
        return _json_error(503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    async def too_large(_request: Any, exc: TooLarge) -> Any:
        return _json_error(413, str(exc))

    async def internal(_request: Any, exc: Exception) -> Any:
        log.error("unhandled error", exc_info=exc)
        return _json_error(500, "internal server error; the server log has the details")

    app.add_exception_handler(RequestValidationError, schema_error)
    app.add_exception_handler(ServerBusy, busy)
    app.add_exception_handler(TooLarge, too_large)
    app.add_exception_handler(Exception, internal)


def harden_dataplane(dataplane: Any) -> None:
    """A v2 body kserve cannot decode (missing keys, raw non-UTF-8 bytes, bad binary sizes) is a 400."""
    from kserve.errors import InferenceError, InvalidInput

    decode, metadata = dataplane.decode, dataplane.metadata

    def safe_decode(*args: Any, **kwargs: Any) -> Any:
        try:
            return decode(*args, **kwargs)
        except InvalidInput:
            raise
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            struct.error,
            InferenceError,
        ) as e:
            raise InvalidInput(
                "malformed v2 request: send inputs with name, datatype BYTES, shape [N] and data, images "
                "base64-encoded (raw image bytes are not accepted), as JSON or valid binary tensors"
            ) from e

    def server_metadata() -> dict:
        return {**metadata(), "extensions": []}  # the model repository extension is off

    dataplane.decode = safe_decode
    dataplane.metadata = server_metadata

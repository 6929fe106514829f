"""Pure ASGI middleware: request ids, structured access logs and request size limits."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.problems import problem

access_log = logging.getLogger("bidhall.access")


class AccessLogMiddleware:
    """One JSON line per request: id, method, path, status, bytes out, duration, client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": 500, "bytes": 0}

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            access_log.info(
                json.dumps(
                    {
                        "event": "http_request",
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": outcome["status"],
                        "bytes": outcome["bytes"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": scope["client"][0] if scope.get("client") else None,
                    }
                )
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if text.isascii() and 0 < len(text) <= 64 else None
    return None


class BodyTooLarge(HTTPException):
    """Raised while a handler reads a streamed body that passes the limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over the limit of {max_bytes} bytes")


class RequestSizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, whether announced or streamed.

    Content-Length is checked before reading; chunked bodies are counted as they arrive.
    Bulk uploads (bids, documents) use their own streaming endpoints with their own limits.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: tuple[str, ...] = ()) -> None:
        """``exempt_paths``: regular expressions matched against the whole path (the
        streaming upload endpoints), so no other endpoint escapes the limit."""
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = re.compile("|".join(f"(?:{pattern})" for pattern in exempt_paths)) if exempt_paths else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt is not None and self.exempt.fullmatch(scope["path"])):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Content Too Large", f"the request body is over the limit of {self.max_bytes} bytes")
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

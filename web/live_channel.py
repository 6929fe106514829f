"""What every live channel (websocket) shares: the bearer token, refusing a connection,
one frame at a time out, the entries of a ledger stream, and problems as bodies.

The opening (``web.routes_opening``) and the evaluation session
(``web.routes_evaluation``) each decide who may follow and what a message does; the
plumbing is here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket

from core.database import Database
from core.errors import BidhallError, InvalidInput, NotAuthenticated
from supervision import live
from web.problems import from_domain_error, from_validation_error

AUTH_TIMEOUT = 10.0
"""Seconds a client has to send its ``{"type": "auth"}`` message when the URL has no token."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


def problem_body(error: Exception) -> dict[str, Any]:
    """The RFC 9457 body of a refusal (a server failure is a bare 500 body)."""
    if isinstance(error, ValidationError):
        error = from_validation_error(error)
    if isinstance(error, BidhallError):
        return json.loads(from_domain_error(error).body)  # type: ignore[no-any-return]
    return {"status": 500, "title": "Internal error", "detail": "the message could not be handled; it was logged"}


def path_id(websocket: WebSocket, name: str) -> int:
    text = str(websocket.path_params[name])
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"{name} must be a positive whole number")
    return int(text)


async def bearer_token(websocket: WebSocket) -> str:
    """The token of ``?token=``, or of a first message ``{"type": "auth", "token": ...}``."""
    token = websocket.query_params.get("token")
    if token is not None:
        return token
    first = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT)
    if not isinstance(first, dict) or first.get("type") != "auth" or not isinstance(first.get("token"), str):
        raise NotAuthenticated('send {"type": "auth", "token": "<bearer token>"} first, or ?token=')
    return first["token"]


async def refuse_connection(websocket: WebSocket, error: Exception) -> None:
    """Say why in an error message, then close with 4000 + the problem's status."""
    body = problem_body(error) if isinstance(error, BidhallError) else {
        "status": 401, "title": "Authentication required", "detail": "no valid auth message in time"}
    with contextlib.suppress(Exception):
        await websocket.send_json({"type": "error", "problem": body})
        await websocket.close(code=4000 + int(body.get("status", 400)))


def serialised_sender(websocket: WebSocket) -> Send:
    """Entries and replies go out from two tasks; one frame at a time."""
    lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_json(message)

    return send


async def send_entries(send: Send, database: Database, stream: str, from_seq: int,
                       visible: live.Visible) -> None:
    """Every entry of ``stream`` from ``from_seq`` the follower may see, as it comes."""
    feed = live.follow(database, stream, from_seq, visible=visible)
    try:
        async for entry in feed:
            await send({"type": "entry", "entry": entry})
    finally:
        await feed.aclose()

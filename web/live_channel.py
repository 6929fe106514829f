"""What every live channel (websocket) shares: the bearer token, refusing a connection,
one frame at a time out, the entries of a ledger stream, and problems as bodies.

The opening (``web.routes_opening``), the evaluation session (``web.routes_evaluation``)
and price competitions (``web.routes_price_bidding``) each decide who may follow and what
a message does; the plumbing is here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final, TypeVar

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.database import Database
from core.errors import BidhallError, InvalidInput, NotAuthenticated
from supervision import live
from web.api import query_int
from web.problems import from_domain_error, from_validation_error

AUTH_TIMEOUT = 10.0
"""Seconds a client has to send its ``{"type": "auth"}`` message when the URL has no token."""

Send = Callable[[dict[str, Any] | str], Awaitable[None]]
"""Sends one message: a dict (encoded here) or its JSON text, already encoded."""
Audience = Callable[[dict[str, Any]], Hashable]
ENCODED_KEPT = 4096
"""Entries whose encoded forms are kept for the connections still to send them."""


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


def encode(message: dict[str, Any]) -> str:
    """A message's JSON text, as ``WebSocket.send_json`` writes it."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def serialised_sender(websocket: WebSocket) -> Send:
    """Entries and replies go out from two tasks; one frame at a time."""
    lock = asyncio.Lock()

    async def send(message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else encode(message)
        async with lock:
            await websocket.send({"type": "websocket.send", "text": text})

    return send


class _EncodedEntries:
    """Entry messages already shaped and encoded, per audience.

    The followers of a stream in this process receive the same entry objects from the
    shared tail (``supervision.live``); the connections of one audience (e.g. a session's
    observers) get the same text, built by the first of them to send it. Entries are
    known by identity and kept alive while cached, so an identity is never mistaken.
    """

    def __init__(self, kept: int = ENCODED_KEPT) -> None:
        self.kept = kept
        self._by_entry: OrderedDict[int, tuple[dict[str, Any], dict[Hashable, str | None]]] = OrderedDict()

    def text(self, entry: dict[str, Any], audience: Hashable, visible: live.Visible) -> str | None:
        cached = self._by_entry.get(id(entry))
        if cached is None or cached[0] is not entry:
            cached = (entry, {})
            self._by_entry[id(entry)] = cached
            if len(self._by_entry) > self.kept:
                self._by_entry.popitem(last=False)
        forms = cached[1]
        if audience not in forms:
            shown = visible(entry)
            forms[audience] = None if shown is None else encode({"type": "entry", "entry": shown})
        return forms[audience]


ENCODED: Final = _EncodedEntries()


async def send_entries(send: Send, database: Database, stream: str, from_seq: int,
                       visible: live.Visible, audience: Audience | None = None) -> None:
    """Every entry of ``stream`` from ``from_seq`` the follower may see, as it comes.

    With ``audience`` (a key such that followers of one audience see the same of every
    entry), an entry is shaped and encoded once per audience, not once per connection.
    """
    if audience is None:
        feed = live.follow(database, stream, from_seq, visible=visible)
        try:
            async for entry in feed:
                await send({"type": "entry", "entry": entry})
        finally:
            await feed.aclose()
        return
    every = live.follow(database, stream, from_seq)
    try:
        async for entry in every:
            text = ENCODED.text(entry, audience(entry), visible)
            if text is not None:
                await send(text)
    finally:
        await every.aclose()


Handle = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Acts on one message (a JSON object) and returns the reply to send."""


async def answer_messages(websocket: WebSocket, send: Send, handle: Handle, *, max_bytes: int) -> None:
    """Read JSON-object messages until the client leaves, answering each with ``handle``'s
    reply; a message too long or not a JSON object gets a refusal and the channel goes on."""
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return
        try:
            if len(text) > max_bytes:
                raise InvalidInput(f"a message is at most {max_bytes} bytes")
            message = json.loads(text)
            if not isinstance(message, dict):
                raise InvalidInput("a message is a JSON object")
        except (ValueError, InvalidInput) as error:
            refusal = problem_body(error if isinstance(error, InvalidInput) else InvalidInput(str(error)))
            await send({"type": "reply", "id": None, "ok": False, "problem": refusal})
            continue
        await send(await handle(message))


Joined = TypeVar("Joined")


async def open_channel(websocket: WebSocket, path_name: str,
                       connect: Callable[[int], Awaitable[Joined]]) -> tuple[int, int, Joined] | None:
    """Accept the connection, read the path id and ``?from=SEQ`` and let ``connect(id)``
    authenticate the follower; returns ``(id, from_seq, what connect returned)``, or None
    when the connection was refused (the refusal is already sent) or the client left."""
    await websocket.accept()
    try:
        subject_id = path_id(websocket, path_name)
        from_seq = query_int(websocket, "from", 0, minimum=0, maximum=2**62)  # type: ignore[arg-type]
        joined = await connect(subject_id)
    except (BidhallError, asyncio.TimeoutError, ValueError) as error:
        await refuse_connection(websocket, error)
        return None
    except WebSocketDisconnect:
        return None
    return subject_id, from_seq, joined


async def stop(*tasks: asyncio.Future[Any]) -> None:
    """Cancel a channel's background tasks and wait for them, whatever they were doing."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

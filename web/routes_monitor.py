"""Regulators' live monitoring feed and the summary of what is happening now.

Live feed: ``/ws/supervision/feed?from=SEQ&region=&segment=&stream_kind=`` streams every
ledger entry the user may see, whatever its stream, from ``SEQ`` on (default: from now;
resume with the last ``seq`` seen + 1 after a reconnect and nothing is lost). The bearer
token comes as ``?token=`` or in a first message ``{"type": "auth", "token": ...}``.
Regulators see the entries whose stream lies in their jurisdiction and industries
(``supervision.scopes.covers``); auditors and administrators see every entry; anyone else
is refused (close code 4403). ``region``, ``segment`` and ``stream_kind`` narrow the feed;
a regulator's region or segment outside its jurisdiction is refused (4403) and the attempt
is recorded in the ledger first. Entries go out unchanged: the ledger holds no secrets
(sealed values are commitments). Server messages::

    {"type": "ready", "from": SEQ, "filters": {...}}
    {"type": "entry", "entry": {...ledger entry...}}
    {"type": "error", "problem": {...}}   then close with 4000 + status

The feed takes no messages; anything sent is answered with a refusal and ignored.

HTTP: ``GET /supervision/summary`` (``web.monitor_summary``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.actors import Actor
from core.database import Database
from core.errors import BidhallError, FieldError, InvalidInput
from identities.service import authenticate
from supervision import live
from supervision.ledger.tree import ledger_size
from supervision.scopes import (
    UNRESTRICTED,
    FeedFilter,
    Refusal,
    ScopeCache,
    open_feed,
)
from web.api import Api, query_int
from web.auth import client_address, with_actor
from web.live_channel import (
    Send,
    bearer_token,
    problem_body,
    refuse_connection,
    serialised_sender,
)
from web.monitor_summary import summary

log = logging.getLogger("bidhall.monitor")
api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
TAG = "supervision"


@api.operation("GET", "/supervision/summary",
               "What is happening now within the caller's jurisdiction: openings, sessions, draws, warnings "
               "(regulator, auditor, admin)", tag=TAG, errors=(401, 403))
async def get_summary(request: Request) -> Response:
    async def work(session: AsyncSession, actor: Actor) -> Response:
        return JSONResponse(await summary(session, actor))

    return await with_actor(request, work)


# --- the live feed ------------------------------------------------------------------------------------


async def _authorise(websocket: WebSocket, database: Database, wanted: FeedFilter,
                     asked_from: int | None) -> tuple[Actor, int]:
    """Who follows, and from which number; a refused attempt is committed before it is refused."""
    token = await bearer_token(websocket)
    async with database.transaction() as session:
        actor = await authenticate(session, token, source_address=client_address(websocket))
        size = await ledger_size(session)
        if asked_from is not None and asked_from > size:
            raise InvalidInput(f"from={asked_from} is past the ledger's head: it has {size} entries, so from may "
                               f"be at most {size}", [FieldError("?from", "past the head")])
        access = await open_feed(session, actor, wanted)
    if isinstance(access, Refusal):
        access.refuse()
    return actor, size if asked_from is None else asked_from


def feed_view(database: Database, actor: Actor, wanted: FeedFilter) -> live.AsyncVisible:
    """Which entries go to ``actor``: those its oversight covers, narrowed by ``wanted``."""
    scopes = ScopeCache(database)
    everything = actor.has_any(UNRESTRICTED) and not wanted.needs_scope()

    async def visible(entry: dict[str, Any]) -> dict[str, Any] | None:
        stream = entry["stream"]
        if wanted.stream_kind is not None and stream.partition(":")[0] != wanted.stream_kind:
            return None
        if everything:
            return entry
        return entry if wanted.admits(actor, stream, await scopes.scope(stream)) else None

    return visible


async def _send_feed(websocket: WebSocket, send: Send, database: Database, actor: Actor, wanted: FeedFilter,
                     from_seq: int) -> None:
    feed = live.follow_all(database, from_seq, visible=feed_view(database, actor, wanted))
    try:
        async for entry in feed:
            try:
                await send({"type": "entry", "entry": entry})
            except Exception:  # noqa: BLE001 - whatever the socket raises, the follower left
                return
    except Exception:  # noqa: BLE001 - the database failed: say so rather than fall silent
        log.exception("supervision feed of user %s stopped", actor.user_id)
        with contextlib.suppress(Exception):
            await send({"type": "error", "problem": problem_body(RuntimeError())})
            await websocket.close(code=1011)  # resume from the last seq seen
    finally:
        await feed.aclose()


async def supervision_feed(websocket: WebSocket) -> None:
    database: Database = websocket.app.state.runtime.database
    await websocket.accept()
    try:
        params = websocket.query_params
        wanted = FeedFilter.parse(params.get("region"), params.get("segment"), params.get("stream_kind"))
        asked_from = (query_int(websocket, "from", 0, minimum=0, maximum=2**62)  # type: ignore[arg-type]
                      if "from" in params else None)
        actor, from_seq = await _authorise(websocket, database, wanted, asked_from)
    except (BidhallError, asyncio.TimeoutError, ValueError) as error:
        await refuse_connection(websocket, error)
        return
    except WebSocketDisconnect:
        return
    send = serialised_sender(websocket)
    await send({"type": "ready", "from": from_seq, "filters": wanted.asked()})
    sender = asyncio.ensure_future(_send_feed(websocket, send, database, actor, wanted, from_seq))
    try:
        await _ignore_messages(websocket, send)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _ignore_messages(websocket: WebSocket, send: Send) -> None:
    """Wait for the client to leave; the feed takes no messages."""
    refusal = problem_body(InvalidInput("the supervision feed takes no messages; reconnect with other filters"))
    while True:
        try:
            frame = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if frame["type"] == "websocket.disconnect":
            return
        with contextlib.suppress(Exception):
            await send({"type": "reply", "id": None, "ok": False, "problem": refusal})


WEBSOCKET_ROUTES = [WebSocketRoute("/ws/supervision/feed", supervision_feed)]
"""The live feed's route; the application mounts it beside the HTTP operations."""

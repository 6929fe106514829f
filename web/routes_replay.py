"""Replay over HTTP for regulators, auditors and administrators: a stream's state at any
moment or sequence number, and its step-by-step timeline.

A regulator's request outside its jurisdiction is recorded by the use case, and refused
(403) only after the transaction holding the record has committed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute

from supervision import replay_access
from supervision.replay_access import Refusal
from web.api import Api, QueryParam, query_int
from web.auth import current_actor
from web.trading_http import query_time

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []
TAG = "replay"
MAX_SEQ = 2**62


@api.operation("GET", "/supervision/streams/{stream}/state", "A stream's state at a moment or sequence number",
               tag=TAG, errors=(403, 404, 422), query=(
                   QueryParam("at", {"type": "string", "format": "date-time"}, "RFC 3339 moment (default: now)"),
                   QueryParam("seq", {"type": "integer", "minimum": 0}, "state after this ledger entry")))
async def stream_state(request: Request) -> Response:
    stream = str(request.path_params["stream"])
    at = query_time(request, "at")
    seq = query_int(request, "seq", 0, minimum=0, maximum=MAX_SEQ) if "seq" in request.query_params else None
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        result = await replay_access.state_at(session, actor, runtime.registry, stream, at=at, seq=seq)
    if isinstance(result, Refusal):
        result.refuse()  # the record of the attempt is committed by now
    return JSONResponse(result.to_dict())


@api.operation("GET", "/supervision/streams/{stream}/timeline",
               "Every step of a stream: seq, time, type, actor and what changed (paged)",
               tag=TAG, errors=(403, 404, 422), query=(
                   QueryParam("after", {"type": "integer", "minimum": 0}, "steps after this ledger entry"),
                   QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": replay_access.MAX_PAGE})))
async def stream_timeline(request: Request) -> Response:
    stream = str(request.path_params["stream"])
    after = query_int(request, "after", 0, minimum=0, maximum=MAX_SEQ) if "after" in request.query_params else -1
    limit = query_int(request, "limit", 100, minimum=1, maximum=replay_access.MAX_PAGE)
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        result = await replay_access.timeline_page(session, actor, runtime.registry, stream, after=after, limit=limit)
    if isinstance(result, Refusal):
        result.refuse()
    return JSONResponse(result.to_dict())

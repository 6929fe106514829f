"""Public ledger endpoints: anyone may check the platform's trace.

Heads, proofs and published heads are public; reading an entry is for oversight roles
(entries name people), and so is publishing a head on demand.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import FieldError, InvalidInput
from supervision import heads
from supervision.ledger import inspect
from supervision.replay_access import Refusal
from web.api import Api, QueryParam, path_int, query_int
from web.auth import current_actor
from web.trading_http import query_time

api = Api()


@api.operation("GET", "/ledger/head", "The signed tree head over every entry", authenticated=False, tag="ledger")
async def ledger_head(request: Request) -> Response:
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        return JSONResponse(await inspect.head(session, runtime.signer))


@api.operation("GET", "/ledger/entries/{index}", "One entry and the exact bytes hashed (oversight roles)",
               tag="ledger", errors=(403, 404))
async def ledger_entry(request: Request) -> Response:
    index = path_int(request, "index")
    async with request.app.state.runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        found = await inspect.read_entry(session, actor, index)
    if isinstance(found, Refusal):
        found.refuse()  # the record of the attempt is committed by now
    return JSONResponse(found)


@api.operation("GET", "/ledger/entries/{index}/proof", "Inclusion proof (RFC 6962 audit path)",
               authenticated=False, tag="ledger",
               query=(QueryParam("size", {"type": "integer", "minimum": 1}, "tree size (default: current)"),))
async def ledger_proof(request: Request) -> Response:
    index = path_int(request, "index")
    size = query_int(request, "size", 0, minimum=1, maximum=2**62) if "size" in request.query_params else None
    async with request.app.state.runtime.database.transaction() as session:
        return JSONResponse(await inspect.prove(session, index, size))


@api.operation("GET", "/ledger/consistency", "Consistency proof between two tree sizes", authenticated=False,
               tag="ledger", query=(QueryParam("first", {"type": "integer", "minimum": 1}, required=True),
                                    QueryParam("second", {"type": "integer", "minimum": 1}, required=True)))
async def ledger_consistency(request: Request) -> Response:
    first = query_int(request, "first", 0, minimum=1, maximum=2**62)
    second = query_int(request, "second", 0, minimum=1, maximum=2**62)
    async with request.app.state.runtime.database.transaction() as session:
        return JSONResponse(await inspect.consistency(session, first, second))


# --- published tree heads ------------------------------------------------------------------


@api.operation("POST", "/ledger/heads", "Publish a signed tree head now (administrators, auditors, regulators)",
               tag="ledger", status=201, errors=(403,))
async def publish_head(request: Request) -> Response:
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        published = await heads.publish_head(session, actor, runtime.signer, trigger="demand")
    return JSONResponse(published, status_code=201)


@api.operation("GET", "/ledger/heads", "Published signed tree heads, by growing size (paged)",
               authenticated=False, tag="ledger", query=(
                   QueryParam("since", {"type": "string", "format": "date-time"}, "published at or after"),
                   QueryParam("after_size", {"type": "integer", "minimum": 0}, "the page after this size"),
                   QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": heads.MAX_PAGE})))
async def list_heads(request: Request) -> Response:
    since = query_time(request, "since")
    after = query_int(request, "after_size", 0, minimum=0, maximum=2**62) if "after_size" in request.query_params else -1
    limit = query_int(request, "limit", 50, minimum=1, maximum=heads.MAX_PAGE)
    async with request.app.state.runtime.database.reader() as session:
        return JSONResponse(await heads.list_published(session, since=since, after_size=after, limit=limit))


@api.operation("GET", "/ledger/heads/{size}", "The head published at this tree size", authenticated=False,
               tag="ledger", errors=(404,))
async def head_at_size(request: Request) -> Response:
    size = path_int(request, "size")
    async with request.app.state.runtime.database.reader() as session:
        return JSONResponse(await heads.published_at_size(session, size))


@api.operation("POST", "/ledger/heads/check", "Check a presented tree head against this ledger",
               authenticated=False, tag="ledger", errors=(422,))
async def check_head(request: Request) -> Response:
    document = await _json_body(request)
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        return JSONResponse(await heads.check_presented(session, runtime.signer, document))


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/json":
        raise InvalidInput(f"the body must be application/json, not {content_type or 'missing'!r}")
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"the body is not valid JSON: {error}", [FieldError("$", "malformed JSON")]) from None

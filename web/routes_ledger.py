"""Public ledger endpoints: anyone may check the platform's trace."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supervision.ledger import inspect
from web.api import Api, QueryParam, path_int, query_int
from web.auth import current_actor

api = Api()


@api.operation("GET", "/ledger/head", "The signed tree head over every entry", authenticated=False, tag="ledger")
async def ledger_head(request: Request) -> Response:
    runtime = request.app.state.runtime
    async with runtime.database.transaction() as session:
        return JSONResponse(await inspect.head(session, runtime.signer))


@api.operation("GET", "/ledger/entries/{index}", "One entry and the exact bytes hashed (oversight roles)",
               tag="ledger", errors=(404,))
async def ledger_entry(request: Request) -> Response:
    index = path_int(request, "index")
    async with request.app.state.runtime.database.transaction() as session:
        actor = await current_actor(request, session)
        return JSONResponse(await inspect.read_entry(session, actor, index))


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

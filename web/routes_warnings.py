"""Early warnings over HTTP: the rules, the list, one warning with its evidence, and its handling.

Lists show a regulator only the warnings within their jurisdiction and industries. Reading
or handling a warning outside them is refused (403) *after* the attempt has been recorded
and committed: the service returns the refusal, the transaction commits, then it is raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from core.actors import Actor
from core.errors import FieldError, InvalidInput
from core.usecases import require_role
from supervision.warnings import service
from supervision.warnings.rules import registered_rules
from supervision.warnings.schemas import (
    CloseWarningIn,
    RuleOut,
    WarningOut,
    WarningSummary,
)
from web.api import Api, QueryParam, json_response, parse_body, path_int, query_int
from web.auth import with_actor

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []
TAG = "warnings"


@api.operation("GET", "/warning-rules", "The warning rules, their documentation and default parameters",
               response=RuleOut, response_is_list=True, tag=TAG, errors=(403,))
async def list_rules(request: Request) -> Response:
    async def work(session: AsyncSession, actor: Actor) -> Response:
        require_role(actor, service.VIEWERS, "reading the warning rules")
        return json_response([RuleOut(code=r.code, title=r.title, documentation=r.documentation,
                                      parameters=dict(r.defaults)) for r in registered_rules()])

    return await with_actor(request, work)


@api.operation("GET", "/warnings", "Warnings within the caller's jurisdiction, newest first",
               response=WarningSummary, response_is_list=True, tag=TAG, errors=(403, 422),
               query=(QueryParam("rule", {"type": "string"}, "a rule code"),
                      QueryParam("status", {"type": "string", "enum": list(service.STATUSES)}),
                      QueryParam("project", {"type": "integer", "minimum": 1}, "a project id"),
                      QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 500})))
async def list_warnings(request: Request) -> Response:
    params = request.query_params
    project = query_int(request, "project", 0, minimum=1, maximum=2**62) if "project" in params else None
    limit = query_int(request, "limit", 100, minimum=1, maximum=500)
    unknown = sorted(set(params) - {"rule", "status", "project", "limit"})
    if unknown:
        raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}",
                           [FieldError(f"?{name}", "unknown") for name in unknown])

    async def work(session: AsyncSession, actor: Actor) -> Response:
        rows = await service.list_warnings(session, actor, rule=params.get("rule"), status=params.get("status"),
                                           project_id=project, limit=limit)
        return json_response([WarningSummary.model_validate(row) for row in rows])

    return await with_actor(request, work)


async def _outcome(request: Request, call: Callable[[AsyncSession, Actor], Awaitable[service.Outcome]]) -> Response:
    """Run ``call(session, actor)`` in the request's transaction; raise a refusal after the commit."""
    outcomes: list[service.Outcome] = []

    async def work(session: AsyncSession, actor: Actor) -> Response:
        outcome = await call(session, actor)
        outcomes.append(outcome)
        return json_response(WarningOut.model_validate(outcome.warning)) if outcome.warning else Response()

    response = await with_actor(request, work)
    outcomes[0].raise_refusal()
    return response


@api.operation("GET", "/warnings/{warning_id}", "One warning with its evidence",
               response=WarningOut, tag=TAG, errors=(403, 404))
async def get_warning(request: Request) -> Response:
    warning_id = path_int(request, "warning_id")
    return await _outcome(request, lambda session, actor: service.get_warning(session, actor, warning_id))


@api.operation("POST", "/warnings/{warning_id}/acknowledge", "Acknowledge a warning (regulators of its scope)",
               response=WarningOut, tag=TAG, errors=(403, 404, 409))
async def acknowledge(request: Request) -> Response:
    warning_id = path_int(request, "warning_id")
    return await _outcome(request, lambda session, actor: service.acknowledge_warning(session, actor, warning_id))


@api.operation("POST", "/warnings/{warning_id}/investigate", "Start investigating a warning (regulators of its scope)",
               response=WarningOut, tag=TAG, errors=(403, 404, 409))
async def investigate(request: Request) -> Response:
    warning_id = path_int(request, "warning_id")
    return await _outcome(request, lambda session, actor: service.investigate_warning(session, actor, warning_id))


@api.operation("POST", "/warnings/{warning_id}/close", "Close a warning with a reason (regulators of its scope)",
               request=CloseWarningIn, response=WarningOut, tag=TAG, errors=(403, 404, 409, 422))
async def close(request: Request) -> Response:
    warning_id = path_int(request, "warning_id")
    data = await parse_body(request, CloseWarningIn)
    return await _outcome(request, lambda session, actor: service.close_warning(session, actor, warning_id,
                                                                                data.reason))

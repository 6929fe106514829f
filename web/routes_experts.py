"""HTTP endpoints of the expert pool (industry authority) and of draws (trading centre)."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.actors import Actor
from core.errors import InvalidInput
from core.schemas import Input, Output
from expert_pool import assessments, draws, import_service, service
from expert_pool.models import Draw, Expert
from expert_pool.schemas import (
    Admission,
    DrawOut,
    DrawRequest,
    ExpertCreate,
    ExpertOut,
    RelationCreate,
    Renewal,
    StatusChange,
    Suspension,
    UnavailabilityCreate,
    ViolationIn,
)
from expert_pool.states import ExpertStatus
from web.api import Api, QueryParam, json_response, parse_body, path_int, query_int
from web.auth import with_actor

api = Api()
MAX_IMPORT_BYTES = 50 * 1024 * 1024
IMPORT_TYPES = {"text/csv": "csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}


class ExpertPage(Output):
    items: list[ExpertOut]
    total: int
    offset: int
    limit: int


class ImportReportOut(Output):
    data_rows: int
    imported: int
    rejected: int
    errors: list[dict[str, Any]]



async def _expert_out(session: AsyncSession, expert: Expert) -> ExpertOut:
    codes = await service.specialties_of(session, expert.id)  # type: ignore[arg-type]
    return ExpertOut.model_validate({**expert.model_dump(), "specialties": codes})


# --- the pool -----------------------------------------------------------------------------


@api.operation("POST", "/experts", "Register an expert (industry authority)", request=ExpertCreate,
               response=ExpertOut, status=201, tag="experts", errors=(409,))
async def register_expert(request: Request) -> Response:
    data = await parse_body(request, ExpertCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        expert = await service.register_expert(session, actor, data)
        return json_response(await _expert_out(session, expert), 201)

    return await with_actor(request, work)


@api.operation("GET", "/experts", "List experts (industry authority, regulators, auditors)", response=ExpertPage,
               tag="experts", query=(QueryParam("status", {"type": "string", "enum": [s.value for s in ExpertStatus]}),
                                     QueryParam("offset", {"type": "integer", "minimum": 0}),
                                     QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200})))
async def list_experts(request: Request) -> Response:
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**9)
    limit = query_int(request, "limit", 50, minimum=1, maximum=200)
    status_text = request.query_params.get("status")
    if status_text is not None and status_text not in {s.value for s in ExpertStatus}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in ExpertStatus)}")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        experts, total = await service.list_experts(
            session, actor, status=ExpertStatus(status_text) if status_text else None, offset=offset, limit=limit)
        codes = await service.specialties_by_expert(session, [e.id for e in experts])  # type: ignore[misc]
        items = [ExpertOut.model_validate({**e.model_dump(), "specialties": codes.get(e.id, [])})  # type: ignore[arg-type]
                 for e in experts]
        return json_response(ExpertPage(items=items, total=total, offset=offset, limit=limit))

    return await with_actor(request, work)


@api.operation("GET", "/experts/{expert_id}", "Read an expert", response=ExpertOut, tag="experts", errors=(404,))
async def get_expert(request: Request) -> Response:
    expert_id = path_int(request, "expert_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        expert, codes = await service.get_expert(session, actor, expert_id)
        return json_response(ExpertOut.model_validate({**expert.model_dump(), "specialties": codes}))

    return await with_actor(request, work)


def _lifecycle(action: str, model: type[BaseModel], use: Callable[..., Awaitable[Any]]) -> None:
    async def change(request: Request) -> Response:
        expert_id = path_int(request, "expert_id")
        data = await parse_body(request, model)

        async def work(session: AsyncSession, actor: Actor) -> Response:
            result = await use(session, actor, expert_id, data)
            if isinstance(result, Expert):
                return json_response(await _expert_out(session, result))
            return JSONResponse({"id": result.id}, status_code=201)

        return await with_actor(request, work)

    change.__name__ = f"expert_{action}"
    response = ExpertOut if action not in ("relations", "unavailability") else None
    api.operation("POST", f"/experts/{{expert_id}}/{action}", f"{action.capitalize()} (industry authority)",
                  request=model, response=response, status=201 if response is None else 200, tag="experts",
                  errors=(404, 409))(change)


for _action, _model, _use in (
    ("admit", Admission, service.admit_expert), ("reject", StatusChange, service.reject_expert),
    ("suspend", Suspension, service.suspend_expert), ("reinstate", StatusChange, service.reinstate_expert),
    ("renew", Renewal, service.renew_expert), ("dismiss", StatusChange, service.dismiss_expert),
    ("relations", RelationCreate, service.declare_relation),
    ("unavailability", UnavailabilityCreate, service.declare_unavailability),
):
    _lifecycle(_action, _model, _use)


@api.operation("POST", "/experts/import", "Import a pool from CSV or XLSX (the raw file as the body)",
               response=ImportReportOut, tag="experts")
async def import_experts(request: Request) -> Response:
    """Every valid row is admitted; every problem is reported by row and field."""
    kind = IMPORT_TYPES.get(request.headers.get("content-type", "").split(";")[0].strip())
    if kind is None:
        raise InvalidInput(f"send the file as {' or '.join(IMPORT_TYPES)}")
    with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as upload:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_IMPORT_BYTES:
                raise InvalidInput(f"an import file is at most {MAX_IMPORT_BYTES} bytes")
            upload.write(chunk)
        upload.seek(0)

        async def work(session: AsyncSession, actor: Actor) -> Response:
            report = await import_service.import_experts(session, actor, upload, format=kind)
            return JSONResponse(report.to_dict())

        return await with_actor(request, work)


# --- draws --------------------------------------------------------------------------------


async def _draw_out(session: AsyncSession, draw: Draw) -> DrawOut:
    """Counts and commitments; for a venue draw each venue's quotas and acceptances, never who."""
    return DrawOut.model_validate({**draw.model_dump(), "venues": await draws.venue_counts(session, draw)})


@api.operation("POST", "/draws", "Request an expert draw for a lot (trading centre); region_rule venues draws "
               "for a main venue and secondary venues, each from its own region with its own quotas",
               request=DrawRequest, response=DrawOut, status=201, tag="draws", errors=(409, 422))
async def request_draw(request: Request) -> Response:
    data = await parse_body(request, DrawRequest)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await _draw_out(session, await draws.request_draw(session, actor, data)), 201)

    return await with_actor(request, work)


@api.operation("GET", "/draws/{draw_id}", "A draw: counts and commitments, never names", response=DrawOut,
               tag="draws", errors=(404,))
async def get_draw(request: Request) -> Response:
    draw_id = path_int(request, "draw_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await _draw_out(session, await draws.get_draw(session, actor, draw_id)))

    return await with_actor(request, work)


@api.operation("GET", "/draws/{draw_id}/experts", "Who was drawn (regulators; each read is recorded)",
               tag="draws", errors=(404,))
async def drawn_list(request: Request) -> Response:
    draw_id = path_int(request, "draw_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return JSONResponse(await draws.read_drawn_list(session, actor, draw_id))

    return await with_actor(request, work)


@api.operation("POST", "/draws/{draw_id}/reveal", "Publish the seed, snapshot and calls of a finished draw",
               response=DrawOut, tag="draws", errors=(404, 409))
async def reveal(request: Request) -> Response:
    draw_id = path_int(request, "draw_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await _draw_out(session, await draws.reveal_draw(session, actor, draw_id)))

    return await with_actor(request, work)


@api.operation("GET", "/draws/{draw_id}/verification", "Re-run a revealed draw from the ledger alone",
               authenticated=False, tag="draws")
async def verification(request: Request) -> Response:
    draw_id = path_int(request, "draw_id")
    async with request.app.state.runtime.database.reader() as session:
        result = await draws.verify_from_ledger(session, draw_id)
    return JSONResponse({"draw": draw_id, **result.to_dict()})


# --- the expert's own view ----------------------------------------------------------------


class AccountLink(Input):
    user_id: int = Field(ge=1)


@api.operation("POST", "/experts/{expert_id}/account", "Link an expert to their sign-in account",
               request=AccountLink, response=ExpertOut, tag="experts", errors=(404, 409))
async def link_account(request: Request) -> Response:
    expert_id = path_int(request, "expert_id")
    data = await parse_body(request, AccountLink)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        expert = await service.link_account(session, actor, expert_id, data.user_id)
        return json_response(await _expert_out(session, expert))

    return await with_actor(request, work)


@api.operation("GET", "/me/invitations", "My invitations (experts): time and place only", tag="experts")
async def my_invitations(request: Request) -> Response:
    async def work(session: AsyncSession, actor: Actor) -> Response:
        rows = await draws.my_invitations(session, actor)
        return JSONResponse([{**row, "evaluation_at": row["evaluation_at"].isoformat(),
                              "called_at": row["called_at"].isoformat()} for row in rows])

    return await with_actor(request, work)


def _answer_endpoint(accept: bool):  # type: ignore[no-untyped-def]
    async def answer(request: Request) -> Response:
        call_id = path_int(request, "invitation_id")

        async def work(session: AsyncSession, actor: Actor) -> Response:
            call = await draws.answer_invitation(session, actor, call_id, accept=accept)
            return JSONResponse({"invitation": call.id, "answer": call.answer})

        return await with_actor(request, work)

    answer.__name__ = "accept_invitation" if accept else "decline_invitation"
    return answer


for _accept in (True, False):
    api.operation("POST", f"/me/invitations/{{invitation_id}}/{'accept' if _accept else 'decline'}",
                  f"{'Accept' if _accept else 'Decline'} an invitation (experts)", tag="experts",
                  errors=(404, 409))(_answer_endpoint(_accept))


# --- applying with one's own account ------------------------------------------------------


@api.operation("POST", "/me/expert-application", "Apply to the expert pool with my own account (experts)",
               request=ExpertCreate, response=ExpertOut, status=201, tag="experts", errors=(409,))
async def apply_to_pool(request: Request) -> Response:
    data = await parse_body(request, ExpertCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        expert = await service.apply_to_pool(session, actor, data)
        return json_response(await _expert_out(session, expert), 201)

    return await with_actor(request, work)


@api.operation("GET", "/me/expert-application", "My application to the expert pool and its review",
               response=ExpertOut, tag="experts", errors=(404,))
async def my_application(request: Request) -> Response:
    async def work(session: AsyncSession, actor: Actor) -> Response:
        expert, codes = await service.my_application(session, actor)
        return json_response(ExpertOut.model_validate({**expert.model_dump(), "specialties": codes}))

    return await with_actor(request, work)


@api.operation("POST", "/experts/{expert_id}/violations", "Record a violation (industry authority, regulators)",
               request=ViolationIn, status=201, tag="experts", errors=(403, 404, 422))
async def record_violation(request: Request) -> Response:
    expert_id = path_int(request, "expert_id")
    data = await parse_body(request, ViolationIn)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        violation = await assessments.record_violation(session, actor, expert_id, data)
        return json_response({"id": violation.id, "kind": violation.kind, "penalty": violation.penalty}, 201)

    return await with_actor(request, work)


@api.operation("GET", "/experts/{expert_id}/history",
               "An expert's history: calls and answers, assessments, violations (oversight; the expert their own)",
               tag="experts", errors=(403, 404))
async def expert_history(request: Request) -> Response:
    expert_id = path_int(request, "expert_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await assessments.expert_history(session, actor, expert_id))

    return await with_actor(request, work)

"""HTTP endpoints of complaints to the regulator and of monitoring cases.

Complaints: ``POST /lots/{lot_id}/complaints`` (file), ``GET /lots/{lot_id}/complaints``,
``GET /complaints/{id}``, ``POST /complaints/{id}/evidence?name=`` (raw body, streamed to a
blob with the limit ``max_document_bytes``, hence ``UPLOAD_PATHS``) and
``GET /complaints/{id}/evidence/{evidence_id}``, and the regulator's
``/acceptance``, ``/suspension``, ``/suspension/lift``, ``/decision``. Monitoring cases:
``POST /monitoring-cases``, ``GET /monitoring-cases/{id}``, ``/findings``,
``/response-request``, ``/response`` (the tenderer), ``/closure``.

A regulator acting outside the lot's jurisdiction gets 403; the attempt is recorded in the
complaint's (or case's) stream and committed before the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import WebSocketRoute

from core.actors import Actor
from core.errors import NotFound
from trading import complaints, monitoring
from trading.complaint_models import Complaint, ComplaintEvidence
from trading.complaint_schemas import (
    AcceptanceDecision,
    CaseConclusion,
    CaseOpen,
    CaseOut,
    CaseResponse,
    ComplaintCreate,
    ComplaintDecisionIn,
    ComplaintOut,
    EvidenceOut,
    FindingIn,
    FindingOut,
    ResponseRequest,
    SuspensionOrder,
)
from web.api import Api, QueryParam, json_response, parse_body, path_int
from web.auth import with_actor
from web.middleware import BodyTooLarge
from web.problems import problem

api = Api()
UPLOAD_PATHS: tuple[str, ...] = (r"/complaints/\d+/evidence",)  # streams its body with a limit of its own
WEBSOCKET_ROUTES: list[WebSocketRoute] = []
TAG = "complaints"
CASES = "monitoring"
Refusal = Callable[[AsyncSession, Actor, int, str], Awaitable[str | None]]


def _complaint_out(row: Complaint, evidence: list[ComplaintEvidence] | None = None) -> ComplaintOut:
    return ComplaintOut.model_validate({**row.model_dump(), "evidence": [
        EvidenceOut.model_validate(item) for item in evidence or []]})


def _refused(detail: str) -> Response:
    return problem(403, "Outside your jurisdiction", detail, code="outside-jurisdiction")


async def _guarded(request: Request, refusal: Refusal, ident: int, action: str,
                   call: Callable[[AsyncSession, Actor], Awaitable[Response]]) -> Response:
    """Run ``call``; a regulator outside the jurisdiction is recorded (committed), then refused."""

    async def work(session: AsyncSession, actor: Actor) -> Response:
        detail = await refusal(session, actor, ident, action)
        return _refused(detail) if detail is not None else await call(session, actor)

    return await with_actor(request, work)


# --- complaints -----------------------------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/complaints", "File a complaint about a lot with the regulator (bidder)",
               request=ComplaintCreate, response=ComplaintOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def file_complaint(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, ComplaintCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(_complaint_out(await complaints.file_complaint(session, actor, lot_id, data)), 201)

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/complaints", "The complaints about a lot the caller may read",
               response=ComplaintOut, response_is_list=True, tag=TAG, errors=(403, 404))
async def list_complaints(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        rows = await complaints.list_lot_complaints(session, actor, lot_id)
        return json_response([_complaint_out(row) for row in rows])

    return await with_actor(request, work)


@api.operation("GET", "/complaints/{complaint_id}", "A complaint with its evidence and due dates",
               response=ComplaintOut, tag=TAG, errors=(403, 404))
async def get_complaint(request: Request) -> Response:
    complaint_id = path_int(request, "complaint_id")

    async def call(session: AsyncSession, actor: Actor) -> Response:
        return json_response(_complaint_out(*await complaints.get_complaint(session, actor, complaint_id)))

    return await _guarded(request, complaints.refused_outside_jurisdiction, complaint_id, "read", call)


@api.operation("POST", "/complaints/{complaint_id}/evidence", "Upload an evidence file (raw body, streamed)",
               response=EvidenceOut, status=201, tag=TAG, errors=(403, 404, 409, 413, 422),
               query=(QueryParam("name", {"type": "string", "maxLength": 200}, required=True),))
async def upload_evidence(request: Request) -> Response:
    complaint_id = path_int(request, "complaint_id")
    runtime = request.app.state.runtime
    limit = runtime.settings.max_document_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    async def work(session: AsyncSession, actor: Actor) -> Response:
        evidence = await complaints.add_evidence(
            session, actor, complaint_id, name=request.query_params.get("name", ""), media_type=media_type,
            content=_bounded(request.stream(), limit), blobs=runtime.blobs, max_bytes=limit)
        return json_response(EvidenceOut.model_validate(evidence), 201)

    return await with_actor(request, work)


@api.operation("GET", "/complaints/{complaint_id}/evidence/{evidence_id}", "Download an evidence file",
               tag=TAG, errors=(403, 404))
async def download_evidence(request: Request) -> Response:
    complaint_id, evidence_id = path_int(request, "complaint_id"), path_int(request, "evidence_id")
    blobs = request.app.state.runtime.blobs

    async def call(session: AsyncSession, actor: Actor) -> Response:
        _, files = await complaints.get_complaint(session, actor, complaint_id)
        found = next((item for item in files if item.id == evidence_id), None)
        if found is None:
            raise NotFound(f"complaint {complaint_id} has no evidence file {evidence_id}")
        headers = {"Content-Length": str(found.size), "ETag": f'"{found.sha256}"', "X-Content-SHA256": found.sha256,
                   "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"}
        return StreamingResponse(blobs.iter_chunks(found.sha256), media_type=found.media_type, headers=headers)

    return await _guarded(request, complaints.refused_outside_jurisdiction, complaint_id, "read evidence", call)


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body, refused with 413 as soon as it passes ``limit`` (chunked bodies announce no size)."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        yield chunk


def _regulator_step(suffix: str, summary: str, model: type[BaseModel] | None,
                    call: Callable[[AsyncSession, Actor, int, Any], Awaitable[Complaint]]) -> None:
    async def endpoint(request: Request) -> Response:
        complaint_id = path_int(request, "complaint_id")
        data = await parse_body(request, model) if model is not None else None

        async def step(session: AsyncSession, actor: Actor) -> Response:
            return json_response(_complaint_out(await call(session, actor, complaint_id, data)))

        return await _guarded(request, complaints.refused_outside_jurisdiction, complaint_id, suffix, step)

    endpoint.__name__ = f"complaint_{suffix.replace('/', '_')}"
    api.operation("POST", f"/complaints/{{complaint_id}}/{suffix}", summary, request=model, response=ComplaintOut,
                  tag=TAG, errors=(403, 404, 409, 422))(endpoint)


_regulator_step("acceptance", "Accept or reject a complaint (regulator of the lot's jurisdiction)",
                AcceptanceDecision, lambda s, a, i, d: complaints.decide_acceptance(s, a, i, d))
_regulator_step("suspension", "Suspend the procedure while the complaint is reviewed (regulator)",
                SuspensionOrder, lambda s, a, i, d: complaints.suspend_procedure(s, a, i, d))
_regulator_step("suspension/lift", "Lift the suspension before the decision (regulator)", None,
                lambda s, a, i, d: complaints.lift_suspension(s, a, i))
_regulator_step("decision", "Decide the complaint; the decision is published and the lot resumes (regulator)",
                ComplaintDecisionIn, lambda s, a, i, d: complaints.decide_complaint(s, a, i, d))


# --- monitoring cases -------------------------------------------------------------------------


async def _case_out(session: AsyncSession, actor: Actor, case_id: int) -> CaseOut:
    case, findings = await monitoring.get_case(session, actor, case_id)
    return CaseOut.model_validate({**case.model_dump(), "findings": [FindingOut.model_validate(f) for f in findings]})


@api.operation("POST", "/monitoring-cases", "Open a monitoring case about a project or lot (regulator)",
               request=CaseOpen, response=CaseOut, status=201, tag=CASES, errors=(403, 404, 422))
async def open_case(request: Request) -> Response:
    data = await parse_body(request, CaseOpen)

    async def call(session: AsyncSession, actor: Actor) -> Response:
        case = await monitoring.open_case(session, actor, data)
        return json_response(await _case_out(session, actor, case.id), 201)  # type: ignore[arg-type]

    return await _guarded(request, lambda s, a, i, _: monitoring.refused_to_open(s, a, i), data.project_id,
                          "open case", call)


@api.operation("GET", "/monitoring-cases/{case_id}", "A monitoring case with its findings", response=CaseOut,
               tag=CASES, errors=(403, 404))
async def get_case(request: Request) -> Response:
    case_id = path_int(request, "case_id")

    async def call(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await _case_out(session, actor, case_id))

    return await _guarded(request, monitoring.refused_outside_jurisdiction, case_id, "read", call)


def _case_step(suffix: str, summary: str, model: type[BaseModel], call: Callable[..., Awaitable[Any]], *,
               status: int = 200) -> None:
    async def endpoint(request: Request) -> Response:
        case_id = path_int(request, "case_id")
        data = await parse_body(request, model)

        async def step(session: AsyncSession, actor: Actor) -> Response:
            await call(session, actor, case_id, data)
            return json_response(await _case_out(session, actor, case_id), status)

        return await _guarded(request, monitoring.refused_outside_jurisdiction, case_id, suffix, step)

    endpoint.__name__ = f"case_{suffix.replace('-', '_')}"
    api.operation("POST", f"/monitoring-cases/{{case_id}}/{suffix}", summary, request=model, response=CaseOut,
                  status=status, tag=CASES, errors=(403, 404, 409, 422))(endpoint)


_case_step("findings", "Record a finding (regulator)", FindingIn, monitoring.record_finding, status=201)
_case_step("response-request", "Ask the tenderer to respond by a date (regulator)", ResponseRequest,
           monitoring.request_response)
_case_step("response", "Respond to the regulator (the project's tenderer or agency)", CaseResponse,
           monitoring.respond)
_case_step("closure", "Close the case with a conclusion (regulator)", CaseConclusion, monitoring.close_case)

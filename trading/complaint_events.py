"""Events, replay and jurisdiction of the streams ``complaint:<id>`` and ``case:<id>``.

Every step of a complaint or a monitoring case carries the row as it is after the step
(and the evidence file or finding it added), so the fold of a stream is the row and its
children exactly as stored. A refused attempt by a regulator outside the project's
jurisdiction is recorded on the regulator's own ``oversight:<user_id>`` stream, naming the
complaint or case it aimed at (``record_refusal``). Both kinds belong to their project's
region and segment for the live feed (``install_scopes``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from supervision.ledger.append import append
from supervision.replay import State, StreamKind, StreamRegistry
from supervision.scopes import Scope, record_oversight_refusal, register_scope
from trading.complaint_models import (
    CaseFinding,
    Complaint,
    ComplaintEvidence,
    MonitoringCase,
)
from trading.events import row_snapshot
from trading.models import Project

COMPLAINT_FILED = "trading.complaint_filed"
COMPLAINT_EVIDENCE_ADDED = "trading.complaint_evidence_added"
COMPLAINT_ACCEPTED = "trading.complaint_accepted"
COMPLAINT_REJECTED = "trading.complaint_rejected"
COMPLAINT_SUSPENDED = "trading.complaint_procedure_suspended"
COMPLAINT_RESUMED = "trading.complaint_procedure_resumed"
COMPLAINT_DECIDED = "trading.complaint_decided"
COMPLAINT_ACCESS_REFUSED = "trading.complaint_access_refused"

CASE_OPENED = "trading.case_opened"
CASE_FINDING_RECORDED = "trading.case_finding_recorded"
CASE_RESPONSE_REQUESTED = "trading.case_response_requested"
CASE_RESPONDED = "trading.case_responded"
CASE_CLOSED = "trading.case_closed"
CASE_ACCESS_REFUSED = "trading.case_access_refused"


def complaint_stream(complaint_id: int | None) -> str:
    return f"complaint:{complaint_id}"


def case_stream(case_id: int | None) -> str:
    return f"case:{case_id}"


async def record(session: AsyncSession, actor: Actor | None, stream: str, event_type: str, *,
                 row: Any | None = None, child: Any | None = None, **extra: Any) -> None:
    """Append one step (the row after it, the child row it added) and wake the followers."""
    payload: dict[str, Any] = dict(extra)
    if row is not None:
        payload["row"] = row_snapshot(row)
    if child is not None:
        payload["child"] = row_snapshot(child)
    await append(session, stream=stream, event_type=event_type, actor=actor, payload=payload)


async def record_refusal(session: AsyncSession, actor: Actor, event_type: str, *, target: str,
                         action: str) -> None:
    """Record on ``oversight:<user_id>`` that ``actor`` was refused ``action`` on ``target``."""
    await record_oversight_refusal(session, actor, event_type, {
        "target": target, "action": action, "jurisdiction": actor.jurisdiction,
        "industries": sorted(actor.industries)})


# --- replay -------------------------------------------------------------------------------------


def _apply(head: str, children: str, opened: str) -> Any:
    def apply(state: State | None, entry: dict[str, Any]) -> State | None:
        payload = entry["payload"]
        if entry["type"] == opened:
            state = {head: None, children: {}}
        if state is None:
            return None
        if "row" in payload:
            state = {**state, head: payload["row"]}
        if "child" in payload:
            child = payload["child"]
            state = {**state, children: {**state[children], str(child["id"]): child}}
        return state

    return apply


async def load_complaint(session: AsyncSession, stream: str) -> State | None:
    complaint = await _row(session, Complaint, stream)
    if complaint is None:
        return None
    rows = await session.scalars(sa.select(ComplaintEvidence).where(ComplaintEvidence.complaint_id == complaint.id))
    return {"complaint": row_snapshot(complaint), "evidence": {str(row.id): row_snapshot(row) for row in rows}}


async def load_case(session: AsyncSession, stream: str) -> State | None:
    case = await _row(session, MonitoringCase, stream)
    if case is None:
        return None
    rows = await session.scalars(sa.select(CaseFinding).where(CaseFinding.case_id == case.id))
    return {"case": row_snapshot(case), "findings": {str(row.id): row_snapshot(row) for row in rows}}


async def _row(session: AsyncSession, model: Any, stream: str) -> Any:
    ident = stream.partition(":")[2]
    return await session.get(model, int(ident)) if ident.isdigit() else None


async def list_complaints(session: AsyncSession) -> list[str]:
    return [complaint_stream(i) for i in (await session.scalars(sa.select(Complaint.id))).all()]


async def list_cases(session: AsyncSession) -> list[str]:
    return [case_stream(i) for i in (await session.scalars(sa.select(MonitoringCase.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``complaint`` and ``case`` stream kinds with the replay registry."""
    registry.register(StreamKind("complaint", _apply("complaint", "evidence", COMPLAINT_FILED), load_complaint,
                                 list_complaints))
    registry.register(StreamKind("case", _apply("case", "findings", CASE_OPENED), load_case, list_cases))


# --- jurisdiction -----------------------------------------------------------------------------


def outside_jurisdiction(actor: Actor, project: Project) -> str:
    """Why ``actor`` does not cover ``project``: the refusal's detail."""
    industries = ", ".join(sorted(actor.industries)) or "no industry"
    return (f"project {project.code} lies in region {project.region_code}, segment {project.segment}; your "
            f"jurisdiction is {actor.jurisdiction or 'none'} for {industries}")


def project_scope(project: Project) -> Scope:
    return Scope(region_code=project.region_code, segment=project.segment, project_id=project.id)


async def _scope_through(session: AsyncSession, model: Any, stream: str) -> Scope | None:
    row = await _row(session, model, stream)
    project = None if row is None else await session.get(Project, row.project_id)
    return None if project is None else project_scope(project)


async def complaint_scope(session: AsyncSession, stream: str) -> Scope | None:
    return await _scope_through(session, Complaint, stream)


async def case_scope(session: AsyncSession, stream: str) -> Scope | None:
    return await _scope_through(session, MonitoringCase, stream)


def install_scopes() -> None:
    """Register the scope resolvers of ``complaint:`` and ``case:`` streams (idempotent)."""
    register_scope("complaint", complaint_scope)
    register_scope("case", case_scope)

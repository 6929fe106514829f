"""Permission-walk entries of the complaints use cases (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored. The actor plays
the part the use case needs: a bidder files its own complaint, a tenderer or agency manages
the project, and the walk's regulator (350000, construction) covers the project (350102).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import rfc3339, utcnow
from tests.factories import actor_of, make_user
from tests.trading.complaint_factories import bidder, complaint_data, regulator
from tests.trading.project_factories import PublishedLot, lot_payload, project_payload
from trading import complaints, monitoring, projects, publication
from trading.complaint_models import Complaint, MonitoringCase
from trading.complaint_schemas import (
    AcceptanceDecision,
    CaseConclusion,
    CaseOpen,
    CaseResponse,
    ComplaintDecisionIn,
    FindingIn,
    ResponseRequest,
    SuspensionOrder,
)
from trading.notice_schemas import PublishTender
from trading.schemas import LotCreate, ProjectCreate
from trading.states import CaseSource, ComplaintOutcome

BLOBS = BlobStore(Path(tempfile.mkdtemp(prefix="walk-complaints-")))


async def _lot(session: AsyncSession, actor: Actor) -> PublishedLot:
    """A published construction lot in 350102, managed by ``actor`` when it is a tenderer or agency."""
    manager = actor if actor.has_any(projects.MANAGERS) else actor_of(await make_user(session, Role.TENDERER))
    extra: dict[str, Any] = {}
    if Role.AGENCY in manager.roles:
        extra["tenderer_party_id"] = (await make_user(session, Role.TENDERER)).party_id
    project = await projects.create_project(session, manager, ProjectCreate.model_validate_json(
        json.dumps(project_payload(**extra))))
    lot = await projects.add_lot(session, manager, project.id, LotCreate.model_validate_json(  # type: ignore[arg-type]
        json.dumps(lot_payload(utcnow()))))
    notice = await publication.publish_tender(session, manager, project.id, PublishTender())  # type: ignore[arg-type]
    return PublishedLot(project=project, lot=lot, notice=notice, tenderer=manager)


async def _complaint(session: AsyncSession, actor: Actor, *, accept: bool = False) -> Complaint:
    made = await _lot(session, actor)
    party = actor if Role.BIDDER in actor.roles else await bidder(session)
    complaint = await complaints.file_complaint(session, party, made.lot.id, complaint_data(  # type: ignore[arg-type]
        known_at=rfc3339(utcnow())))
    if accept:
        await complaints.decide_acceptance(session, await regulator(session), complaint.id,  # type: ignore[arg-type]
                                           AcceptanceDecision(accept=True))
    return complaint


async def _file(session: AsyncSession, actor: Actor) -> Complaint:
    made = await _lot(session, actor)
    return await complaints.file_complaint(session, actor, made.lot.id, complaint_data(  # type: ignore[arg-type]
        known_at=rfc3339(utcnow())))


async def _evidence(session: AsyncSession, actor: Actor) -> Any:
    complaint = await _complaint(session, actor)

    async def body() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7 evidence"

    return await complaints.add_evidence(session, actor, complaint.id, name="e.pdf", media_type="application/pdf",  # type: ignore[arg-type]
                                         content=body(), blobs=BLOBS, max_bytes=1024)


async def _suspended(session: AsyncSession, actor: Actor, *, lift: bool) -> Any:
    complaint = await _complaint(session, actor, accept=True)
    officer = await regulator(session)
    await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="r"))  # type: ignore[arg-type]
    return await complaints.lift_suspension(session, actor, complaint.id) if lift else complaint  # type: ignore[arg-type]


async def _case(session: AsyncSession, actor: Actor, *, awaiting: bool = False) -> MonitoringCase:
    made = await _lot(session, actor)
    officer = await regulator(session)
    case = await monitoring.open_case(session, officer, CaseOpen(project_id=made.project.id,  # type: ignore[arg-type]
                                                                 source=CaseSource.TIP, subject="A tip."))
    if awaiting:
        await monitoring.request_response(session, officer, case.id, ResponseRequest(  # type: ignore[arg-type]
            request="Explain.", due=_in_days(5)))
    return case


def _in_days(days: int) -> Any:
    from datetime import timedelta

    return utcnow() + timedelta(days=days)


async def _with_case(session: AsyncSession, actor: Actor, act: Any, *, awaiting: bool = False) -> Any:
    case = await _case(session, actor, awaiting=awaiting)
    return await act(case)


CALLS: dict[str, Any] = {
    "trading.file_complaint": lambda s, a: _file(s, a),
    "trading.add_complaint_evidence": lambda s, a: _evidence(s, a),
    "trading.decide_complaint_acceptance": lambda s, a: _on_complaint(
        s, a, lambda c: complaints.decide_acceptance(s, a, c.id, AcceptanceDecision(accept=True))),
    "trading.suspend_for_complaint": lambda s, a: _on_complaint(
        s, a, lambda c: complaints.suspend_procedure(s, a, c.id, SuspensionOrder(reason="r")), accept=True),
    "trading.lift_complaint_suspension": lambda s, a: _suspended(s, a, lift=True),
    "trading.decide_complaint": lambda s, a: _on_complaint(
        s, a, lambda c: complaints.decide_complaint(s, a, c.id, ComplaintDecisionIn(
            outcome=ComplaintOutcome.DISMISSED, reasons="No breach.")), accept=True),
    "trading.get_complaint": lambda s, a: _on_complaint(s, a, lambda c: complaints.get_complaint(s, a, c.id)),
    "trading.list_lot_complaints": lambda s, a: _on_complaint(
        s, a, lambda c: complaints.list_lot_complaints(s, a, c.lot_id)),
    "trading.open_monitoring_case": lambda s, a: _open(s, a),
    "trading.record_case_finding": lambda s, a: _with_case(
        s, a, lambda c: monitoring.record_finding(s, a, c.id, FindingIn(text="A finding."))),
    "trading.request_case_response": lambda s, a: _with_case(
        s, a, lambda c: monitoring.request_response(s, a, c.id, ResponseRequest(request="Explain.", due=_in_days(5)))),
    "trading.respond_to_case": lambda s, a: _with_case(
        s, a, lambda c: monitoring.respond(s, a, c.id, CaseResponse(response="Explained.")), awaiting=True),
    "trading.close_monitoring_case": lambda s, a: _with_case(
        s, a, lambda c: monitoring.close_case(s, a, c.id, CaseConclusion(conclusion="No breach."))),
    "trading.get_monitoring_case": lambda s, a: _with_case(s, a, lambda c: monitoring.get_case(s, a, c.id)),
}


async def _on_complaint(session: AsyncSession, actor: Actor, act: Any, *, accept: bool = False) -> Any:
    return await act(await _complaint(session, actor, accept=accept))


async def _open(session: AsyncSession, actor: Actor) -> Any:
    made = await _lot(session, actor)
    return await monitoring.open_case(session, actor, CaseOpen(project_id=made.project.id,  # type: ignore[arg-type]
                                                               source=CaseSource.RANDOM, subject="Spot check."))

"""Builders for complaints and monitoring cases: lots in both segments, regulators with a
jurisdiction, complaints filed at a chosen moment, and objections raised at a chosen time."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Actor, Role
from core.clock import travel
from identities import service as identities_service
from identities.schemas import UserCreate
from supervision.replay import StreamRegistry
from tests.factories import PASSWORD, actor_of, make_user
from tests.trading.project_factories import (
    PublishedLot,
    lot_payload,
    make_tenderer,
    project_payload,
)
from trading import complaint_events, complaints, projects, publication
from trading.complaint_models import Complaint
from trading.complaint_schemas import AcceptanceDecision, ComplaintCreate
from trading.models import Objection
from trading.notice_schemas import PublishTender
from trading.objections import record_objection
from trading.schemas import LotCreate, ProjectCreate
from trading.states import ObjectionStage

_counter = itertools.count(1)
PROCUREMENT_PARAMETERS = {"price_weight": "30", "factors": {"technical": "70"}, "procurement_category": "goods"}
GROUNDS = {"grounds": "Bidding Law Regulations art. 32: the qualification rule excludes firms from outside the city.",
           "requests": "Order the tenderer to amend the documents.",
           "facts": "Clause 3.2 of the documents (evidence file 1)."}


def register_streams(registry: StreamRegistry) -> None:
    """Register the complaint and case streams unless the runtime already does."""
    if "complaint" not in registry.kinds:
        complaint_events.register(registry)
    complaint_events.install_scopes()


async def lot_in(session: AsyncSession, segment: str = "construction", **project: Any) -> PublishedLot:
    """A published lot of a new project in ``segment`` (region 350102), made at "now"."""
    from core.clock import utcnow

    tenderer = await make_tenderer(session)
    overrides: dict[str, Any] = {"segment": segment, **project}
    lot: dict[str, Any] = {}
    if segment == "government_procurement":
        overrides.setdefault("industry", "medical_equipment")
        lot["evaluation_parameters"] = PROCUREMENT_PARAMETERS
    made = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(
        json.dumps(project_payload(**overrides))))
    lot = await projects.add_lot(session, tenderer, made.id, LotCreate.model_validate_json(  # type: ignore[arg-type]
        json.dumps(lot_payload(utcnow(), **lot))))
    notice = await publication.publish_tender(session, tenderer, made.id, PublishTender())  # type: ignore[arg-type]
    return PublishedLot(project=made, lot=lot, notice=notice, tenderer=tenderer)


async def regulator(session: AsyncSession, jurisdiction: str = "350000",
                    industries: tuple[str, ...] = ("construction",)) -> Actor:
    user = await identities_service.create_user(session, SYSTEM, UserCreate(
        username=f"regulator{next(_counter)}",
        display_name="Regulator", password=PASSWORD, roles=[Role.REGULATOR], jurisdiction=jurisdiction,
        industries=list(industries)))
    return actor_of(user)


async def bidder(session: AsyncSession) -> Actor:
    return actor_of(await make_user(session, Role.BIDDER))


async def objection_at(session: AsyncSession, made: PublishedLot, party: Actor, stage: ObjectionStage,
                       raised_at: datetime, reply_due: datetime, *, replied_at: datetime | None = None) -> Objection:
    """An objection of ``party`` as the objections module records it, raised (and answered) at set times."""
    with travel(raised_at):
        objection = await record_objection(session, party, project=made.project, lot=made.lot, stage=stage,
                                           party_id=party.party_id, text="The clause is unlawful.",  # type: ignore[arg-type]
                                           reply_due=reply_due, raised_at=raised_at)
    if replied_at is not None:
        with travel(replied_at):
            from trading.objections import record_objection_reply

            await record_objection_reply(session, made.tenderer, objection, "The clause stays.")
    return objection


def complaint_data(**overrides: Any) -> ComplaintCreate:
    values: dict[str, Any] = {"matter": "process", **GROUNDS, **overrides}
    return ComplaintCreate.model_validate_json(json.dumps(values, default=str))


async def file_at(session: AsyncSession, party: Actor, made: PublishedLot, moment: datetime,
                  **overrides: Any) -> Complaint:
    with travel(moment):
        return await complaints.file_complaint(session, party, made.lot.id, complaint_data(**overrides))  # type: ignore[arg-type]


async def accepted(session: AsyncSession, made: PublishedLot, *,
                   officer: Actor | None = None) -> tuple[Complaint, Actor]:
    """A process complaint filed now about ``made`` and accepted by a covering regulator."""
    from core.clock import rfc3339, utcnow

    party = await bidder(session)
    now = utcnow()
    data = complaint_data(known_at=rfc3339(now - timedelta(days=1)))
    if made.project.segment == "government_procurement":  # a complaint follows an unanswered challenge
        challenge = await objection_at(session, made, party, ObjectionStage.DOCUMENTS, now - timedelta(days=12),
                                       now - timedelta(days=1))
        data = complaint_data(matter="documents", objection_id=challenge.id)
    complaint = await complaints.file_complaint(session, party, made.lot.id, data)  # type: ignore[arg-type]
    officer = officer or await regulator(session, industries=(made.project.segment,))
    await complaints.decide_acceptance(session, officer, complaint.id, AcceptanceDecision(accept=True))  # type: ignore[arg-type]
    return complaint, officer

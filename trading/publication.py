"""Publishing a project: the tender notice, then change notices (clarifications).

The tender notice is refused when a lot's timetable breaks a legal time limit
(``trading.rules``), naming every broken rule, and when a price competition set up before
publication no longer keeps the notice, listing or disclosure periods counted from now. A clarification later than the rules allow
does not refuse: the bid deadline (and the opening with it) moves out to the earliest
lawful moment, and the change notice says so with the old and the new deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.opening_keys import create_opening_key
from core.actors import Actor
from core.clock import ensure_utc, rfc3339, to_shanghai, utcnow
from core.errors import Conflict, FieldError, InvalidInput, RuleViolation
from core.states import check_transition
from core.usecases import use_case
from supervision.ledger.append import append
from trading import events, price_bidding_rules, rules
from trading.calendar import WorkingCalendar
from trading.models import Lot, Notice, Project, TenderDocument
from trading.notice_schemas import ClarificationCreate, PublishTender
from trading.notices import record_notice
from trading.price_bidding_models import PriceCompetition
from trading.projects import (
    MANAGERS,
    PUBLISHERS,
    get_lot_row,
    get_project_row,
    lots_of,
    require_manager,
)
from trading.states import (
    ALLOWED_LOT_TRANSITIONS,
    DocumentKind,
    LotStatus,
    NoticeKind,
    ProjectStatus,
)

# The opening certificate outlives the opening by this margin (deadlines may move out).
OPENING_KEY_MARGIN = timedelta(days=180)


def lot_timetable(lot: Lot, published_at: datetime) -> rules.Timetable:
    return rules.Timetable(
        published_at=published_at, documents_from=lot.documents_from, documents_until=lot.documents_until,
        bid_deadline=lot.bid_deadline, opening_at=lot.opening_at, clarification_until=lot.clarification_until,
        objection_until=lot.objection_until)


@use_case("trading.publish_tender", PUBLISHERS)
async def publish_tender(session: AsyncSession, actor: Actor, project_id: int, data: PublishTender) -> Notice:
    """Publish the tender notice: every draft lot opens for bids, the project is active."""
    project = await get_project_row(session, project_id, for_update=True)
    require_manager(actor, project, platform_may=True)
    if project.status != ProjectStatus.DRAFT:
        raise Conflict(f"project {project.code} is {project.status}; its tender notice is already out")
    lots = [lot for lot in await lots_of(session, project_id) if lot.status == LotStatus.DRAFT]
    if not lots:
        raise Conflict(f"project {project.code} has no draft lot to publish; add a lot first")
    now = utcnow()
    _refuse_broken_timetables(project, lots, now)
    await _refuse_broken_competitions(session, project, lots, now)
    for lot in lots:
        check_transition(f"lot {lot.code}", LotStatus(lot.status), LotStatus.BIDDING, ALLOWED_LOT_TRANSITIONS)
        _make_opening_key(lot)
        lot.status = LotStatus.BIDDING
        lot.updated_at = now
        session.add(lot)
    project.status = ProjectStatus.ACTIVE
    project.updated_at = now
    session.add(project)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.TENDER_PUBLISHED, actor=actor,
                 payload={"project": events.row_snapshot(project),
                          "lots": {str(lot.id): events.row_snapshot(lot) for lot in lots}})
    return await record_notice(
        session, actor, project=project, lot=None, kind=NoticeKind.TENDER,
        title=data.title or f"Tender notice: {project.title}",
        body=data.body or _tender_body(project, lots),
        details={"procedure": project.procedure, "lots": [_lot_summary(lot) for lot in lots]})


def _refuse_broken_timetables(project: Project, lots: list[Lot], now: datetime) -> None:
    calendar = WorkingCalendar.default()
    broken: list[tuple[Lot, Any]] = []
    for lot in lots:
        for breach in rules.timetable_breaches(project.segment, project.procedure, lot_timetable(lot, now), calendar):
            broken.append((lot, breach))
    if broken:
        detail = "; ".join(f"lot {lot.code}: {breach.rule}: {breach.message}" for lot, breach in broken)
        names = ", ".join(dict.fromkeys(breach.rule for _, breach in broken))
        raise RuleViolation(f"the timetable breaks {len(broken)} rule(s): {detail}", rule=names)


async def _refuse_broken_competitions(session: AsyncSession, project: Project, lots: list[Lot], now: datetime) -> None:
    """A price competition set up before publication was checked against its setup time; the
    legal notice, listing and disclosure periods run from the real publication, so check again."""
    codes = {lot.id: lot.code for lot in lots}
    competitions = await session.scalars(sa.select(PriceCompetition).where(
        PriceCompetition.lot_id.in_(list(codes))).order_by(PriceCompetition.lot_id))  # type: ignore[attr-defined]
    broken: list[tuple[str, Any]] = []
    for competition in competitions:
        times = {"starts_at": ensure_utc(competition.starts_at),
                 "ends_at": ensure_utc(competition.listing_ends_at or competition.ends_at)}
        for breach in price_bidding_rules.time_rule_breaches(project.segment, project.procedure, competition.mode,
                                                             published_at=now, times=times):
            broken.append((codes[competition.lot_id], breach))
    if broken:
        detail = "; ".join(f"lot {code}: price competition: {breach.rule}: {breach.message}" for code, breach in broken)
        names = ", ".join(dict.fromkeys(breach.rule for _, breach in broken))
        raise RuleViolation(f"publishing now, the price competition's times break {len(broken)} rule(s): {detail}; "
                            "the periods are counted from the publication, which is now", rule=names)


def _make_opening_key(lot: Lot) -> None:
    """The lot's opening key, split among its custodians, when the fallback applies."""
    if not lot.custodian_fallback:
        return
    record = create_opening_key(
        custodians=[pem.encode("ascii") for pem in lot.custodian_certificates or []],
        threshold=lot.custodian_threshold,  # type: ignore[arg-type]
        lot_reference=lot.code, not_after=ensure_utc(lot.opening_at) + OPENING_KEY_MARGIN)  # type: ignore[arg-type]
    lot.opening_key = record.to_dict()
    lot.opening_certificate_fingerprint = record.certificate_fingerprint


def _lot_summary(lot: Lot) -> dict[str, Any]:
    return {"lot_id": lot.id, "code": lot.code, "title": lot.title, "budget": lot.budget,
            "ceiling_price": lot.ceiling_price, "bid_bond_amount": lot.bid_bond_amount,
            "evaluation_method": lot.evaluation_method, "documents_from": lot.documents_from,
            "documents_until": lot.documents_until, "bid_deadline": lot.bid_deadline,
            "opening_at": lot.opening_at, "opening_certificate_fingerprint": lot.opening_certificate_fingerprint}


def _shanghai(moment: datetime | None) -> str:
    return "-" if moment is None else f"{to_shanghai(moment):%Y-%m-%d %H:%M} (Asia/Shanghai)"


def _tender_body(project: Project, lots: list[Lot]) -> str:
    lines = [f"{project.title} ({project.code}), {project.segment}, {project.procedure}."]
    for lot in lots:
        price = f"ceiling price {lot.ceiling_price} yuan" if lot.ceiling_price else f"budget {lot.budget} yuan"
        lines.append(f"Lot {lot.code} {lot.title}: {price}; documents {_shanghai(lot.documents_from)} to "
                     f"{_shanghai(lot.documents_until)}; bid deadline {_shanghai(lot.bid_deadline)}; "
                     f"opening {_shanghai(lot.opening_at)}.")
    return "\n".join(lines)


# --- change notices ----------------------------------------------------------------------


@use_case("trading.publish_clarification", MANAGERS)
async def publish_clarification(session: AsyncSession, actor: Actor, lot_id: int, data: ClarificationCreate) -> Notice:
    """A clarification or amendment of a published lot, with its change notice. When it
    comes later than the rules allow before the deadline, the deadline moves out."""
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await get_project_row(session, lot.project_id)
    require_manager(actor, project)
    if lot.status not in (LotStatus.BIDDING, LotStatus.SUSPENDED):
        raise Conflict(f"lot {lot.code} is {lot.status}; clarifications are published while it takes bids")
    now = utcnow()
    if ensure_utc(lot.bid_deadline) <= now:  # type: ignore[arg-type]
        raise Conflict(f"lot {lot.code}'s bid deadline {rfc3339(lot.bid_deadline)} has passed")  # type: ignore[arg-type]
    document = await _clarification_document(session, project, lot, data.document_id)
    moved = await move_deadline_if_late(session, actor, project, lot, changed_at=now, reason="late clarification")
    details: dict[str, Any] = {"change": "clarification", "lot_code": lot.code,
                               "document_id": document.id if document else None, "deadline_moved": moved is not None}
    body = data.body
    if moved is not None:
        details.update(moved)
        body += "\n\n" + deadline_sentence(moved)
    return await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                               title=data.title, body=body, details=details,
                               document_sha256=document.sha256 if document else None)


async def _clarification_document(session: AsyncSession, project: Project, lot: Lot,
                                  document_id: int | None) -> TenderDocument | None:
    if document_id is None:
        return None
    document = await session.get(TenderDocument, document_id)
    if document is None or document.project_id != project.id or document.lot_id not in (None, lot.id):
        raise InvalidInput(f"no document {document_id} of lot {lot.code}",
                           [FieldError("$.document_id", "not a document of this lot")])
    if document.kind != DocumentKind.CLARIFICATION:
        raise InvalidInput(f"document {document_id} is of kind {document.kind}; a clarification refers to a "
                           "document of kind clarification", [FieldError("$.document_id", "not a clarification")])
    return document


async def move_deadline_if_late(session: AsyncSession, actor: Actor, project: Project, lot: Lot, *,
                                changed_at: datetime, reason: str) -> dict[str, Any] | None:
    """Move the bid deadline and the opening out when a change at ``changed_at`` leaves
    less time than the rules require; returns the old and new times, or None."""
    new_deadline = rules.clarification_deadline(
        project.segment, project.procedure, clarified_at=changed_at, bid_deadline=ensure_utc(lot.bid_deadline),  # type: ignore[arg-type]
        calendar=WorkingCalendar.default())
    if new_deadline is None:
        return None
    old_deadline, old_opening = ensure_utc(lot.bid_deadline), ensure_utc(lot.opening_at)  # type: ignore[arg-type]
    lot.bid_deadline = new_deadline
    lot.opening_at = new_deadline + max(old_opening - old_deadline, timedelta(0))
    shift = new_deadline - old_deadline
    if lot.documents_until is not None and ensure_utc(lot.documents_until) >= old_deadline:
        # Documents offered up to the deadline stay offered up to the new one.
        lot.documents_until = ensure_utc(lot.documents_until) + shift
    # The cut-offs for questions and objections keep their distance to the deadline.
    for name in ("clarification_until", "objection_until"):
        if getattr(lot, name) is not None:
            setattr(lot, name, ensure_utc(getattr(lot, name)) + shift)
    lot.updated_at = utcnow()
    session.add(lot)
    await session.flush()
    moved = {"old_bid_deadline": old_deadline, "new_bid_deadline": lot.bid_deadline,
             "old_opening_at": old_opening, "new_opening_at": lot.opening_at, "reason": reason}
    await append(session, stream=events.project_stream(project.id), event_type=events.LOT_TIMETABLE_MOVED,
                 actor=actor, payload={"lot_id": lot.id, **moved, "columns": events.lot_columns(
                     lot, ["bid_deadline", "opening_at", "documents_until", "clarification_until", "objection_until",
                           "updated_at"])})
    return moved


def deadline_sentence(moved: dict[str, Any]) -> str:
    return (f"The bid deadline moves from {_shanghai(moved['old_bid_deadline'])} to "
            f"{_shanghai(moved['new_bid_deadline'])} and the opening from {_shanghai(moved['old_opening_at'])} "
            f"to {_shanghai(moved['new_opening_at'])}, as the time left after this change was shorter than "
            "the rules require.")


"""Objections (异议) and challenges (质疑).

This module handles the objections to the tender documents: a bidder raises one within
the window of the rules, the reply is due per the rules, and while any such objection is
unanswered the lot is suspended (the law pauses the process). At the last reply the lot
takes bids again; if too little time is left the deadline moves out, with a change notice.

Objections of the other stages (opening, publicity) are created by the opening and the
award through :func:`record_objection` and :func:`record_objection_reply`, so every
objection is an event of its project's stream; everyone allowed reads them here.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import Conflict, NotFound, RuleViolation
from core.usecases import use_case
from supervision.ledger.append import append
from trading import events, rules
from trading.calendar import WorkingCalendar
from trading.models import (
    DocumentDownload,
    Lot,
    Notice,
    Objection,
    Project,
    TenderDocument,
)
from trading.notice_schemas import ObjectionCreate, ObjectionReply
from trading.notices import record_notice
from trading.projects import (
    MANAGERS,
    OVERSIGHT,
    change_lot_status,
    get_lot_row,
    get_project_row,
    is_manager,
    require_manager,
)
from trading.publication import deadline_sentence, move_deadline_if_late
from trading.states import LotStatus, NoticeKind, ObjectionStage, ObjectionStatus

OBJECTION_WINDOW_RULE = "trading.objection_window"
READERS = MANAGERS | OVERSIGHT | {Role.BIDDER}


# --- recording (for every stage) -----------------------------------------------------------


async def record_objection(session: AsyncSession, actor: Actor | None, *, project: Project, lot: Lot | None,
                           stage: ObjectionStage, party_id: int, text: str, reply_due: datetime,
                           raised_at: datetime | None = None) -> Objection:
    """Store an objection with its event (not a use case: the caller checked who and when)."""
    objection = Objection(project_id=project.id, lot_id=lot.id if lot else None, stage=stage,  # type: ignore[arg-type]
                          party_id=party_id, text=text, raised_at=raised_at or utcnow(), reply_due=reply_due,
                          status=ObjectionStatus.OPEN)
    session.add(objection)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.OBJECTION_RAISED,
                 actor=actor, payload={"row": events.row_snapshot(objection)})
    return objection


async def record_objection_reply(session: AsyncSession, actor: Actor | None, objection: Objection,
                                 reply: str) -> Objection:
    """Store the reply to an objection with its event (not a use case)."""
    if objection.status != ObjectionStatus.OPEN:
        raise Conflict(f"objection {objection.id} was answered at {rfc3339(objection.replied_at)}")  # type: ignore[arg-type]
    objection.reply = reply
    objection.replied_at = utcnow()
    objection.replied_by = actor.user_id if actor else None
    objection.status = ObjectionStatus.ANSWERED
    session.add(objection)
    await session.flush()
    await append(session, stream=events.project_stream(objection.project_id), event_type=events.OBJECTION_REPLIED,
                 actor=actor, payload={"row": events.row_snapshot(objection)})
    return objection


# --- objections to the tender documents -------------------------------------------------------


@use_case("trading.object_to_documents", {Role.BIDDER})
async def object_to_documents(session: AsyncSession, actor: Actor, lot_id: int, data: ObjectionCreate) -> Objection:
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await get_project_row(session, lot.project_id)
    if lot.status not in (LotStatus.BIDDING, LotStatus.SUSPENDED):
        raise Conflict(f"lot {lot.code} is {lot.status}; objections to its documents are raised while it takes bids")
    now = utcnow()
    until = await documents_objection_until(session, project, lot, actor.party_id)  # type: ignore[arg-type]
    if now > until:
        raise RuleViolation(f"objections to the documents of lot {lot.code} were taken until {rfc3339(until)}; "
                            f"it is {rfc3339(now)}", rule=OBJECTION_WINDOW_RULE)
    due = rules.objection_reply_due(project.segment, project.procedure, ObjectionStage.DOCUMENTS, now,
                                    WorkingCalendar.default())
    objection = await record_objection(session, actor, project=project, lot=lot, stage=ObjectionStage.DOCUMENTS,
                                       party_id=actor.party_id, text=data.text, reply_due=due, raised_at=now)  # type: ignore[arg-type]
    if lot.status == LotStatus.BIDDING:
        await change_lot_status(session, actor, lot, LotStatus.SUSPENDED, reason="objection to the tender documents",
                                details={"objection_id": objection.id})
        await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                            title=f"Change notice: lot {lot.code} suspended",
                            body=f"Lot {lot.code} of {project.title} is suspended until an objection to the tender "
                                 f"documents is answered (reply due {rfc3339(due)}).",
                            details={"change": "suspended", "lot_code": lot.code, "reply_due": due})
    return objection


async def documents_objection_until(session: AsyncSession, project: Project, lot: Lot, party_id: int) -> datetime:
    """The end of the window: the lot's own ``objection_until``, else the rules' deadline
    counted from when the bidder obtained the documents, else the bid deadline."""
    if lot.objection_until is not None:
        return ensure_utc(lot.objection_until)
    deadline = rules.objection_deadline(project.segment, project.procedure, ObjectionStage.DOCUMENTS,
                                        bid_deadline=ensure_utc(lot.bid_deadline),  # type: ignore[arg-type]
                                        known_at=await _documents_known_at(session, project, party_id),
                                        calendar=WorkingCalendar.default())
    return ensure_utc(deadline or lot.bid_deadline)  # type: ignore[arg-type]


async def _documents_known_at(session: AsyncSession, project: Project, party_id: int) -> datetime | None:
    first_download = await session.scalar(
        sa.select(sa.func.min(DocumentDownload.downloaded_at))
        .join(TenderDocument, TenderDocument.id == DocumentDownload.document_id)
        .where(TenderDocument.project_id == project.id, DocumentDownload.party_id == party_id))
    if first_download is not None:
        return ensure_utc(first_download)
    published = await session.scalar(sa.select(sa.func.min(Notice.published_at))
                                      .where(Notice.project_id == project.id, Notice.kind == NoticeKind.TENDER))
    return ensure_utc(published) if published is not None else None


@use_case("trading.reply_to_objection", MANAGERS)
async def reply_to_objection(session: AsyncSession, actor: Actor, objection_id: int, data: ObjectionReply) -> Objection:
    """Answer an objection to the documents; the last answer resumes the suspended lot."""
    objection = await _objection_row(session, objection_id)
    project = await get_project_row(session, objection.project_id)
    require_manager(actor, project)
    if objection.stage != ObjectionStage.DOCUMENTS:
        raise Conflict(f"objection {objection_id} was raised at the {objection.stage}; it is answered there")
    await record_objection_reply(session, actor, objection, data.reply)
    lot = await get_lot_row(session, objection.lot_id, for_update=True)  # type: ignore[arg-type]
    open_left = await session.scalar(sa.select(sa.func.count()).select_from(Objection).where(
        Objection.lot_id == lot.id, Objection.stage == ObjectionStage.DOCUMENTS,
        Objection.status == ObjectionStatus.OPEN))
    if lot.status == LotStatus.SUSPENDED and not open_left and not await _suspended_by_complaint(session, lot):
        await _resume(session, actor, project, lot)
    return objection


async def _suspended_by_complaint(session: AsyncSession, lot: Lot) -> bool:
    """A regulator's suspension for a complaint outlasts the objections: the complaint's
    decision (or the regulator) resumes the lot, not the tenderer's answers."""
    from trading.complaint_models import Complaint

    return await session.scalar(sa.select(Complaint.id).where(
        Complaint.lot_id == lot.id, Complaint.suspended_at.is_not(None),  # type: ignore[union-attr]
        Complaint.resumed_at.is_(None)).limit(1)) is not None  # type: ignore[union-attr]


async def _resume(session: AsyncSession, actor: Actor, project: Project, lot: Lot) -> None:
    await change_lot_status(session, actor, lot, LotStatus.BIDDING, reason="objections to the documents answered")
    moved = await move_deadline_if_late(session, actor, project, lot, changed_at=utcnow(),
                                        reason="suspension by an objection to the documents")
    body = f"Lot {lot.code} of {project.title} takes bids again: the objections to its documents are answered."
    details = {"change": "resumed", "lot_code": lot.code, "deadline_moved": moved is not None, **(moved or {})}
    if moved is not None:
        body += " " + deadline_sentence(moved)
    await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                        title=f"Change notice: lot {lot.code} resumed", body=body, details=details)


async def _objection_row(session: AsyncSession, objection_id: int) -> Objection:
    query = sa.select(Objection).where(Objection.id == objection_id).with_for_update()
    objection = (await session.scalars(query)).first()
    if objection is None:
        raise NotFound(f"no objection {objection_id}")
    return objection


@use_case("trading.list_objections", READERS)
async def list_objections(session: AsyncSession, actor: Actor, lot_id: int) -> list[Objection]:
    """Every stage's objections of a lot: bidders see their own, the tenderer or agency
    and oversight roles see all."""
    lot = await get_lot_row(session, lot_id)
    project = await get_project_row(session, lot.project_id)
    query = sa.select(Objection).where(Objection.lot_id == lot.id).order_by(Objection.id)
    if not (is_manager(actor, project) or actor.has_any(OVERSIGHT)):
        query = query.where(Objection.party_id == actor.party_id)
    return list((await session.scalars(query)).all())

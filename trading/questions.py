"""Questions and answers (答疑) on a published lot.

Bidders ask until the clarification cut-off; the tenderer or its agency answers. Every
bidder reads every question and answer, but never who asked: bidders must not learn who
else is bidding, and the tenderer must not either. The asker sees its own questions
marked as such; oversight roles (centre staff, regulators, auditors, admins) see the asker.

An answer goes to every bidder, so the law treats it as a clarification of the documents:
published later than the clarification cut-off before the bid deadline (15 days in
construction and procurement tenders, see ``trading/data/time_rules.json``), it moves the
deadline and the opening out to the earliest lawful day, with a change notice giving the
old and new times, exactly as a late clarification does (``trading.publication``). An
answer given once the lot no longer takes bids moves nothing: there is no deadline left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import Conflict, NotFound, RuleViolation
from core.usecases import use_case
from supervision.ledger.append import append
from trading import events
from trading.models import Lot, Notice, Project, Question
from trading.notice_schemas import AnswerCreate, QuestionCreate
from trading.notices import record_notice
from trading.projects import (
    MANAGERS,
    OVERSIGHT,
    get_lot_row,
    get_project_row,
    require_manager,
)
from trading.publication import deadline_sentence, move_deadline_if_late
from trading.states import LotStatus, NoticeKind

QUESTION_CUTOFF_RULE = "trading.question_cutoff"
READERS = MANAGERS | OVERSIGHT | {Role.BIDDER}


def question_cutoff(lot: Lot) -> datetime:
    """Questions are taken until the lot's clarification cut-off, or its bid deadline
    when the timetable names none."""
    return ensure_utc(lot.clarification_until or lot.bid_deadline)  # type: ignore[arg-type]


@use_case("trading.ask_question", {Role.BIDDER})
async def ask_question(session: AsyncSession, actor: Actor, lot_id: int, data: QuestionCreate) -> Question:
    lot = await get_lot_row(session, lot_id)
    if lot.status not in (LotStatus.BIDDING, LotStatus.SUSPENDED):
        raise Conflict(f"lot {lot.code} is {lot.status}; questions are asked while it takes bids")
    now, cutoff = utcnow(), question_cutoff(lot)
    if now > cutoff:
        raise RuleViolation(f"questions on lot {lot.code} were taken until {rfc3339(cutoff)}; it is {rfc3339(now)}",
                            rule=QUESTION_CUTOFF_RULE)
    question = Question(project_id=lot.project_id, lot_id=lot.id, asker_party_id=actor.party_id,  # type: ignore[arg-type]
                        text=data.text, asked_at=now)
    session.add(question)
    await session.flush()
    await append(session, stream=events.project_stream(lot.project_id), event_type=events.QUESTION_ASKED,
                 actor=actor, payload={"row": events.row_snapshot(question)})
    return question


@use_case("trading.answer_question", MANAGERS)
async def answer_question(session: AsyncSession, actor: Actor, question_id: int, data: AnswerCreate) -> Question:
    question = await _question_row(session, question_id)
    project = await get_project_row(session, question.project_id)
    require_manager(actor, project)
    if question.answer is not None:
        raise Conflict(f"question {question_id} was answered at {rfc3339(question.answered_at)}")  # type: ignore[arg-type]
    lot = await get_lot_row(session, question.lot_id, for_update=True)
    now = utcnow()
    question.answer = data.answer
    question.answered_at = now
    question.answered_by = actor.user_id
    session.add(question)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.QUESTION_ANSWERED,
                 actor=actor, payload={"row": events.row_snapshot(question)})
    if _takes_bids(lot, now):
        moved = await move_deadline_if_late(session, actor, project, lot, changed_at=now, reason="late answer")
        if moved is not None:
            await _late_answer_notice(session, actor, project, lot, question, moved)
    return question


def _takes_bids(lot: Lot, now: datetime) -> bool:
    return lot.status in (LotStatus.BIDDING, LotStatus.SUSPENDED) and ensure_utc(lot.bid_deadline) > now  # type: ignore[arg-type]


async def _late_answer_notice(session: AsyncSession, actor: Actor, project: Project, lot: Lot, question: Question,
                              moved: dict[str, Any]) -> Notice:
    """The change notice of an answer that moved the deadline; the asker is not named."""
    body = (f"Question {question.id} on lot {lot.code}: {question.text}\nAnswer: {question.answer}\n\n"
            + deadline_sentence(moved))
    details = {"change": "answer", "lot_code": lot.code, "question_id": question.id, "deadline_moved": True, **moved}
    return await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                               title=f"Change notice: answer to question {question.id} on lot {lot.code}",
                               body=body, details=details)


async def _question_row(session: AsyncSession, question_id: int) -> Question:
    query = sa.select(Question).where(Question.id == question_id).with_for_update()
    question = (await session.scalars(query)).first()
    if question is None:
        raise NotFound(f"no question {question_id}")
    return question


@dataclass(frozen=True)
class QuestionView:
    """A question as one reader may see it."""

    question: Question
    asked_by_me: bool
    asker_party_id: int | None


@use_case("trading.list_questions", READERS)
async def list_questions(session: AsyncSession, actor: Actor, lot_id: int) -> list[QuestionView]:
    lot = await get_lot_row(session, lot_id)
    if lot.status == LotStatus.DRAFT:
        project = await get_project_row(session, lot.project_id)
        if not actor.has_any(OVERSIGHT):
            require_manager(actor, project)
    rows = await session.scalars(sa.select(Question).where(Question.lot_id == lot.id).order_by(Question.id))
    sees_askers = actor.has_any(OVERSIGHT)
    views = []
    for question in rows.all():
        mine = actor.has_any({Role.BIDDER}) and question.asker_party_id == actor.party_id
        views.append(QuestionView(question, mine, question.asker_party_id if (mine or sees_askers) else None))
    return views

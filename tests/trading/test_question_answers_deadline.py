"""An answer goes to every bidder, so it counts as a clarification: published later than
the clarification cut-off before the deadline (15 days in a construction tender), it moves
the deadline and the opening out, with a change notice and ledger entries saying so."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from core.actors import Role
from core.clock import ensure_utc, parse_rfc3339, to_shanghai
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    clock_fixture,
    published_lot,
)
from trading import events, questions
from trading.models import Notice
from trading.notice_schemas import AnswerCreate, QuestionCreate
from trading.states import NoticeKind


async def _asked(session, lot_id: int):
    bidder = actor_of(await make_user(session, Role.BIDDER))
    return await questions.ask_question(session, bidder, lot_id, QuestionCreate(text="Is HRB400 steel accepted?"))


async def _change_notices(session, project_id: int) -> list[Notice]:
    query = sa.select(Notice).where(Notice.project_id == project_id, Notice.kind == NoticeKind.CHANGE)
    return list((await session.scalars(query)).all())


async def _entries(session, stream: str) -> list[dict]:
    leaves = await session.scalars(sa.select(LedgerEntry.leaf).where(LedgerEntry.stream == stream)
                                   .order_by(LedgerEntry.seq))
    return [json.loads(leaf) for leaf in leaves]


async def _assert_replays(session, runtime, project_id: int) -> None:
    result = await check_stream(session, runtime.registry, f"project:{project_id}")
    assert result.matches, (result.replayed, result.stored)


async def test_an_answer_in_time_moves_nothing(runtime, clock) -> None:
    async with runtime.database.transaction() as session:
        made = await published_lot(session, clock.now)
        question = await _asked(session, made.lot.id)
        deadline, opening = ensure_utc(made.lot.bid_deadline), ensure_utc(made.lot.opening_at)
        clock.set(deadline - timedelta(days=16))  # 16 days left: more than the 15 the rules ask
        await questions.answer_question(session, made.tenderer, question.id, AnswerCreate(answer="Yes."))
        assert (ensure_utc(made.lot.bid_deadline), ensure_utc(made.lot.opening_at)) == (deadline, opening)
        assert await _change_notices(session, made.project.id) == []
        types = [entry["type"] for entry in await _entries(session, f"project:{made.project.id}")]
        assert events.LOT_TIMETABLE_MOVED not in types and types[-1] == events.QUESTION_ANSWERED


async def test_a_late_answer_moves_the_deadline_with_a_change_notice(runtime, clock) -> None:
    async with runtime.database.transaction() as session:
        made = await published_lot(session, clock.now)
        question = await _asked(session, made.lot.id)
        old_deadline, old_opening = ensure_utc(made.lot.bid_deadline), ensure_utc(made.lot.opening_at)
        answered_at = clock.set(old_deadline - timedelta(days=5))
        answered = await questions.answer_question(session, made.tenderer, question.id,
                                                   AnswerCreate(answer="Yes, HRB400 is accepted."))
        assert answered.answer == "Yes, HRB400 is accepted."

        new_deadline = ensure_utc(made.lot.bid_deadline)
        assert to_shanghai(new_deadline).date() >= to_shanghai(answered_at).date() + timedelta(days=15)
        assert to_shanghai(new_deadline).time() == to_shanghai(old_deadline).time()
        assert ensure_utc(made.lot.opening_at) == new_deadline  # the opening keeps its place at the deadline

        [notice] = await _change_notices(session, made.project.id)
        assert notice.lot_id == made.lot.id and notice.details["change"] == "answer"
        assert notice.details["question_id"] == question.id and notice.details["deadline_moved"] is True
        assert parse_rfc3339(notice.details["old_bid_deadline"]) == old_deadline
        assert parse_rfc3339(notice.details["new_bid_deadline"]) == new_deadline
        assert parse_rfc3339(notice.details["old_opening_at"]) == old_opening
        assert "The bid deadline moves from" in notice.body and "HRB400 is accepted" in notice.body
        assert not any("asker" in key or "party" in key for key in notice.details)  # the asker stays hidden

        entries = await _entries(session, f"project:{made.project.id}")
        assert [entry["type"] for entry in entries[-3:]] == [
            events.QUESTION_ANSWERED, events.LOT_TIMETABLE_MOVED, events.NOTICE_PUBLISHED]
        moved = entries[-2]["payload"]
        assert moved["reason"] == "late answer" and moved["lot_id"] == made.lot.id
        assert parse_rfc3339(moved["old_bid_deadline"]) == old_deadline
        assert parse_rfc3339(moved["new_bid_deadline"]) == new_deadline
        await _assert_replays(session, runtime, made.project.id)


async def test_an_answer_after_the_deadline_moves_nothing(runtime, clock) -> None:
    async with runtime.database.transaction() as session:
        made = await published_lot(session, clock.now)
        question = await _asked(session, made.lot.id)
        deadline = ensure_utc(made.lot.bid_deadline)
        clock.set(deadline + timedelta(hours=1))  # bids are closed: no deadline is left to move
        await questions.answer_question(session, made.tenderer, question.id, AnswerCreate(answer="Too late."))
        assert ensure_utc(made.lot.bid_deadline) == deadline
        assert await _change_notices(session, made.project.id) == []

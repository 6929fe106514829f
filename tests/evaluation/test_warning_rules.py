"""Evaluation and expert-pool warning rules on crafted cases (rows written straight into the tables)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.database import Database
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession, Score
from expert_pool.draws import DRAW_FINISHED, draw_stream
from expert_pool.models import Draw, DrawCall, Expert
from supervision.ledger.append import append
from tests.trading.warning_rule_factories import (
    CraftedLot,
    add_bid,
    crafted_lot,
    run_rule,
)

_serial = itertools.count(1)


async def _expert(session: AsyncSession, region: str = "350100") -> Expert:
    n = next(_serial)
    now = utcnow()
    expert = Expert(code=f"E{n:05d}", name=f"Expert {n}", id_number=f"3501021980010{n:05d}", phone="13800000000",
                    employer_name="Institute", region_code=region, title="senior", years_of_practice=10,
                    birth_date=date(1980, 1, 1), status="admitted", created_at=now, updated_at=now)
    session.add(expert)
    await session.flush()
    return expert


async def _draw(session: AsyncSession, status: str = "filled") -> Draw:
    draw = Draw(lot_reference=f"L{next(_serial)}", evaluation_at=utcnow(), venue="Room", region_rule="remote_pool",
                quotas={"B01": 1}, avoid_parties=[], status=status, seed_commitment="s" * 64,
                snapshot_commitment="p" * 64, created_at=utcnow() - timedelta(days=1))
    session.add(draw)
    await session.flush()
    return draw


async def _session(session: AsyncSession, made: CraftedLot, draw: Draw, *, opened_at: datetime,
                   finished_at: datetime | None = None, **columns: Any) -> EvaluationSession:
    ev = EvaluationSession(lot_id=made.lot.id, project_id=made.project.id, draw_id=draw.id, stage="finished",  # type: ignore[arg-type]
                           method="lowest_evaluated_price", parameters={}, settings={}, opened_at=opened_at,
                           finished_at=finished_at, updated_at=opened_at, **columns)
    session.add(ev)
    await session.flush()
    return ev


async def _member(session: AsyncSession, ev: EvaluationSession, expert: Expert, seat: int = 1,
                  status: str = "active") -> CommitteeMember:
    member = CommitteeMember(session_id=ev.id, seat=seat, expert_id=expert.id, expert_code=expert.code,  # type: ignore[arg-type]
                             name=expert.name, specialty="B01", status=status)
    session.add(member)
    await session.flush()
    return member


async def test_an_evaluation_opened_before_its_draw_was_filled_is_flagged(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as session:
        early_draw, timely_draw = await _draw(session), await _draw(session)
        await append(session, stream=draw_stream(timely_draw.id), event_type=DRAW_FINISHED, actor=None,
                     payload={"status": "filled"})
        early = await _session(session, await crafted_lot(session), early_draw, opened_at=now - timedelta(hours=1))
        await append(session, stream=draw_stream(early_draw.id), event_type=DRAW_FINISHED, actor=None,
                     payload={"status": "filled"})  # filled only after the session opened
        await _session(session, await crafted_lot(session), timely_draw, opened_at=now + timedelta(minutes=5))
        unfilled = await _session(session, await crafted_lot(session), await _draw(session, "calling"),
                                  opened_at=now - timedelta(minutes=30))
        findings = await run_rule(session, "evaluation.started_before_draw_complete")
    assert sorted(f.evidence["session_id"] for f in findings) == sorted([early.id, unfilled.id])
    by_session = {f.evidence["session_id"]: f.evidence for f in findings}
    assert by_session[unfilled.id]["draw_status"] == "calling" and by_session[unfilled.id]["draw_filled_at"] is None
    assert by_session[early.id]["draw_filled_at"] is not None


async def test_a_session_with_flagged_scores_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session)
        bid = await add_bid(session, made)
        ev = await _session(session, made, await _draw(session), opened_at=utcnow() - timedelta(hours=3))
        member = await _member(session, ev, await _expert(session))
        for factor, flagged in (("technical", "far from the others"), ("price", None)):
            session.add(Score(session_id=ev.id, member_id=member.id, bid_id=bid.id, factor=factor, round=1,  # type: ignore[arg-type]
                              value=Decimal("29.00"), flagged=flagged, submitted_at=utcnow() - timedelta(hours=2)))
        quiet = await _session(session, await crafted_lot(session), await _draw(session),
                               opened_at=utcnow() - timedelta(hours=3))
        quiet_member = await _member(session, quiet, await _expert(session))
        session.add(Score(session_id=quiet.id, member_id=quiet_member.id, bid_id=bid.id, factor="technical",  # type: ignore[arg-type]
                          round=1, value=Decimal("20.00"), submitted_at=utcnow() - timedelta(hours=2)))
        await session.flush()
        findings = await run_rule(session, "evaluation.abnormal_scores")
        higher_bar = await run_rule(session, "evaluation.abnormal_scores", min_flagged=2)
    assert len(findings) == 1 and findings[0].evidence["session_id"] == ev.id
    assert findings[0].evidence["scores"][0] | {"value": None} == {
        "seat": 1, "expert_code": member.expert_code, "bid_id": bid.id, "factor": "technical", "round": 1,
        "value": None, "flagged": "far from the others", "confirmation": None}
    assert higher_bar == []


async def _finished_with_winner(session: AsyncSession, expert: Expert, winner_party: int, when: datetime,
                                *, status: str = "active") -> EvaluationSession:
    made = await crafted_lot(session)
    bid = await add_bid(session, made, party_id=winner_party)
    ev = await _session(session, made, await _draw(session), opened_at=when - timedelta(hours=4), finished_at=when)
    await _member(session, ev, expert, status=status)
    session.add(EvaluatedBid(session_id=ev.id, bid_id=bid.id, party_id=winner_party, bidder_name="Winner",  # type: ignore[arg-type]
                             bidder_uscc="91350100MA0000000X", rank=1, candidate=True))
    await session.flush()
    return ev


async def test_the_same_expert_on_committees_picking_the_same_winner_is_flagged(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as session:
        regular, occasional = await _expert(session), await _expert(session)
        party = (await crafted_lot(session)).project.tenderer_party_id  # any party will do as the winner
        other = (await crafted_lot(session)).project.tenderer_party_id
        for days in (100, 40, 0):
            await _finished_with_winner(session, regular, party, now - timedelta(days=days, hours=1))
        await _finished_with_winner(session, occasional, party, now - timedelta(days=50))
        await _finished_with_winner(session, occasional, other, now - timedelta(hours=2))
        await _finished_with_winner(session, occasional, party, now - timedelta(hours=1), status="recused")
        findings = await run_rule(session, "evaluation.expert_same_winner")
        shorter_memory = await run_rule(session, "evaluation.expert_same_winner", lookback_days=30)
    assert [f.subject.key for f in findings] == [f"expert:{regular.id}:party:{party}"]
    assert len(findings[0].evidence["sessions"]) == 3 and findings[0].evidence["expert_code"] == regular.code
    assert shorter_memory == []


async def test_a_re_evaluation_of_the_same_lot_is_not_another_committee(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as session:
        expert = await _expert(session)
        party = (await crafted_lot(session)).project.tenderer_party_id
        made = await crafted_lot(session)
        bid = await add_bid(session, made, party_id=party)
        first = await _session(session, made, await _draw(session), opened_at=now - timedelta(days=3),
                               finished_at=now - timedelta(days=3) + timedelta(hours=4))
        again = await _session(session, made, await _draw(session), opened_at=now - timedelta(days=2),
                               finished_at=now - timedelta(days=2) + timedelta(hours=4),
                               evaluation_round=2, reevaluation_of=first.id)
        for ev in (first, again):
            await _member(session, ev, expert)
            session.add(EvaluatedBid(session_id=ev.id, bid_id=bid.id, party_id=party, bidder_name="Winner",  # type: ignore[arg-type]
                                     bidder_uscc="91350100MA0000000X", rank=1, candidate=True))
        await _finished_with_winner(session, expert, party, now - timedelta(hours=3))
        two_lots = await run_rule(session, "evaluation.expert_same_winner")
        await _finished_with_winner(session, expert, party, now - timedelta(hours=1))
        three_lots = await run_rule(session, "evaluation.expert_same_winner")
    assert two_lots == [], "a lot and its re-evaluation count once"
    sessions = [seen["session_id"] for seen in three_lots[0].evidence["sessions"]]
    assert len(sessions) == 3 and again.id in sessions and first.id not in sessions, "each lot by its latest session"


async def test_an_expert_repeatedly_declining_is_flagged(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as session:
        decliner, busy, accepter = await _expert(session, "350100"), await _expert(session), await _expert(session)
        draw = await _draw(session)
        position = itertools.count(1)

        async def call(expert: Expert, answer: str, days_ago: float) -> None:
            when = now - timedelta(days=days_ago)
            session.add(DrawCall(draw_id=draw.id, position=next(position), specialty="B01", expert_id=expert.id,  # type: ignore[arg-type]
                                 salt="x", answer=answer, called_at=when, answered_at=when))

        for days in (60, 20, 0.5):
            await call(decliner, "declined" if days != 20 else "no_answer", days)
        for days in (60, 20):
            await call(busy, "declined", days)
        await call(busy, "accepted", 0.5)
        for days in (2, 1, 0.5):
            await call(accepter, "accepted", days)
        await session.flush()
        findings = await run_rule(session, "expert_pool.repeated_declining")
        declined_only = await run_rule(session, "expert_pool.repeated_declining", answers=["declined"])
    assert [f.subject.key for f in findings] == [f"expert:{decliner.id}"]
    assert [c["answer"] for c in findings[0].evidence["calls"]] == ["declined", "no_answer", "declined"]
    assert findings[0].scope.region_code == "350100" and findings[0].scope.segment is None
    assert declined_only == []

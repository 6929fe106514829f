"""Procedure warning rules on crafted cases: each triggers on its case and stays quiet otherwise."""

from __future__ import annotations

from datetime import timedelta

from core.clock import utcnow
from core.database import Database
from supervision.ledger.append import append
from tests.trading.warning_rule_factories import (
    add_bid,
    award_to,
    crafted_lot,
    open_lot,
    run_rule,
)
from trading.events import LOT_TIMETABLE_MOVED
from trading.models import Lot, Notice


async def _tender_notice(session, made, published_at, *, lot_id=-1) -> None:  # type: ignore[no-untyped-def]
    lot_id = made.lot.id if lot_id == -1 else lot_id
    session.add(Notice(project_id=made.project.id, lot_id=lot_id, kind="tender", title="Tender", body="...",
                       details={}, segment=made.project.segment, region_code=made.project.region_code,
                       published_at=published_at))
    await session.flush()


async def test_a_timetable_shorter_than_the_legal_minimum_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        short = await crafted_lot(session)
        short.lot.documents_from = short.lot.bid_deadline - timedelta(days=10)  # construction needs 20 days
        short.lot.documents_until = short.lot.bid_deadline - timedelta(days=5)
        await _tender_notice(session, short, short.lot.documents_from, lot_id=None)  # for every lot of it
        lawful = await crafted_lot(session)
        await _tender_notice(session, lawful, lawful.lot.documents_from)
        # A later lot's notice today checks that lot only, not the project's earlier lot.
        now = utcnow()
        later = Lot(**{**lawful.lot.model_dump(exclude={"id"}), "number": 2, "code": lawful.lot.code + "-2",
                       "documents_from": now, "documents_until": now + timedelta(days=7),
                       "bid_deadline": now + timedelta(days=25), "opening_at": now + timedelta(days=25),
                       "clarification_until": now + timedelta(days=10)})
        session.add(later)
        await session.flush()
        await _tender_notice(session, lawful, later.documents_from, lot_id=later.id)
        findings = await run_rule(session, "trading.timetable_too_short", since=utcnow() - timedelta(days=60))
    assert [f.subject.key for f in findings] == [f"lot:{short.lot.id}"], [f.evidence["breaches"] for f in findings]
    assert any("documents_to_deadline" in b["rule"] for b in findings[0].evidence["breaches"])
    assert findings[0].scope.region_code == "350102" and findings[0].scope.segment == "construction"


async def test_a_deadline_moved_inside_the_clarification_cut_off_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session, at=utcnow() + timedelta(days=5))
        old = made.lot.bid_deadline
        late = {"lot_id": made.lot.id, "old_bid_deadline": old, "new_bid_deadline": old + timedelta(days=12),
                "reason": "clarification"}
        await append(session, stream=f"project:{made.project.id}", event_type=LOT_TIMETABLE_MOVED, actor=None,
                     payload=late)
        early = await crafted_lot(session, at=utcnow() + timedelta(days=40))
        await append(session, stream=f"project:{early.project.id}", event_type=LOT_TIMETABLE_MOVED, actor=None,
                     payload={"lot_id": early.lot.id, "old_bid_deadline": early.lot.bid_deadline,
                              "new_bid_deadline": early.lot.bid_deadline + timedelta(days=3), "reason": "amendment"})
        findings = await run_rule(session, "trading.deadline_changed_late")
    assert len(findings) == 1 and findings[0].evidence["lot_id"] == made.lot.id
    assert findings[0].evidence["reason"] == "clarification" and findings[0].evidence["ledger_seq"] >= 0


async def test_fewer_than_three_bids_is_flagged_and_three_is_not(database: Database) -> None:
    async with database.transaction() as session:
        thin = await crafted_lot(session)
        await open_lot(session, thin, bid_count=2)
        full = await crafted_lot(session)
        await open_lot(session, full, bid_count=3)
        findings = await run_rule(session, "trading.too_few_bids")
        stricter = await run_rule(session, "trading.too_few_bids", min_bids=4)
    assert [f.evidence["lot_id"] for f in findings] == [thin.lot.id]
    assert findings[0].evidence["bid_count"] == 2
    assert len(stricter) == 2


async def test_an_award_away_from_the_first_candidate_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        passed_over = await crafted_lot(session)
        first, second = await add_bid(session, passed_over), await add_bid(session, passed_over)
        await award_to(session, passed_over, first=first, second=second, winner=second, reason="first waived")
        regular = await crafted_lot(session)
        a, b = await add_bid(session, regular), await add_bid(session, regular)
        await award_to(session, regular, first=a, second=b, winner=a)
        findings = await run_rule(session, "trading.award_not_first_candidate")
    assert [f.evidence["lot_id"] for f in findings] == [passed_over.lot.id]
    evidence = findings[0].evidence
    assert evidence["first_candidate"]["bid_id"] == first.id and evidence["winner"]["bid_id"] == second.id
    assert evidence["deviation_reason"] == "first waived"


async def test_nothing_outside_the_window_is_reviewed(database: Database) -> None:
    async with database.transaction() as session:
        old = await crafted_lot(session, at=utcnow() - timedelta(days=30))
        await open_lot(session, old, bid_count=1)
        assert await run_rule(session, "trading.too_few_bids") == []

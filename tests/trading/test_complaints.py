"""Complaints: each legal window (in time, one day late refused naming the rule, nothing
stored), the objection or challenge the law wants first, and the acceptance due date over
weekends and holidays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.clock import SHANGHAI, travel
from core.errors import Conflict, InvalidInput, RuleViolation
from supervision.ledger.models import LedgerEntry
from tests.trading.complaint_factories import (
    bidder,
    file_at,
    lot_in,
    objection_at,
    regulator,
)
from trading import complaint_rules, complaints, rules
from trading.complaint_models import Complaint
from trading.complaint_schemas import AcceptanceDecision
from trading.states import ComplaintStatus, ObjectionStage


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc)  # type: ignore[misc]


async def _stored(session) -> tuple[int, int]:
    complaints_count = await session.scalar(sa.select(sa.func.count()).select_from(Complaint))
    entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)
                                   .where(LedgerEntry.stream.like("complaint:%")))
    return complaints_count, entries


async def _refused_late(session, party, made, moment, rule: str, **data) -> None:
    before = await _stored(session)
    with pytest.raises(RuleViolation) as caught:
        await file_at(session, party, made, moment, **data)
    assert caught.value.rule == rule and rule in caught.value.detail
    assert await _stored(session) == before


async def test_construction_complaint_within_10_days_of_knowing(database) -> None:
    known = shanghai(2026, 12, 1, 10)  # Tuesday; the 10th day after is Friday 11 December
    async with database.transaction() as session:
        with travel(known):
            made = await lot_in(session)
        party = await bidder(session)
        complaint = await file_at(session, party, made, shanghai(2026, 12, 11, 20), known_at=known.isoformat())
        assert complaint.status == ComplaintStatus.FILED and complaint.window_rule == "construction.complaint_window"
        assert complaint.window_until == shanghai(2026, 12, 11, 23, 59, 59, 999999)
        await _refused_late(session, party, made, shanghai(2026, 12, 12, 10), "construction.complaint_window",
                            known_at=known.isoformat())


async def test_a_window_counting_from_knowing_needs_known_at_not_in_the_future(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        party = await bidder(session)
        with pytest.raises(InvalidInput) as caught:
            await file_at(session, party, made, datetime.now(timezone.utc))
        assert caught.value.errors[0].pointer == "$.known_at"
        with pytest.raises(InvalidInput, match="in the future"):
            await file_at(session, party, made, datetime.now(timezone.utc),
                          known_at=(datetime.now(timezone.utc) + timedelta(days=2)).isoformat())
        with pytest.raises(InvalidInput, match="documents, opening, process, result"):
            await file_at(session, party, made, datetime.now(timezone.utc), matter="weather")


async def test_construction_documents_complaint_needs_an_objection_and_counts_from_its_reply(database) -> None:
    start = shanghai(2026, 12, 1, 10)
    async with database.transaction() as session:
        with travel(start):
            made = await lot_in(session)
        party = await bidder(session)
        await _refused_late(session, party, made, start, "construction.objection_first", matter="documents")
        objection = await objection_at(session, made, party, ObjectionStage.DOCUMENTS, start,
                                       shanghai(2026, 12, 4, 23, 59), replied_at=shanghai(2026, 12, 3, 9))
        # The reply came on Thursday 3 December: ten days run to Sunday 13, then to Monday 14 (a day off runs on).
        complaint = await file_at(session, party, made, shanghai(2026, 12, 14, 18), matter="documents",
                                  objection_id=objection.id)
        assert complaint.objection_id == objection.id
        assert complaint.window_until == shanghai(2026, 12, 14, 23, 59, 59, 999999)
        await _refused_late(session, party, made, shanghai(2026, 12, 15, 9), "construction.complaint_window",
                            matter="documents", objection_id=objection.id)


async def test_the_objection_must_be_ones_own_of_the_right_stage(database) -> None:
    start = shanghai(2026, 12, 1, 10)
    async with database.transaction() as session:
        with travel(start):
            made = await lot_in(session)
        party, other = await bidder(session), await bidder(session)
        objection = await objection_at(session, made, party, ObjectionStage.DOCUMENTS, start,
                                       shanghai(2026, 12, 4, 23, 59))
        with pytest.raises(InvalidInput, match="not one your organisation raised"):
            await file_at(session, other, made, start + timedelta(hours=1), matter="documents",
                          objection_id=objection.id)
        with pytest.raises(InvalidInput, match="publicity stage"):
            await file_at(session, party, made, start + timedelta(days=5), matter="result", objection_id=objection.id)
        with pytest.raises(Conflict, match="awaits the tenderer's reply"):
            await file_at(session, party, made, start + timedelta(hours=1), matter="documents",
                          objection_id=objection.id)
        assert await _stored(session) == (0, 0)


async def test_procurement_complaint_within_15_working_days_after_the_challenge_reply_period(database) -> None:
    raised = shanghai(2026, 12, 1, 10)
    async with database.transaction() as session:
        with travel(raised):
            made = await lot_in(session, "government_procurement")
        party = await bidder(session)
        await _refused_late(session, party, made, raised, "government_procurement.objection_first",
                            known_at=raised.isoformat())
        reply_due = rules.objection_reply_due("government_procurement", "open_tender", "documents", raised)
        assert reply_due == shanghai(2026, 12, 10, 23, 59, 59, 999999)  # 7 working days
        challenge = await objection_at(session, made, party, ObjectionStage.DOCUMENTS, raised, reply_due)
        # Unanswered: the complaint may follow once the reply period ends, for 15 working days (to 31 December).
        complaint = await file_at(session, party, made, shanghai(2026, 12, 31, 20), matter="documents",
                                  objection_id=challenge.id)
        assert complaint.window_rule == "government_procurement.complaint_window"
        assert complaint.window_until == shanghai(2026, 12, 31, 23, 59, 59, 999999)
        await _refused_late(session, party, made, shanghai(2027, 1, 1, 10), "government_procurement.complaint_window",
                            matter="documents", objection_id=challenge.id)


@pytest.mark.parametrize(("filed", "due"), [
    (shanghai(2026, 12, 3, 10), shanghai(2026, 12, 8, 23, 59, 59, 999999)),  # Thursday: over the weekend to Tuesday
    (shanghai(2026, 9, 30, 10), shanghai(2026, 10, 10, 23, 59, 59, 999999)),  # National Day, then the working Saturday
])
async def test_acceptance_is_due_in_3_working_days(database, filed: datetime, due: datetime) -> None:
    async with database.transaction() as session:
        with travel(filed):
            made = await lot_in(session)
        complaint = await file_at(session, await bidder(session), made, filed, known_at=filed.isoformat())
        assert complaint.acceptance_rule == "construction.complaint_acceptance"
        assert complaint.acceptance_due == due


async def test_a_late_acceptance_is_allowed_and_marked_late(database) -> None:
    filed = shanghai(2026, 12, 3, 10)
    async with database.transaction() as session:
        with travel(filed):
            made = await lot_in(session)
        complaint = await file_at(session, await bidder(session), made, filed, known_at=filed.isoformat())
        officer = await regulator(session)
        with travel(shanghai(2026, 12, 9, 9)):
            await complaints.decide_acceptance(session, officer, complaint.id, AcceptanceDecision(accept=True))
        assert complaint.status == ComplaintStatus.ACCEPTED and complaint.acceptance_late is True
        assert complaint.decision_rule == "construction.complaint_decision"
        # 30 working days from the acceptance on Wednesday 9 December (New Year's Day 2027 is not in the calendar data).
        assert complaint.decision_due is not None and complaint.decision_due > shanghai(2027, 1, 19)


async def test_a_rejection_needs_its_reason_and_ends_the_complaint(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        now = datetime.now(timezone.utc)
        complaint = await file_at(session, await bidder(session), made, now, known_at=now.isoformat())
        officer = await regulator(session)
        with pytest.raises(InvalidInput, match="reason"):
            await complaints.decide_acceptance(session, officer, complaint.id, AcceptanceDecision(accept=False))
        await complaints.decide_acceptance(session, officer, complaint.id,
                                           AcceptanceDecision(accept=False, reason="Not an interested party."))
        assert complaint.status == ComplaintStatus.REJECTED and complaint.acceptance_late is False
        with pytest.raises(Conflict, match="rejected"):
            await complaints.decide_acceptance(session, officer, complaint.id, AcceptanceDecision(accept=True))


def test_segments_without_complaint_rules_are_refused_naming_the_rule() -> None:
    with pytest.raises(RuleViolation) as caught:
        complaint_rules.rules_for("land_mining")
    assert caught.value.rule == "land_mining.complaint_rules"

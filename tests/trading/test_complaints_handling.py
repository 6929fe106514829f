"""Handling an accepted complaint: suspension of the lot and its resumption (by the
decision, by the regulator, or by itself when procurement's 30 days run out), the decision
published as a notice, and the replay of the complaint's and the project's streams."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.clock import travel
from core.errors import Conflict, PermissionDenied, RuleViolation
from supervision.replay import check_stream
from tests.trading.complaint_factories import (
    accepted,
    bidder,
    complaint_data,
    lot_in,
    register_streams,
    regulator,
)
from trading import complaints
from trading.complaint_schemas import ComplaintDecisionIn, SuspensionOrder
from trading.models import Lot, Notice
from trading.states import ComplaintOutcome, ComplaintStatus, LotStatus, NoticeKind


async def _lot_status(session, lot_id: int) -> str:
    return str(await session.scalar(sa.select(Lot.status).where(Lot.id == lot_id)))


async def _replays(database, runtime, *streams: str) -> None:
    register_streams(runtime.registry)
    async with database.reader() as session:
        for stream in streams:
            result = await check_stream(session, runtime.registry, stream)
            assert result.matches, (stream, result.replayed, result.stored)


async def test_suspension_until_the_decision_then_the_notice_and_the_lot_resumes(database, runtime) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, officer = await accepted(session, made)
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="Clause 3.2"))
        assert await _lot_status(session, made.lot.id) == LotStatus.SUSPENDED
        assert complaint.suspended_until is None and complaint.suspended_from_status == LotStatus.BIDDING
        with pytest.raises(Conflict, match="already"):
            await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="again"))
        await complaints.decide_complaint(session, officer, complaint.id, ComplaintDecisionIn(
            outcome=ComplaintOutcome.PARTLY_UPHELD, reasons="Clause 3.2 is unlawful; the rest stands."))
        assert complaint.status == ComplaintStatus.DECIDED and complaint.decision_late is False
        assert complaint.resumed_at is not None
        assert await _lot_status(session, made.lot.id) == LotStatus.BIDDING
        notice = await session.get(Notice, complaint.decision_notice_id)
        assert notice is not None and notice.kind == NoticeKind.COMPLAINT_DECISION
        assert notice.details["outcome"] == "partly_upheld" and "Clause 3.2 is unlawful" in notice.body
        changes = (await session.scalars(sa.select(Notice.details).where(
            Notice.project_id == made.project.id, Notice.kind == NoticeKind.CHANGE).order_by(Notice.id))).all()
        assert [c["change"] for c in changes] == ["suspended", "resumed"]
        with pytest.raises(Conflict, match="decided"):
            await complaints.decide_complaint(session, officer, complaint.id, ComplaintDecisionIn(
                outcome=ComplaintOutcome.UPHELD, reasons="again"))
    await _replays(database, runtime, f"complaint:{complaint.id}", f"project:{made.project.id}")


async def test_only_an_accepted_complaint_suspends_and_a_lot_that_is_not_running_is_not_suspended(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        now = datetime.now(timezone.utc)
        filed = await complaints.file_complaint(session, await bidder(session), made.lot.id,  # type: ignore[arg-type]
                                                complaint_data(known_at=now.isoformat()))
        officer = await regulator(session)
        with pytest.raises(Conflict, match="accepted complaint"):
            await complaints.suspend_procedure(session, officer, filed.id, SuspensionOrder(reason="x"))  # type: ignore[arg-type]
        complaint, _ = await accepted(session, made, officer=officer)
        with pytest.raises(Conflict, match="no suspension"):
            await complaints.lift_suspension(session, officer, complaint.id)  # type: ignore[arg-type]
        made.lot.status = LotStatus.CANCELLED
        session.add(made.lot)
        with pytest.raises(Conflict, match="cancelled"):
            await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="x"))  # type: ignore[arg-type]


async def test_procurement_suspension_is_at_most_30_days_and_ends_by_itself(database, runtime) -> None:
    async with database.transaction() as session:
        made = await lot_in(session, "government_procurement")
        complaint, officer = await accepted(session, made)
        too_long = datetime.now(timezone.utc) + timedelta(days=40)
        with pytest.raises(RuleViolation) as caught:
            await complaints.suspend_procedure(session, officer, complaint.id,
                                               SuspensionOrder(reason="review", until=too_long))
        assert caught.value.rule == "government_procurement.suspension_max" and "30 days" in caught.value.detail
        assert await _lot_status(session, made.lot.id) == LotStatus.BIDDING and complaint.suspended_at is None
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="review"))
        assert complaint.suspended_until is not None
        assert timedelta(days=30) <= complaint.suspended_until - complaint.suspended_at <= timedelta(days=31)
        assert await _lot_status(session, made.lot.id) == LotStatus.SUSPENDED
    async with database.transaction() as session:
        assert await complaints.resume_expired_suspensions(session) == []
    with travel(complaint.suspended_until + timedelta(minutes=1)):
        async with database.transaction() as session:
            assert await complaints.resume_expired_suspensions(session) == [complaint.id]
            assert await _lot_status(session, made.lot.id) == LotStatus.BIDDING
            decided = await complaints.decide_complaint(session, officer, complaint.id, ComplaintDecisionIn(
                outcome=ComplaintOutcome.DISMISSED, reasons="The documents follow the law."))
            assert decided.status == ComplaintStatus.DECIDED
    await _replays(database, runtime, f"complaint:{complaint.id}", f"project:{made.project.id}")


async def test_an_expired_suspension_resumes_when_the_complaint_is_next_handled(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session, "government_procurement")
        complaint, officer = await accepted(session, made)
        until = datetime.now(timezone.utc) + timedelta(days=2)
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="r", until=until))
    with travel(until + timedelta(hours=1)):
        async with database.transaction() as session:
            with pytest.raises(Conflict, match="no suspension"):  # it ended by itself on the way in
                await complaints.lift_suspension(session, officer, complaint.id)  # type: ignore[arg-type]
        async with database.transaction() as session:
            assert await _lot_status(session, made.lot.id) == LotStatus.BIDDING


async def test_the_regulator_may_lift_a_construction_suspension_early(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, officer = await accepted(session, made)
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="r"))
        await complaints.lift_suspension(session, officer, complaint.id)  # type: ignore[arg-type]
        assert await _lot_status(session, made.lot.id) == LotStatus.BIDDING and complaint.resumed_at is not None


async def test_regulators_outside_the_jurisdiction_or_industry_are_refused(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, _ = await accepted(session, made)
        for outsider in (await regulator(session, "360000"), await regulator(session, industries=("land_mining",))):
            with pytest.raises(PermissionDenied, match="350102"):
                await complaints.decide_complaint(session, outsider, complaint.id, ComplaintDecisionIn(
                    outcome=ComplaintOutcome.UPHELD, reasons="x"))
            with pytest.raises(PermissionDenied):
                await complaints.get_complaint(session, outsider, complaint.id)  # type: ignore[arg-type]
        city = await regulator(session, "350100")  # Fuzhou covers its district 350102
        await complaints.decide_complaint(session, city, complaint.id, ComplaintDecisionIn(
            outcome=ComplaintOutcome.UPHELD, reasons="Clause 3.2 is unlawful."))


async def test_a_late_decision_is_allowed_and_marked_late_in_the_notice(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, officer = await accepted(session, made)
        assert complaint.decision_due is not None
        with travel(complaint.decision_due + timedelta(days=1)):
            await complaints.decide_complaint(session, officer, complaint.id, ComplaintDecisionIn(
                outcome=ComplaintOutcome.DISMISSED, reasons="No breach found."))
        assert complaint.decision_late is True
        notice = await session.get(Notice, complaint.decision_notice_id)
        assert notice is not None and notice.details["late"] is True and notice.details["outcome"] == "dismissed"


async def test_a_lot_suspended_during_evaluation_resumes_evaluating(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, officer = await accepted(session, made)
        made.lot.status = LotStatus.EVALUATING  # as the opening leaves it
        session.add(made.lot)
        await session.flush()
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="r"))
        assert await _lot_status(session, made.lot.id) == LotStatus.SUSPENDED
        await complaints.decide_complaint(session, officer, complaint.id, ComplaintDecisionIn(
            outcome=ComplaintOutcome.UPHELD, reasons="Re-evaluate bid 2."))
        assert await _lot_status(session, made.lot.id) == LotStatus.EVALUATING


async def test_answering_a_documents_objection_does_not_lift_a_complaint_suspension(database) -> None:
    from tests.trading.complaint_factories import objection_at
    from trading.notice_schemas import ObjectionReply
    from trading.objections import reply_to_objection
    from trading.states import ObjectionStage

    async with database.transaction() as session:
        made = await lot_in(session)
        complaint, officer = await accepted(session, made)
        await complaints.suspend_procedure(session, officer, complaint.id, SuspensionOrder(reason="Clause 3.2"))
        now = datetime.now(timezone.utc)
        objection = await objection_at(session, made, await bidder(session), ObjectionStage.DOCUMENTS,
                                       now - timedelta(hours=1), now + timedelta(days=3))
        await reply_to_objection(session, made.tenderer, objection.id, ObjectionReply(reply="The clause stays."))
        assert await _lot_status(session, made.lot.id) == LotStatus.SUSPENDED  # the regulator's word holds


def test_expired_suspensions_are_resumed_by_a_periodic_job() -> None:
    from trading import tasks

    assert tasks.PERIODIC_TASKS["trading.resume_expired_suspensions"] <= 3600
    assert tasks.resume_expired_suspensions.name == "trading.resume_expired_suspensions"

"""Signing the evaluation report through the session's channel: every member signs the
exact report, the session finishes with a signed bundle and hands the candidates to
trading; signatures over another report, by another person or twice are refused and
change nothing."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from ca_interop.signatures import sign_detached
from core.database import Database
from core.errors import Conflict, InvalidInput, PermissionDenied
from evaluation import events
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import EvaluationSession, ReportSignature
from evaluation.report import attached_dissent, report_text, signature_page
from evaluation.report_bundle import verify_bundle
from evaluation.states import Stage
from tests.evaluation.factories import EvaluationScene, ExpertHand, evaluation_services  # noqa: F401
from tests.evaluation.test_results import in_results
from tests.evaluation.test_review import last_entry, review_all, send, started, state_of
from trading.award_models import Award, AwardCandidate, AwardStatus
from trading.models import Lot, Notice
from trading.states import LotStatus, NoticeKind

DISSENT = "The third bidder's schedule cannot be met with the crane plan it gives."


def signature_over(content: bytes, hand: ExpertHand) -> dict[str, str]:
    return {"signature": base64.b64encode(sign_detached(content, hand.signing.key, hand.signing.cert)).decode()}


async def in_signing(database: Database, services: EvaluationServices) -> tuple[EvaluationScene, int, bytes]:
    """Results accepted by experts 0 and 1, dissent by expert 2: the report is ready to sign."""
    scene, session_id = await in_results(database, services)
    for hand in scene.experts[:2]:
        await send(database, hand.actor, session_id, "accept_results", {}, services)
    await send(database, scene.experts[2].actor, session_id, "dissent",
               {"text": DISSENT, "bid_id": scene.bids[2].id}, services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
    assert ev.stage == Stage.REPORT_SIGNING and ev.report_sha256
    with services.blobs.open(ev.report_sha256) as stored:
        return scene, session_id, stored.read()


async def test_every_member_signs_and_the_signed_report_goes_to_trading(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id, report = await in_signing(database, evaluation_services)
    assert [seat for seat, _ in signature_page(report)] == [1, 2, 3]
    assert DISSENT in attached_dissent(report) and scene.bidders[0].party.name in report_text(report)
    for index, hand in enumerate(scene.experts):
        reply = await send(database, hand.actor, session_id, "sign_report", signature_over(report, hand),
                           evaluation_services)
        assert reply["report_sha256"]
        if index < 2:
            async with database.reader() as session:
                assert (await session.get(EvaluationSession, session_id)).stage == Stage.REPORT_SIGNING
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        signatures = list(await session.scalars(sa.select(ReportSignature)))
        finished = await last_entry(session, session_id, events.SESSION_FINISHED)
        award = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot_id))
        candidates = list(await session.scalars(sa.select(AwardCandidate).order_by(AwardCandidate.rank)))
        lot = await session.get(Lot, scene.lot_id)
    assert ev.stage == Stage.FINISHED and ev.finished_at is not None
    assert len(signatures) == 3 and {s.report_sha256 for s in signatures} == {ev.report_sha256}
    with evaluation_services.blobs.open(finished["bundle_sha256"]) as stored:
        check = verify_bundle(stored.read())
    assert check.ok, check.problems
    assert check.report_sha256 == ev.report_sha256
    assert award.status == AwardStatus.CANDIDATES and award.report_sha256 == finished["bundle_sha256"]
    assert [c.bid_id for c in candidates] == [bid.id for bid in scene.bids]
    assert [c.price for c in candidates] == [row.total_price for row in scene.rows]
    assert [c["bid_id"] for c in finished["candidates"]] == [bid.id for bid in scene.bids]
    assert finished["award_id"] == award.id and lot.status == LotStatus.EVALUATING


async def test_bad_signatures_are_refused_and_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id, report = await in_signing(database, evaluation_services)
    async with database.reader() as session:
        sha = (await session.get(EvaluationSession, session_id)).report_sha256
    first, second = scene.experts[0], scene.experts[1]
    await send(database, first.actor, session_id, "sign_report", signature_over(report, first), evaluation_services)
    before = await state_of(database, session_id)
    refused: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (second.actor, signature_over(report + b"tampered", second), InvalidInput,
         f"a signature over a different report: .*sha256 {sha}"),
        (second.actor, signature_over(report, first), PermissionDenied, "another person than the member in seat 2"),
        (second.actor, {"signature": "bm90IGEgc2lnbmF0dXJl"}, InvalidInput, "not a detached CMS signature"),
        (second.actor, {}, InvalidInput, r"\$\.signature"),
        (first.actor, signature_over(report, first), Conflict, "seat 1 has already signed"),
        (scene.staff, signature_over(report, first), PermissionDenied, "members of this evaluation"),
        (scene.spares[0].actor, signature_over(report, scene.spares[0]), PermissionDenied, "not a member"),
        (second.actor, {"text": "no"}, InvalidInput, "unknown field"),
    ]
    for actor, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, "sign_report", fields, evaluation_services)
        assert await state_of(database, session_id) == before
    with pytest.raises(WrongStage, match="results stage; the session is in report_signing"):
        await send(database, second.actor, session_id, "dissent", {"text": "too late"}, evaluation_services)
    assert await state_of(database, session_id) == before


async def test_signing_before_the_report_exists_is_a_message_for_the_wrong_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_results(database, evaluation_services)
    before = await state_of(database, session_id)
    with pytest.raises(WrongStage, match="report_signing stage; the session is in results"):
        await send(database, scene.experts[0].actor, session_id, "sign_report",
                   signature_over(b"anything", scene.experts[0]), evaluation_services)
    assert await state_of(database, session_id) == before


async def test_the_report_states_the_whole_evaluation(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from core.clock import rfc3339, utcnow
    from evaluation.report_data import gather
    from tests.evaluation.test_clarifications import (
        ANSWER,
        QUESTION,
        ask,
        signed_answer,
    )
    from tests.evaluation.test_scoring import in_scoring, score_all

    scene, session_id = await in_scoring(database, evaluation_services)
    asked = await ask(database, scene, evaluation_services, session_id, bid_index=1)
    await send(database, scene.bidders[1].actor, session_id, "answer_clarification",
               signed_answer(asked["clarification_id"], ANSWER, scene.bidders[1].signing), evaluation_services)
    await score_all(database, scene, evaluation_services, session_id)
    project = scene.tender.project
    async with database.transaction() as session:
        notice = Notice(project_id=project.id, lot_id=None, kind=NoticeKind.TENDER, title="Tender notice", body="-",
                        details={}, segment=project.segment, region_code=project.region_code,
                        published_at=utcnow())
        session.add(notice)
        session.add(Notice(project_id=project.id, lot_id=scene.lot_id, kind=NoticeKind.CANDIDATE_PUBLICITY,
                           title="not before the report", body="-", details={}, segment=project.segment,
                           region_code=project.region_code, published_at=utcnow()))
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        content = await gather(session, ev, generated_at=utcnow())
    failed, best, second = (bid.id for bid in scene.bids)
    assert content.project_code == scene.tender.project.code and content.lot_code == scene.tender.lot.code
    assert content.method_code == "comprehensive_scoring" and content.review_criteria == ("qualification",
                                                                                        "responsiveness")
    assert content.factors == {"technical": Decimal("40"), "business": Decimal("30")}
    assert content.benchmark_price == Decimal("10980000.00") and content.candidates == (best, second)
    bidders = {b.bid_id: b for b in content.bidders}
    assert bidders[failed].rejection_reasons == ("qualification: no licence",)
    assert bidders[best].rank == 1 and bidders[best].factor_scores == {"technical": Decimal("31.00"),
                                                                      "business": Decimal("21.00")}
    assert [m.seat for m in content.members] == [1, 2, 3] and [m.chair for m in content.members] == [
        True, False, False]
    assert set(content.review_marks) == {1, 2, 3} and content.review_marks[1][failed]["qualification"] is False
    assert content.member_scores[2][second] == {"technical": Decimal("32.00"), "business": Decimal("21.00")}
    [clarification] = content.clarifications
    assert (clarification.bidder, clarification.question, clarification.answer) == (
        scene.bidders[1].party.name, QUESTION, ANSWER)
    assert [(d.seat, d.stage, d.bidder) for d in content.dissents] == [
        (3, Stage.PRELIMINARY_REVIEW, scene.bidders[0].party.name)]
    assert content.notice_media == (f"bidhall public-resource trading platform, notice {notice.id} (tender) "
                                    f"published {rfc3339(notice.published_at)}: Tender notice",)


async def test_a_report_rejecting_every_bid_fails_the_tender_with_its_notice(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services, method="lowest_evaluated_price")
    every_bid_fails = {(i, j): {"qualification": "no valid construction licence"}
                       for i in range(len(scene.experts)) for j in range(len(scene.bids))}
    await review_all(database, scene, evaluation_services, session_id, every_bid_fails)
    for hand in scene.experts:
        await send(database, hand.actor, session_id, "accept_results", {}, evaluation_services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
    with evaluation_services.blobs.open(ev.report_sha256) as stored:
        report = stored.read()
    for hand in scene.experts:
        await send(database, hand.actor, session_id, "sign_report", signature_over(report, hand), evaluation_services)
    async with database.reader() as session:
        lot = await session.get(Lot, scene.lot_id)
        award = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot_id))
        notices = list(await session.scalars(sa.select(Notice).where(Notice.lot_id == scene.lot_id,
                                                                     Notice.kind == NoticeKind.FAILED)))
        finished = await last_entry(session, session_id, events.SESSION_FINISHED)
    assert lot.status == LotStatus.FAILED and award is None
    assert len(notices) == 1 and "rejected every bid" in notices[0].body and "art. 42" in notices[0].body
    assert notices[0].details["report_sha256"] == finished["bundle_sha256"]
    assert finished["candidates"] == [] and "the tender failed" in finished["note"]

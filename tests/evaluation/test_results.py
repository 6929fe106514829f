"""Results through the session's channel: the method's ranking stored on the bids, the
members' acceptance or dissent, and refused messages that change nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from core.database import Database
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from evaluation import events
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import Dissent, EvaluatedBid, EvaluationSession
from evaluation.states import Stage
from tests.evaluation.factories import evaluation_services  # noqa: F401  (fixture)
from tests.evaluation.test_review import (
    entries,
    last_entry,
    review_all,
    send,
    started,
    state_of,
)
from tests.evaluation.test_scoring import in_scoring, score_all


async def bids_by_id(database: Database) -> dict[int, EvaluatedBid]:
    async with database.reader() as session:
        return {bid.bid_id: bid for bid in await session.scalars(sa.select(EvaluatedBid))}


async def test_comprehensive_scoring_ranks_the_passed_bids_from_prices_and_final_scores(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    await score_all(database, scene, evaluation_services, session_id)
    failed, best, second = (bid.id for bid in scene.bids)
    bids = await bids_by_id(database)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        computed = await last_entry(session, session_id, events.RESULTS_COMPUTED)
    assert ev.stage == Stage.RESULTS
    # price score: lowest valid price / price x 30; factors: the members' average (31 and 21)
    assert (bids[best].price_score, bids[best].total_score, bids[best].rank) == (
        Decimal("30.00"), Decimal("82.00"), 1)
    assert (bids[second].price_score, bids[second].total_score, bids[second].rank) == (
        Decimal("29.41"), Decimal("81.41"), 2)
    assert bids[best].candidate and bids[second].candidate
    assert bids[failed].rank is None and not bids[failed].candidate and bids[failed].total_score is None
    assert computed["excluded"] == [{"bid_id": failed, "reason": "failed the preliminary review"}]
    assert [row["bid_id"] for row in computed["ranking"]] == [best, second]
    assert computed["benchmark_price"] == "10980000.00" and ev.results["accepted"] == []
    assert computed["ranking"][0]["factor_scores"] == {"technical": "31.00", "business": "21.00"}


async def test_members_accept_or_dissent_and_then_the_report_is_prepared(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_results(database, evaluation_services)
    reply = await send(database, scene.experts[0].actor, session_id, "accept_results", {}, evaluation_services)
    assert reply == {"accepted": True}
    await send(database, scene.experts[1].actor, session_id, "accept_results", {}, evaluation_services)
    dissent = {"text": "The second bidder's price is unrealistically low for the steel quantities.",
               "bid_id": scene.bids[1].id}
    await send(database, scene.experts[2].actor, session_id, "dissent", dissent, evaluation_services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        rows = list(await session.scalars(sa.select(Dissent)))
        accepted = await entries(session, session_id, events.RESULTS_ACCEPTED)
        recorded = await entries(session, session_id, events.DISSENT_RECORDED)
        prepared = await last_entry(session, session_id, events.REPORT_PREPARED)
    assert ev.stage == Stage.REPORT_SIGNING
    assert len(ev.results["accepted"]) == 2 and [a["seat"] for a in accepted] == [1, 2]
    assert [(r.stage, r.bid_id, r.text) for r in rows] == [(Stage.RESULTS, dissent["bid_id"], dissent["text"])]
    assert recorded[0]["seat"] == 3 and recorded[0]["text"] == dissent["text"]
    assert ev.report_sha256 == prepared["report_sha256"] and prepared["signers"] == [1, 2, 3]
    assert evaluation_services.blobs.exists(ev.report_sha256) and ev.report_size == prepared["size"]


async def test_price_methods_rank_by_price_without_a_scoring_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_results(database, evaluation_services)
    bids = await bids_by_id(database)
    assert [bids[bid.id].rank for bid in scene.bids] == [1, 2, 3]
    assert all(bids[bid.id].total_score is None and bids[bid.id].candidate for bid in scene.bids)
    async with database.reader() as session:
        changes = [e["to"] for e in await entries(session, session_id, events.STAGE_CHANGED)]
    assert Stage.DETAILED_SCORING not in changes and changes[-1] == Stage.RESULTS


async def test_bad_answers_to_the_results_are_refused_and_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_results(database, evaluation_services)
    await send(database, scene.experts[0].actor, session_id, "accept_results", {}, evaluation_services)
    await send(database, scene.experts[1].actor, session_id, "dissent", {"text": "I disagree with the ranking."},
               evaluation_services)
    before = await state_of(database, session_id)
    refused: list[tuple[Any, str, dict[str, Any], type[Exception], str]] = [
        (scene.experts[0].actor, "accept_results", {}, Conflict, "already accepted"),
        (scene.experts[0].actor, "dissent", {"text": "changed my mind"}, Conflict, "already accepted"),
        (scene.experts[1].actor, "accept_results", {}, Conflict, "dissent is its answer"),
        (scene.experts[2].actor, "dissent", {"text": "  "}, InvalidInput, r"\$\.text"),
        (scene.experts[2].actor, "dissent", {"text": "bad bid", "bid_id": 999_999}, NotFound, "not under"),
        (scene.experts[2].actor, "accept_results", {"all": True}, InvalidInput, "unknown field"),
        (scene.staff, "accept_results", {}, PermissionDenied, "members of this evaluation"),
        (scene.experts[2].actor, "score", {"bid_id": scene.bids[0].id, "scores": {"technical": "1"}}, WrongStage,
         "the session is in results"),
    ]
    for actor, kind, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, kind, fields, evaluation_services)
        assert await state_of(database, session_id) == before


async def test_accepting_results_belongs_to_the_results_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    before = await state_of(database, session_id)
    with pytest.raises(WrongStage, match="results stage; the session is in preliminary_review"):
        await send(database, scene.experts[0].actor, session_id, "accept_results", {}, evaluation_services)
    assert await state_of(database, session_id) == before


async def in_results(database: Database, services: EvaluationServices) -> tuple[Any, int]:
    """A lowest-evaluated-price session whose three bids all passed the review: in RESULTS."""
    scene, session_id = await started(database, services, method="lowest_evaluated_price")
    await review_all(database, scene, services, session_id)
    async with database.reader() as session:
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.RESULTS
    return scene, session_id

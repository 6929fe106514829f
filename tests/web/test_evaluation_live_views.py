"""Who sees what on the live channel, through a real server: a bidder sees only its own
clarification; a member sees the others' scores only as progress until scoring closes;
staff see progress and never a score; oversight sees everything."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from evaluation import events
from evaluation.models import EvaluationSession
from evaluation.review import review_criteria
from evaluation.scoring import factors_of
from tests.evaluation.factories import active_session, evaluation_scene, services
from tests.trading.test_opening_live import serving
from tests.web.test_evaluation_live import token_of
from web.expert_client import ExpertClient, connect, expect_ok
from web.runtime import Runtime


async def _scene_in_review(runtime: Runtime):  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        scene = await evaluation_scene(session, services(runtime), experts=3, bidders=2)
        ev = await active_session(session, scene, services(runtime))
        criteria = await review_criteria(session, ev)
        factors = factors_of(ev)
    runtime.revocation = services(runtime).revocation
    return scene, ev.id, criteria, factors


def _of_type(client: ExpertClient, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in client.entries if e["type"] == kind]


async def test_each_viewer_sees_what_it_may(runtime: Runtime) -> None:
    scene, session_id, criteria, factors = await _scene_in_review(runtime)
    async with serving(runtime) as base:
        experts = [await connect(base, await token_of(runtime, hand.user.username), session_id)
                   for hand in scene.experts]
        chair, member = experts[0], experts[1]
        staff = await connect(base, await token_of(runtime, scene.staff.username), session_id)
        regulator = await connect(base, await token_of(runtime, scene.regulator.username), session_id)
        asked_bidder = await connect(base, await token_of(runtime, scene.bidders[0].user.username), session_id)
        other_bidder = await connect(base, await token_of(runtime, scene.bidders[1].user.username), session_id)

        # A clarification: only the bidder asked sees it, without who asked; its signed answer reaches the chair.
        expect_ok(await chair.ask_clarification(scene.bids[0].id, "Confirm the project manager's licence.", 60))  # type: ignore[arg-type]
        request = await asked_bidder.wait_for(events.CLARIFICATION_ASKED)
        assert "member_id" not in request["payload"] and "seat" not in request["payload"]
        assert "actor" not in request and "source" not in request
        bidder = scene.bidders[0]
        clarification_id = request["payload"]["clarification_id"]
        expect_ok(await asked_bidder.answer_clarification(clarification_id, "Licence No. 350-2020-0042, valid.",
                                                          bidder.signing.key, bidder.signing.cert))
        answered = await chair.wait_for(events.CLARIFICATION_ANSWERED)
        assert "350-2020-0042" in str(answered["payload"])

        # Everyone passes every bid: the server moves the session to detailed scoring.
        marks = {criterion: {"passed": True, "reason": None} for criterion in criteria}
        for client in experts:
            for bid in scene.bids:
                expect_ok(await client.review(bid.id, marks))  # type: ignore[arg-type]
        await regulator.wait_for(lambda e: e["type"] == events.STAGE_CHANGED
                                 and e["payload"].get("to") == "detailed_scoring")

        first_bid = scene.bids[0].id
        scores = {factor: str((points / 2).quantize(Decimal("0.01"))) for factor, points in factors.items()}
        expect_ok(await chair.score(first_bid, scores))  # type: ignore[arg-type]
        seen_by = {name: await client.wait_for(events.BID_SCORED)
                   for name, client in (("chair", chair), ("member", member), ("staff", staff),
                                        ("regulator", regulator))}
        assert seen_by["chair"]["payload"]["scores"] == seen_by["regulator"]["payload"]["scores"] == scores
        assert "scores" not in seen_by["member"]["payload"] and seen_by["member"]["payload"]["submitted"] is True
        assert "scores" not in seen_by["staff"]["payload"]
        assert set(seen_by["staff"]["actor"]) == {"roles"}

        for client in experts:
            for bid in scene.bids:
                expect_ok(await client.score(bid.id, scores))  # type: ignore[arg-type]
        concluded = await member.wait_for(events.SCORING_CONCLUDED)
        assert str(scores[next(iter(scores))]) in str(concluded["payload"])  # the committee's, once closed
        staff_concluded = await staff.wait_for(events.SCORING_CONCLUDED)
        assert str(scores[next(iter(scores))]) not in str(staff_concluded["payload"].get("scores", ""))
        for entry in staff.entries:  # no score or mark ever reaches staff
            assert "scores" not in entry["payload"] and "marks" not in entry["payload"]

        bidder_types = {e["type"] for e in asked_bidder.entries}
        assert bidder_types <= {events.CLARIFICATION_ASKED, events.CLARIFICATION_ANSWERED}
        assert other_bidder.entries == []
        for client in (*experts, staff, regulator, asked_bidder, other_bidder):
            await client.close()
    async with runtime.database.reader() as session:
        stage = await session.scalar(sa.select(EvaluationSession.stage).where(EvaluationSession.id == session_id))
    assert stage != "detailed_scoring"  # the server moved on by itself

"""Re-evaluation (复核 / 重新评审) after an objection to the candidate publicity is upheld:
the lot's finished session stays as it was, one new session opens for the withdrawn
result (the same experts unless staff name a new draw), its candidates replace the
withdrawn ones and a new publicity follows. Any other second session is refused, and so
is a re-evaluation without an upheld objection or while the lot is not in evaluation;
the project, award and both session streams replay to the tables."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.errors import Conflict, InvalidInput, RuleViolation
from evaluation import events
from evaluation.context import EvaluationServices
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.service import REEVALUATION_RULE, open_session
from evaluation.states import Stage
from identities import service as identities_service
from identities.models import User
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.evaluation.factories import (
    MAIN_VENUE,
    SECOND_VENUE,
    EvaluationScene,
    accept_all,
    act_as,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
    filled_draw,
    finished_session,
    members_of,
    review_all,
    score_all,
    seat_in,
    sign_all,
)
from tests.factories import PASSWORD
from trading import award
from trading.award_events import award_stream
from trading.award_models import (
    Award,
    AwardCandidate,
    AwardStatus,
    AwardWithdrawal,
    PublicityObjectionOutcome,
)
from trading.award_schemas import ObjectionReplyIn, PublicityObjectionIn
from trading.events import LOT_ADDED, PROJECT_CREATED, project_stream, row_snapshot
from trading.models import Lot
from trading.states import LotStatus
from web.runtime import build_registry

REASONS = "The committee applied the business factor to the first bid twice."
UPHOLD = ObjectionReplyIn(reply="Upheld: the lot is evaluated again.",
                          outcome=PublicityObjectionOutcome.UPHELD_EVALUATION, reasons=REASONS)


async def _scene(session, services: EvaluationServices, **options) -> EvaluationScene:  # type: ignore[no-untyped-def]
    """An evaluation scene whose project stream is begun as the project's creation begins it
    (the scene writes the trading rows directly), so the project stream replays too."""
    scene = await evaluation_scene(session, services, **options)
    stream = project_stream(scene.tender.project.id)
    await append(session, stream=stream, event_type=PROJECT_CREATED, actor=None,
                 payload={"project": row_snapshot(scene.tender.project)})
    await append(session, stream=stream, event_type=LOT_ADDED, actor=None,
                 payload={"row": row_snapshot(scene.tender.lot)})
    return scene


async def _in_publicity(session, scene: EvaluationScene, services: EvaluationServices):  # type: ignore[no-untyped-def]
    """The first session finished, its candidates published and objected to; the objection."""
    ev = await finished_session(session, scene, services)
    await award.publish_candidate_publicity(session, scene.tender.tenderer, scene.lot_id)
    objection = await award.raise_publicity_objection(session, scene.bidders[2].actor, scene.lot_id,
                                                      PublicityObjectionIn(text="The first bid was scored twice."))
    return ev, objection


async def _withdrawn(session, scene: EvaluationScene, services: EvaluationServices) -> EvaluationSession:  # type: ignore[no-untyped-def]
    """The first session's result withdrawn by an upheld objection: the lot is evaluating."""
    ev, objection = await _in_publicity(session, scene, services)
    await award.reply_publicity_objection(session, scene.tender.tenderer, objection.id, UPHOLD)
    return ev  # type: ignore[no-any-return]


async def _reevaluation(session, scene: EvaluationScene, services: EvaluationServices, previous_id: int,  # type: ignore[no-untyped-def]
                        **changes) -> EvaluationSession:
    return await open_session(session, scene.staff, scene.lot_id,
                              scene.open_data(**{"draw_id": None, "reevaluation_of": previous_id, **changes}), services)


async def _run_to_the_end(session, scene: EvaluationScene, services: EvaluationServices, session_id: int) -> None:  # type: ignore[no-untyped-def]
    """Every seated member signs in and declares, the first is chair, and every stage is
    done with everyone agreeing."""
    members = await members_of(session, session_id)
    for member in members:
        await seat_in(session, scene, services, session_id, scene.hand(member.expert_id))
    for member in members:
        await act_as(session, scene.hand(member.expert_id).actor, session_id, "vote_chair",
                     {"member_id": members[0].id}, services)
    await review_all(session, scene, services, session_id)
    ev = await session.get(EvaluationSession, session_id)
    await session.refresh(ev)
    if ev.stage == Stage.DETAILED_SCORING:  # type: ignore[union-attr]
        await score_all(session, scene, services, session_id)
    await accept_all(session, scene, services, session_id)
    await sign_all(session, scene, services, session_id)


async def _stored(session) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    async def count(model) -> int:  # type: ignore[no-untyped-def]
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

    return await count(LedgerEntry), await count(EvaluationSession), await count(CommitteeMember)


async def _opened_payload(session, session_id: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    leaf = await session.scalar(sa.select(LedgerEntry.leaf).where(
        LedgerEntry.stream == events.session_stream(session_id), LedgerEntry.type == events.SESSION_OPENED))
    return json.loads(leaf)["payload"]  # type: ignore[no-any-return]


async def _all_replay(database, scene: EvaluationScene, *session_ids: int) -> None:  # type: ignore[no-untyped-def]
    streams = [project_stream(scene.tender.project.id), award_stream(scene.lot_id),
               *(events.session_stream(session_id) for session_id in session_ids)]
    async with database.reader() as session:
        for stream in streams:
            check = await check_stream(session, build_registry(), stream)
            assert check.matches, (stream, check.replayed, check.stored)


async def test_the_same_committee_reevaluates_and_its_candidates_start_a_new_publicity(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await _scene(session, evaluation_services, experts=3)
        first = await _withdrawn(session, scene, evaluation_services)
        finished_at = first.finished_at
        first_members = [m.expert_id for m in await members_of(session, first.id)]  # type: ignore[arg-type]
        withdrawn = (await session.scalars(sa.select(AwardWithdrawal))).one().candidates
    async with database.transaction() as session:
        second = await _reevaluation(session, scene, evaluation_services, first.id)  # type: ignore[arg-type]
        withdrawal = (await session.scalars(sa.select(AwardWithdrawal))).one()
        opened = await _opened_payload(session, second.id)  # type: ignore[arg-type]
        second_members = [m.expert_id for m in await members_of(session, second.id)]  # type: ignore[arg-type]
    assert (second.evaluation_round, second.reevaluation_of, second.reevaluation_reason) == (2, first.id, REASONS)
    assert second.award_withdrawal_id == withdrawal.id and second.draw_id == first.draw_id
    assert second_members == first_members
    assert opened["evaluation_round"] == 2 and opened["reevaluation"] == {
        "of_session_id": first.id, "award_withdrawal_id": withdrawal.id, "objection_id": withdrawal.objection_id,
        "reason": REASONS, "same_draw": True}
    async with database.reader() as session:
        kept = await session.get(EvaluationSession, first.id)
        assert kept.stage == Stage.FINISHED and kept.finished_at == finished_at  # type: ignore[union-attr]
        assert kept.evaluation_round == 1 and kept.reevaluation_of is None  # type: ignore[union-attr]
    await _all_replay(database, scene, first.id, second.id)  # type: ignore[arg-type]

    async with database.transaction() as session:
        await _run_to_the_end(session, scene, evaluation_services, second.id)  # type: ignore[arg-type]
    async with database.transaction() as session:
        second = await session.get(EvaluationSession, second.id)
        row = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot_id))
        candidates = list(await session.scalars(sa.select(AwardCandidate).order_by(AwardCandidate.rank)))
        assert second.stage == Stage.FINISHED and row.status == AwardStatus.CANDIDATES  # type: ignore[union-attr]
        assert row.report_sha256 == second.signed_report_sha256  # type: ignore[union-attr]
        assert [(c.rank, c.bid_id) for c in candidates] == [(c["rank"], c["bid_id"]) for c in withdrawn]
        assert (await session.scalars(sa.select(AwardWithdrawal))).one().candidates == withdrawn  # history kept
        republished = await award.publish_candidate_publicity(session, scene.tender.tenderer, scene.lot_id)
        assert republished.status == AwardStatus.PUBLICITY
        assert (await session.get(Lot, scene.lot_id)).status == LotStatus.PUBLICITY  # type: ignore[union-attr]
    await _all_replay(database, scene, first.id, second.id)  # type: ignore[arg-type]


async def test_staff_may_ask_a_new_draw_for_the_reevaluation(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await _scene(session, evaluation_services, experts=3, spares=3)
        first = await _withdrawn(session, scene, evaluation_services)
        specialty = (await members_of(session, first.id))[0].specialty  # type: ignore[arg-type]
        draw = await filled_draw(session, scene.staff, scene.tender, 3, [b.party.uscc for b in scene.bidders],
                                 specialty)
    async with database.transaction() as session:
        second = await _reevaluation(session, scene, evaluation_services, first.id, draw_id=draw.id)  # type: ignore[arg-type]
        opened = await _opened_payload(session, second.id)  # type: ignore[arg-type]
        seated = {m.expert_id for m in await members_of(session, second.id)}  # type: ignore[arg-type]
        from tests.evaluation.factories import _accepted_ids

        assert seated == set(await _accepted_ids(session, draw.id))  # type: ignore[arg-type]
    assert second.draw_id == draw.id and opened["reevaluation"]["same_draw"] is False
    await _all_replay(database, scene, first.id, second.id)  # type: ignore[arg-type]


async def test_a_reevaluation_without_an_upheld_objection_is_refused_with_nothing_stored(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        first = await finished_session(session, scene, evaluation_services)  # candidates recorded, lot evaluating
    for attempt in ({"reevaluation_of": first.id}, {}):
        async with database.transaction() as session:
            before = await _stored(session)
            with pytest.raises((RuleViolation, Conflict)) as refused:
                await open_session(session, scene.staff, scene.lot_id, scene.open_data(**attempt), evaluation_services)
            assert await _stored(session) == before
        if attempt:
            assert isinstance(refused.value, RuleViolation) and refused.value.rule == REEVALUATION_RULE
            assert "no upheld objection" in refused.value.detail
        else:
            assert "already has evaluation session" in refused.value.detail


async def test_a_reevaluation_while_the_lot_is_not_in_evaluation_is_refused_with_nothing_stored(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        first, objection = await _in_publicity(session, scene, evaluation_services)
    async with database.transaction() as session:
        before = await _stored(session)
        with pytest.raises(Conflict, match="is publicity: a session opens for a lot in evaluation"):
            await _reevaluation(session, scene, evaluation_services, first.id)
        assert await _stored(session) == before
    async with database.transaction() as session:  # dismissed: the result stands, the lot stays in publicity
        await award.reply_publicity_objection(session, scene.tender.tenderer, objection.id,
                                              ObjectionReplyIn(reply="The scores were checked."))
    async with database.transaction() as session:
        with pytest.raises(Conflict, match="a session opens for a lot in evaluation"):
            await _reevaluation(session, scene, evaluation_services, first.id)


async def test_one_reevaluation_per_upheld_objection_naming_the_latest_finished_session(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        first = await _withdrawn(session, scene, evaluation_services)
    async with database.transaction() as session:
        with pytest.raises(InvalidInput) as refused:
            await _reevaluation(session, scene, evaluation_services, first.id + 1000)  # type: ignore[operator]
        assert refused.value.errors[0].pointer == "$.reevaluation_of"
    async with database.transaction() as session:
        second = await _reevaluation(session, scene, evaluation_services, first.id)  # type: ignore[arg-type]
    for attempt, refusal in (({"reevaluation_of": first.id}, InvalidInput), ({}, Conflict),
                             ({"reevaluation_of": second.id}, Conflict)):
        async with database.transaction() as session:
            before = await _stored(session)
            with pytest.raises(refusal) as refused:
                await open_session(session, scene.staff, scene.lot_id,
                                   scene.open_data(**{"draw_id": None, **attempt}) if attempt
                                   else scene.open_data(), evaluation_services)
            assert await _stored(session) == before
    assert f"session {second.id} of lot" in refused.value.detail and "only a finished evaluation" in \
        refused.value.detail


async def test_reevaluation_over_http(client, runtime, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with runtime.database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        first = await _withdrawn(session, scene, evaluation_services)
        staff = await session.get(User, scene.staff.user_id)
        _, token = await identities_service.sign_in(session, staff.username, PASSWORD,  # type: ignore[union-attr]
                                                    source_address="127.0.0.1", hours=1)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/lots/{scene.lot_id}/evaluation"
    venues = {"main_venue": MAIN_VENUE, "secondary_venues": [SECOND_VENUE]}
    missing = await client.post(url, json=venues, headers=headers)
    assert missing.status_code == 422 and [e["pointer"] for e in missing.json()["errors"]] == ["$.draw_id"]
    plain = await client.post(url, json={**venues, "draw_id": scene.draw_id}, headers=headers)
    assert plain.status_code == 409 and "already has evaluation session" in plain.json()["detail"]
    opened = await client.post(url, json={**venues, "reevaluation_of": first.id}, headers=headers)
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert (body["evaluation_round"], body["reevaluation_of"], body["reevaluation_reason"]) == (2, first.id, REASONS)


async def test_a_reevaluation_rejecting_every_bid_fails_the_lot_and_its_award(
        database, evaluation_services: EvaluationServices) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from tests.evaluation.factories import working_hands

    async with database.transaction() as session:
        scene = await _scene(session, evaluation_services, experts=3)
        first = await _withdrawn(session, scene, evaluation_services)
    async with database.transaction() as session:
        second = await _reevaluation(session, scene, evaluation_services, first.id)  # type: ignore[arg-type]
        members = await members_of(session, second.id)  # type: ignore[arg-type]
        for member in members:
            await seat_in(session, scene, evaluation_services, second.id, scene.hand(member.expert_id))  # type: ignore[arg-type]
        for member in members:
            await act_as(session, scene.hand(member.expert_id).actor, second.id, "vote_chair",  # type: ignore[arg-type]
                         {"member_id": members[0].id}, evaluation_services)
        criteria = second.settings["review_criteria"]
        for hand in await working_hands(session, scene, second.id):  # type: ignore[arg-type]
            for bid in scene.bids:
                marks = {criterion: {"passed": False, "reason": "the licence had expired"} for criterion in criteria}
                await act_as(session, hand.actor, second.id, "review", {"bid_id": bid.id, "marks": marks},  # type: ignore[arg-type]
                             evaluation_services)
        await accept_all(session, scene, evaluation_services, second.id)  # type: ignore[arg-type]
        await sign_all(session, scene, evaluation_services, second.id)  # type: ignore[arg-type]
    async with database.reader() as session:
        finished = await session.get(EvaluationSession, second.id)
        row = await session.scalar(sa.select(Award).where(Award.lot_id == scene.lot_id))
        lot = await session.get(Lot, scene.lot_id)
    assert finished.stage == Stage.FINISHED and lot.status == LotStatus.FAILED  # type: ignore[union-attr]
    assert row.status == AwardStatus.FAILED and row.report_sha256 == finished.signed_report_sha256  # type: ignore[union-attr]
    await _all_replay(database, scene, first.id, second.id)  # type: ignore[arg-type]

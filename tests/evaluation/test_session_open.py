"""Opening a lot's evaluation session: bids, committee, settings, and what is refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from evaluation import events
from evaluation.context import EvaluationServices
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession
from evaluation.states import MemberStatus, Stage
from supervision.ledger.models import LedgerEntry
from tests.evaluation.factories import (
    MAIN_VENUE,
    SECOND_VENUE,
    EvaluationScene,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
    opened_session,
)
from trading.opening_models import OpeningRow
from trading.states import LotStatus


async def stream_types(session, session_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return list(await session.scalars(sa.select(LedgerEntry.type).where(
        LedgerEntry.stream == events.session_stream(session_id)).order_by(LedgerEntry.seq)))


async def count(session, model) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(sa.select(sa.func.count()).select_from(model))  # type: ignore[no-any-return]


async def test_staff_open_a_session_with_the_opened_bids_and_the_revealed_committee(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=5, bidders=3)
        ev = await opened_session(session, scene, evaluation_services, clarification_minutes=45)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, ev.id)
        members = list(await session.scalars(sa.select(CommitteeMember).order_by(CommitteeMember.seat)))
        bids = list(await session.scalars(sa.select(EvaluatedBid).order_by(EvaluatedBid.id)))
        types = await stream_types(session, ev.id)
        leaves = [json.loads(leaf) for leaf in await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == events.session_stream(ev.id)).order_by(LedgerEntry.seq))]
    assert ev.stage == Stage.SIGN_IN and ev.method == "comprehensive_scoring"
    assert ev.parameters == scene.tender.lot.evaluation_parameters
    assert ev.settings["venues"] == [MAIN_VENUE, SECOND_VENUE] and ev.settings["clarification_minutes"] == 45
    assert ev.settings["review_criteria"], "the method's default criteria"
    assert [m.expert_id for m in members] == [h.expert_id for h in scene.experts]
    assert [m.seat for m in members] == [1, 2, 3, 4, 5] and {m.status for m in members} == {MemberStatus.SEATED}
    assert [m.user_id for m in members] == [h.user.id for h in scene.experts]
    assert [b.bid_id for b in bids] == [b.id for b in scene.bids]
    assert [b.corrected_price for b in bids] == [r.total_price for r in scene.rows]
    assert types == [events.SESSION_OPENED, events.STAFF_CHECKED_IN, events.COMMITTEE_REVEALED]
    assert leaves[1]["payload"] == {"session_id": ev.id, "user_id": scene.staff.user_id,  # the opener runs
                                    "username": scene.staff.username, "venue": MAIN_VENUE}  # the main venue
    written = json.dumps(leaves, ensure_ascii=False)
    assert not any(h.expert.id_number in written or h.expert.phone in written for h in scene.experts)


async def test_a_second_session_for_the_lot_is_refused(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        await opened_session(session, scene, evaluation_services)
    with pytest.raises(Conflict, match="already has evaluation session"):
        async with database.transaction() as session:
            await opened_session(session, scene, evaluation_services)
    async with database.reader() as session:
        assert await count(session, EvaluationSession) == 1


async def test_a_lot_not_in_evaluation_or_without_opened_bids_is_refused_with_nothing_stored(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        scene.tender.lot.status = LotStatus.BIDDING
        session.add(scene.tender.lot)
    with pytest.raises(Conflict, match="a session opens for a lot in evaluation"):
        async with database.transaction() as session:
            await opened_session(session, scene, evaluation_services)
    async with database.transaction() as session:
        await session.execute(sa.update(type(scene.tender.lot)).where(type(scene.tender.lot).id == scene.lot_id)
                              .values(status=LotStatus.EVALUATING))
        await session.execute(sa.update(OpeningRow).values(outcome="revoked"))
    with pytest.raises(Conflict, match="no opened bid"):
        async with database.transaction() as session:
            await opened_session(session, scene, evaluation_services)
    async with database.reader() as session:
        assert await count(session, EvaluationSession) == 0
        assert await count(session, CommitteeMember) == 0


async def test_bad_settings_are_refused_by_field(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from evaluation.service import open_session

    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
    bad = {"draw_id": scene.draw_id, "main_venue": MAIN_VENUE, "secondary_venues": [MAIN_VENUE],
           "abnormal_score_threshold": 12.5, "clarification_minutes": 1, "colour": "blue"}
    with pytest.raises(InvalidInput) as refused:
        async with database.transaction() as session:
            await open_session(session, scene.staff, scene.lot_id, bad, evaluation_services)
    pointers = {error.pointer for error in refused.value.errors}
    assert {"$.abnormal_score_threshold", "$.clarification_minutes", "$.colour"} <= pointers
    with pytest.raises(InvalidInput) as refused:
        async with database.transaction() as session:
            await opened_session(session, scene, evaluation_services, objective_factors=["colour"])
    assert refused.value.errors[0].pointer == "$.objective_factors"
    async with database.transaction() as session:
        ev = await opened_session(session, scene, evaluation_services, objective_factors=["technical"],
                                  abnormal_score_threshold="12.5")
    assert ev.settings["objective_factors"] == ["technical"]
    assert Decimal(ev.settings["abnormal_score_threshold"]) == Decimal("12.50")


async def test_only_centre_staff_open_and_unknown_lots_are_not_found(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from evaluation.service import open_session

    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
    with pytest.raises(PermissionDenied):
        async with database.transaction() as session:
            await open_session(session, scene.regulator, scene.lot_id, scene.open_data(), evaluation_services)
    with pytest.raises(NotFound):
        async with database.transaction() as session:
            await open_session(session, scene.staff, 999_999, scene.open_data(), evaluation_services)


# --- a committee drawn across venues (remote off-site evaluation) ------------------------------

XIAMEN = "350200"


async def venue_scene(session, services: EvaluationServices, *, main: int = 2, secondary: int = 2,  # type: ignore[no-untyped-def]
                      spares: int = 1) -> EvaluationScene:
    """A scene whose committee comes from a venue draw: ``main`` experts of Fuzhou (350100) at
    MAIN_VENUE and ``secondary`` of Xiamen at SECOND_VENUE, with ``spares`` more in each region
    for replacements. ``scene.experts`` are the accepted experts in call order."""
    from ca_interop.demo_pki import Usage
    from expert_pool import draws
    from expert_pool import service as pool_service
    from expert_pool.models import DrawCall
    from expert_pool.schemas import DrawRequest
    from tests.evaluation.factories import ExpertHand, answer_calls
    from tests.expert_pool.factories import admitted_expert
    from tests.factories import actor_of, make_user

    scene = await evaluation_scene(session, services, experts=1, spares=main + spares - 1)
    specialty = next(iter(scene.draw.quotas))
    in_xiamen = []
    for number in range(secondary + spares):
        expert = await admitted_expert(session, scene.expert_admin, specialties=[specialty], region_code=XIAMEN,
                                       name=f"Xiamen expert {number}")
        user = await make_user(session, Role.EXPERT)
        await pool_service.link_account(session, scene.expert_admin, expert.id, user.id)  # type: ignore[arg-type]
        signing = scene.ca.ca.issue(expert.name, usage=Usage.SIGNING, person_id=expert.id_number)
        in_xiamen.append(ExpertHand(user=user, actor=actor_of(user), expert=expert, signing=signing))
    hands = [*scene.experts, *scene.spares, *in_xiamen]
    draw = await draws.request_draw(session, scene.staff, DrawRequest.model_validate({
        "lot_reference": scene.tender.lot.code, "evaluation_at": scene.draw.evaluation_at, "region_rule": "venues",
        "main_venue": {"name": MAIN_VENUE, "region_code": "350100", "quotas": {specialty: main}},
        "secondary_venues": [{"name": SECOND_VENUE, "region_code": XIAMEN, "quotas": {specialty: secondary}}],
        "avoid_parties": [b.party.uscc for b in scene.bidders]}))
    await answer_calls(session, draw.id)  # type: ignore[arg-type]
    accepted = list(await session.scalars(sa.select(DrawCall.expert_id).where(
        DrawCall.draw_id == draw.id, DrawCall.answer == "accepted").order_by(DrawCall.position)))
    scene.draw = draw
    scene.spares = [h for h in hands if h.expert_id not in accepted]
    scene.experts = [next(h for h in hands if h.expert_id == expert_id) for expert_id in accepted]
    return scene


async def test_a_session_of_a_venue_draw_has_exactly_the_draws_venues(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await venue_scene(session, evaluation_services)
    wrong = [({"main_venue": SECOND_VENUE, "secondary_venues": [MAIN_VENUE]}, ["$.main_venue", MAIN_VENUE]),
             ({"secondary_venues": []}, ["$.secondary_venues", "missing", SECOND_VENUE]),
             ({"secondary_venues": [SECOND_VENUE, "Quanzhou branch"]}, ["not venues of the draw", "Quanzhou"])]
    for changes, words in wrong:
        with pytest.raises(InvalidInput) as refused:
            async with database.transaction() as session:
                await opened_session(session, scene, evaluation_services, **changes)
        text = refused.value.detail + " ".join(f"{e.pointer} {e.message}" for e in refused.value.errors)
        assert f"draw {scene.draw_id}" in text and all(word in text for word in words), text
    async with database.reader() as session:
        assert await count(session, EvaluationSession) == 0
    async with database.transaction() as session:
        ev = await opened_session(session, scene, evaluation_services)
        members = list(await session.scalars(sa.select(CommitteeMember).order_by(CommitteeMember.seat)))
    assert ev.settings["venues"] == [MAIN_VENUE, SECOND_VENUE]
    assert [m.expert_id for m in members] == [h.expert_id for h in scene.experts]


async def test_a_session_of_a_single_venue_draw_takes_any_venues(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await opened_session(session, scene, evaluation_services, main_venue="Putian room 1",
                                  secondary_venues=["Ningde room 2", SECOND_VENUE])
    assert ev.settings["venues"] == ["Putian room 1", "Ningde room 2", SECOND_VENUE]

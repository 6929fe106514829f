"""Who may follow a session and what each one sees of it: live entries, the session's
state, the report and the bid packages."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from core.errors import Conflict, NotFound, PermissionDenied
from evaluation import events, service, views
from evaluation.channel import join
from evaluation.context import EvaluationServices
from evaluation.states import MemberStatus
from supervision.ledger.models import LedgerEntry
from tests.evaluation.factories import (
    EvaluationScene,
    act_as,
    active_session,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
    finished_session,
    member_of,
    opened_session,
)
from tests.factories import actor_of, make_user
from tests.trading.factories import make_bidder

PRIVATE_WORK = ("marks", "scores", "ranking", "name", "expert_code")


async def entries(session, session_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(leaf) for leaf in await session.scalars(sa.select(LedgerEntry.leaf).where(
        LedgerEntry.stream == events.session_stream(session_id)).order_by(LedgerEntry.seq))]


async def finished(database: Database, services: EvaluationServices) -> tuple[EvaluationScene, int, list[dict]]:
    async with database.transaction() as session:
        scene = await evaluation_scene(session, services, experts=3)
        ev = await finished_session(session, scene, services)
    async with database.reader() as session:
        return scene, ev.id, await entries(session, ev.id)  # type: ignore[arg-type]


async def test_who_may_follow_a_session(database: Database,
                                        evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await opened_session(session, scene, evaluation_services)
        outsider = actor_of(await make_user(session, Role.EXPERT))
        elsewhere = (await make_bidder(session, scene.ca, "Elsewhere Co., Ltd.")).actor
        tenderer = scene.tender.tenderer
        member = await member_of(session, ev.id, scene.experts[0])  # type: ignore[arg-type]
    async with database.reader() as session:
        assert (await join(session, scene.regulator, ev.id)).kind == views.OVERSIGHT
        assert (await join(session, scene.staff, ev.id)).kind == views.STAFF
        seen = await join(session, scene.experts[0].actor, ev.id)
        assert (seen.kind, seen.member_id) == (views.MEMBER, member.id)
        bidder = await join(session, scene.bidders[0].actor, ev.id)
        assert (bidder.kind, bidder.party_id) == (views.BIDDER, scene.bidders[0].party.id)
        with pytest.raises(PermissionDenied, match="not a member of the committee"):
            await join(session, outsider, ev.id)
        with pytest.raises(PermissionDenied, match="evaluates another lot"):
            await join(session, elsewhere, ev.id)
        with pytest.raises(PermissionDenied, match="reserved to"):
            await join(session, tenderer, ev.id)
        with pytest.raises(NotFound):
            await join(session, scene.regulator, 999_999)
    async with database.transaction() as session:
        await act_as(session, scene.experts[0].actor, ev.id, "recuse", {"reason": "conflict"},  # type: ignore[arg-type]
                     evaluation_services)
    async with database.reader() as session:
        with pytest.raises(PermissionDenied, match="not a member"):
            await join(session, scene.experts[0].actor, ev.id)


async def test_each_viewer_sees_its_share_of_the_entries(database: Database,
                                                         evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id, stream = await finished(database, evaluation_services)
    async with database.reader() as session:
        me = await join(session, scene.experts[0].actor, session_id)
        staff = await join(session, scene.staff, session_id)
        regulator = await join(session, scene.regulator, session_id)
        bidder = await join(session, scene.bidders[0].actor, session_id)
    assert [regulator.visible(e) for e in stream] == stream

    mine = [me.visible(e) for e in stream]
    assert all(e is not None and "source" not in e for e in mine)
    scored = [e for e in mine if e["type"] == events.BID_SCORED]  # type: ignore[index]
    own = [e for e in scored if e["payload"]["member_id"] == me.member_id]
    others = [e for e in scored if e["payload"]["member_id"] != me.member_id]
    assert own and all("scores" in e["payload"] for e in own)
    assert others and all(e["payload"] == {"session_id": session_id, "member_id": e["payload"]["member_id"],
                                           "seat": e["payload"]["seat"], "bid_id": e["payload"]["bid_id"],
                                           "submitted": True} for e in others)
    concluded = next(e for e in mine if e["type"] == events.SCORING_CONCLUDED)  # type: ignore[index]
    assert len(concluded["payload"]["scores"]) == 3 * 3 * 2  # the committee's, once all have scored

    for_staff = [staff.visible(e) for e in stream]
    shown = json.dumps(for_staff, ensure_ascii=False)
    assert not any(f'"{key}"' in shown for key in PRIVATE_WORK)
    assert not any(hand.expert.name in shown for hand in scene.experts)
    assert all(set(e["actor"] or {}) <= {"roles"} and "source" not in e for e in for_staff)  # type: ignore[index]
    progress = [e["payload"] for e in for_staff if e["type"] == events.BID_REVIEWED]  # type: ignore[index]
    assert len(progress) == 9 and all(p["submitted"] for p in progress)
    stages = [e["payload"]["to"] for e in for_staff if e["type"] == events.STAGE_CHANGED]  # type: ignore[index]
    assert stages[-1] == "finished"
    signed_in = [e["payload"] for e in for_staff if e["type"] == events.MEMBER_SIGNED_IN]  # type: ignore[index]
    assert all(set(p) == {"session_id", "member_id", "seat", "venue"} for p in signed_in)

    assert [bidder.visible(e) for e in stream] == [None] * len(stream)


async def test_a_bidder_sees_only_its_own_clarifications_and_not_who_asked(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await active_session(session, scene, evaluation_services)
        await act_as(session, scene.experts[0].actor, ev.id, "ask_clarification",  # type: ignore[arg-type]
                     {"bid_id": scene.bids[0].id, "question": "Explain the unit price of item 3.", "minutes": 60},
                     evaluation_services)
    async with database.reader() as session:
        stream = await entries(session, ev.id)  # type: ignore[arg-type]
        asked = await join(session, scene.bidders[0].actor, ev.id)
        other = await join(session, scene.bidders[1].actor, ev.id)
        mine = await service.my_clarifications(session, scene.bidders[0].actor)
        state = await service.session_view(session, scene.bidders[0].actor, ev.id)
    seen = [e for e in map(asked.visible, stream) if e is not None]
    assert [e["type"] for e in seen] == [events.CLARIFICATION_ASKED]
    assert seen[0]["payload"]["question"] == "Explain the unit price of item 3."
    assert not {"member_id", "seat"} & set(seen[0]["payload"]) and not {"actor", "source"} & set(seen[0])
    assert [other.visible(e) for e in stream] == [None] * len(stream)
    assert [c["question"] for c in mine] == ["Explain the unit price of item 3."]
    assert set(state) >= {"stage", "clarifications"} and "members" not in state


async def test_the_session_state_for_each_viewer(database: Database,
                                                 evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await active_session(session, scene, evaluation_services)
    async with database.reader() as session:
        for_staff = await service.session_view(session, scene.staff, ev.id)
        for_member = await service.session_view(session, scene.experts[1].actor, ev.id)
        for_regulator = await service.session_view(session, scene.regulator, ev.id)
    assert for_staff["stage"] == "preliminary_review" and for_staff["chair_seat"] == 1
    assert not any(h.expert.name in json.dumps(for_staff, default=str) for h in scene.experts)
    assert {m["status"] for m in for_staff["members"]} == {MemberStatus.ACTIVE}
    assert [m["name"] for m in for_member["members"]] == [h.expert.name for h in scene.experts]
    assert "results" not in for_member and for_regulator["results"] is None
    assert len(for_member["bids"]) == 3


async def test_bid_packages_and_the_report_reach_only_who_may_read_them(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await opened_session(session, scene, evaluation_services)
        session_id: int = ev.id  # type: ignore[assignment]
    bid_id, package = scene.bids[0].id, scene.rows[0].package_sha256
    async with database.reader() as session:
        assert await service.read_bid_package(session, scene.regulator, session_id, bid_id) == package
        with pytest.raises(PermissionDenied, match="active members"):  # seated, not yet active
            await service.read_bid_package(session, scene.experts[0].actor, session_id, bid_id)
        with pytest.raises(PermissionDenied):
            await service.read_bid_package(session, scene.staff, session_id, bid_id)
        with pytest.raises(NotFound):
            await service.read_bid_package(session, scene.regulator, session_id, 999_999)
        with pytest.raises(NotFound, match="no report yet"):
            await service.read_report(session, scene.regulator, session_id, evaluation_services.blobs)
        with pytest.raises(PermissionDenied):
            await service.read_report(session, scene.bidders[0].actor, session_id, evaluation_services.blobs)


async def test_the_report_after_the_session(database: Database,
                                            evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id, _ = await finished(database, evaluation_services)
    blobs = evaluation_services.blobs
    async with database.reader() as session:
        report = await service.read_report(session, scene.experts[0].actor, session_id, blobs)
        assert report[:2] == b"PK"  # a .docx
        assert await service.read_report(session, scene.tender.tenderer, session_id, blobs) == report
        bundle = await service.read_signed_report(session, scene.regulator, session_id, blobs)
        assert bundle and bundle != report
        assert await service.read_bid_package(session, scene.experts[1].actor, session_id,
                                              scene.bids[1].id) == scene.rows[1].package_sha256
        with pytest.raises(PermissionDenied):
            await service.read_signed_report(session, scene.spares[0].actor, session_id, blobs)


async def test_the_project_side_waits_for_the_end(database: Database,
                                                  evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await active_session(session, scene, evaluation_services)
    async with database.reader() as session:
        with pytest.raises(Conflict, match="once the evaluation is finished"):
            await service.read_report(session, scene.tender.tenderer, ev.id, evaluation_services.blobs)
        with pytest.raises(Conflict, match="report signing"):
            await service.read_report(session, scene.experts[0].actor, ev.id, evaluation_services.blobs)


def assert_one_version_per_audience(viewers: list, stream: list[dict]) -> int:  # type: ignore[type-arg]
    """Viewers of one audience see the same of every entry (the live channel encodes an
    entry once per audience); returns the most audiences any entry had."""
    most = 0
    for entry in stream:
        shown_by_audience: dict = {}  # type: ignore[type-arg]
        for viewer in viewers:
            shown = viewer.visible(entry)
            audience = viewer.audience(entry)
            if audience in shown_by_audience:
                assert shown_by_audience[audience] == shown, (entry["type"], audience)
            shown_by_audience[audience] = shown
        most = max(most, len(shown_by_audience))
    return most


async def test_viewers_of_one_audience_see_the_same_of_every_entry(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id, stream = await finished(database, evaluation_services)
    async with database.reader() as session:
        experts = [await join(session, hand.actor, session_id) for hand in scene.experts]
        others = [await join(session, actor, session_id)
                  for actor in (scene.staff, scene.regulator, scene.bidders[0].actor, scene.bidders[1].actor)]
    assert assert_one_version_per_audience(experts + others, stream) <= 5
    scored = next(e for e in stream if e["type"] == events.BID_SCORED)
    author = next(v for v in experts if v.member_id == scored["payload"]["member_id"])
    another = next(v for v in experts if v.member_id != scored["payload"]["member_id"])
    assert author.audience(scored) != another.audience(scored)  # own work in full, another's as progress
    assert author.visible(scored) != another.visible(scored)
    stage = next(e for e in stream if e["type"] == events.STAGE_CHANGED)
    assert author.audience(stage) == another.audience(stage)


async def test_bidders_are_one_audience_only_for_what_none_of_them_sees(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await active_session(session, scene, evaluation_services)
        await act_as(session, scene.experts[0].actor, ev.id, "ask_clarification",  # type: ignore[arg-type]
                     {"bid_id": scene.bids[0].id, "question": "Explain the unit price of item 3.", "minutes": 60},
                     evaluation_services)
    async with database.reader() as session:
        stream = await entries(session, ev.id)  # type: ignore[arg-type]
        bidders = [await join(session, hand.actor, ev.id) for hand in scene.bidders[:2]]  # type: ignore[arg-type]
        oversight = await join(session, scene.regulator, ev.id)  # type: ignore[arg-type]
    assert_one_version_per_audience([*bidders, oversight], stream)
    asked = next(e for e in stream if e["type"] == events.CLARIFICATION_ASKED)
    assert bidders[0].audience(asked) != bidders[1].audience(asked)
    assert bidders[0].visible(asked) is not None and bidders[1].visible(asked) is None

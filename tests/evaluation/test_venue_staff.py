"""Centre staff on duty at the venues of a session: the opener runs the main venue, others
check in at one venue each, and an expert's identity is confirmed only by staff on duty
where the expert signed in. Every refusal leaves the session, its stream and its venue
staff as they were; replay rebuilds who is on duty where."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.actors import Actor, Role
from core.database import Database
from core.errors import BidhallError, Conflict, InvalidInput, PermissionDenied
from evaluation import events, views
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import CommitteeMember, EvaluationVenueStaff
from evaluation.replay import apply_session
from evaluation.states import MemberStatus, Stage
from supervision import live
from supervision.replay import check_stream
from tests.evaluation.factories import (
    MAIN_VENUE,
    SECOND_VENUE,
    ExpertHand,
    act_as,
    evaluation_services,  # noqa: F401  (fixture)
    member_of,
    sign_in_signature,
)
from tests.evaluation.test_session_members import opened, snapshot
from tests.factories import actor_of, make_user
from tests.web.cli_runner import output
from web.runtime import build_registry


async def on_duty(database: Database, session_id: int) -> dict[int, str]:
    async with database.reader() as session:
        rows = await session.scalars(sa.select(EvaluationVenueStaff).where(
            EvaluationVenueStaff.session_id == session_id))
        return {row.user_id: row.venue for row in rows}


async def refused(database: Database, services: EvaluationServices, session_id: int, actor: Actor, kind: str,
                  fields: dict[str, Any], error: type[BidhallError], match: str) -> BidhallError:
    """The message is refused with ``error``; the session and its venue staff are as before."""
    before = await snapshot(database, session_id), await on_duty(database, session_id)
    with pytest.raises(error, match=match) as caught:
        async with database.transaction() as session:
            await act_as(session, actor, session_id, kind, fields, services)
    assert (await snapshot(database, session_id), await on_duty(database, session_id)) == before
    return caught.value


async def new_staff(database: Database) -> Actor:
    async with database.transaction() as session:
        return actor_of(await make_user(session, Role.CENTER_STAFF))


async def signed_in(database: Database, services: EvaluationServices, session_id: int, hand: ExpertHand,
                    venue: str) -> CommitteeMember:
    async with database.transaction() as session:
        await act_as(session, hand.actor, session_id, "sign_in",
                     {"venue": venue, "signature": sign_in_signature(hand, session_id, venue)}, services)
        return await member_of(session, session_id, hand)


async def act(database: Database, services: EvaluationServices, session_id: int, actor: Actor, kind: str,
              fields: dict[str, Any]) -> dict[str, Any]:
    async with database.transaction() as session:
        return await act_as(session, actor, session_id, kind, fields, services)


async def confirmed_by(database: Database, member_id: int | None) -> tuple[str, int | None]:
    async with database.reader() as session:
        member = await session.get(CommitteeMember, member_id)
        assert member is not None
        return member.status, member.identity_confirmed_by


async def test_the_opener_confirms_the_experts_of_the_main_venue(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    assert await on_duty(database, session_id) == {scene.staff.user_id: MAIN_VENUE}
    member = await signed_in(database, evaluation_services, session_id, scene.experts[0], MAIN_VENUE)
    result = await act(database, evaluation_services, session_id, scene.staff, "confirm_identity",
                       {"member_id": member.id})
    assert result["status"] == MemberStatus.CONFIRMED
    assert await confirmed_by(database, member.id) == (MemberStatus.CONFIRMED, scene.staff.user_id)


async def test_a_secondary_venue_expert_is_confirmed_only_by_staff_on_duty_there(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    in_xiamen = await signed_in(database, evaluation_services, session_id, scene.experts[0], SECOND_VENUE)
    in_fuzhou = await signed_in(database, evaluation_services, session_id, scene.experts[1], MAIN_VENUE)
    await refused(database, evaluation_services, session_id, scene.staff, "confirm_identity",
                  {"member_id": in_xiamen.id}, PermissionDenied,
                  f"you are on duty at '{MAIN_VENUE}'; seat {in_xiamen.seat} signed in at '{SECOND_VENUE}': "
                  f"staff on duty at '{SECOND_VENUE}' confirm")
    xiamen_staff = await new_staff(database)
    await refused(database, evaluation_services, session_id, xiamen_staff, "confirm_identity",
                  {"member_id": in_xiamen.id}, PermissionDenied, f"not on duty .* check in at '{SECOND_VENUE}'")
    checked_in = await act(database, evaluation_services, session_id, xiamen_staff, "staff_check_in",
                           {"venue": SECOND_VENUE})
    assert checked_in == {"user_id": xiamen_staff.user_id, "venue": SECOND_VENUE, "already_on_duty": False}
    await refused(database, evaluation_services, session_id, xiamen_staff, "confirm_identity",
                  {"member_id": in_fuzhou.id}, PermissionDenied, f"you are on duty at '{SECOND_VENUE}'")
    await act(database, evaluation_services, session_id, xiamen_staff, "confirm_identity",
              {"member_id": in_xiamen.id})
    assert await confirmed_by(database, in_xiamen.id) == (MemberStatus.CONFIRMED, xiamen_staff.user_id)
    await act(database, evaluation_services, session_id, scene.staff, "confirm_identity", {"member_id": in_fuzhou.id})
    assert await confirmed_by(database, in_fuzhou.id) == (MemberStatus.CONFIRMED, scene.staff.user_id)


async def test_checking_in_is_at_one_venue_of_the_session_for_centre_staff_only(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    staff = await new_staff(database)
    error = await refused(database, evaluation_services, session_id, staff, "staff_check_in",
                          {"venue": "Quanzhou branch, room 4"}, InvalidInput,
                          "'Quanzhou branch, room 4' is not a venue of this session")
    assert error.errors[0].pointer == "$.venue"  # type: ignore[attr-defined]
    for fields in ({}, {"venue": "  "}, {"venue": SECOND_VENUE, "extra": 1}):
        await refused(database, evaluation_services, session_id, staff, "staff_check_in", fields, InvalidInput,
                      "venue|extra")
    await refused(database, evaluation_services, session_id, scene.staff, "staff_check_in", {"venue": SECOND_VENUE},
                  Conflict, f"you are on duty at '{MAIN_VENUE}' .* not also at '{SECOND_VENUE}'")
    await act(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": SECOND_VENUE})
    await refused(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": MAIN_VENUE},
                  Conflict, "one venue per session")
    # the same venue again is answered as it stands, and records nothing
    before = await snapshot(database, session_id)
    again = await act(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": SECOND_VENUE})
    assert again == {"user_id": staff.user_id, "venue": SECOND_VENUE, "already_on_duty": True}
    assert await snapshot(database, session_id) == before
    assert await on_duty(database, session_id) == {scene.staff.user_id: MAIN_VENUE, staff.user_id: SECOND_VENUE}
    await refused(database, evaluation_services, session_id, scene.experts[0].actor, "staff_check_in",
                  {"venue": MAIN_VENUE}, PermissionDenied, "for centre staff")
    await refused(database, evaluation_services, session_id, scene.bidders[0].actor, "staff_check_in",
                  {"venue": MAIN_VENUE}, PermissionDenied, "for centre staff")
    await refused(database, evaluation_services, session_id, scene.regulator, "staff_check_in",
                  {"venue": MAIN_VENUE}, PermissionDenied, "reserved to")


async def test_nobody_checks_in_once_the_session_is_over(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3, spares=0)
    await act(database, evaluation_services, session_id, scene.experts[0].actor, "recuse",
              {"reason": "a relative bids"})  # nobody is left to replace them: suspended
    staff = await new_staff(database)
    await refused(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": SECOND_VENUE},
                  WrongStage, f"running; the session is {Stage.SUSPENDED}")


async def test_replay_rebuilds_who_is_on_duty_where(
        database: Database, evaluation_services: EvaluationServices, bidhall) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    staff = await new_staff(database)
    await act(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": SECOND_VENUE})
    stream = events.session_stream(session_id)
    async with database.reader() as session:
        check = await check_stream(session, build_registry(), stream)
    assert check.matches, (check.replayed, check.stored)
    assert check.replayed["venue_staff"] == {str(scene.staff.user_id): MAIN_VENUE, str(staff.user_id): SECOND_VENUE}
    assert output(bidhall("replay", stream, "--check"))["matches"] is True
    async with database.transaction() as session:  # a row moved behind the ledger's back shows
        await session.execute(sa.update(EvaluationVenueStaff).where(EvaluationVenueStaff.user_id == staff.user_id)
                              .values(venue=MAIN_VENUE))
    async with database.reader() as session:
        assert not (await check_stream(session, build_registry(), stream)).matches


def test_a_stream_from_before_venue_staff_replays_with_nobody_on_duty() -> None:
    state = apply_session(None, {"type": events.SESSION_OPENED, "payload": {"method": "lowest_price", "bids": []}})
    state = apply_session(state, {"type": events.COMMITTEE_REVEALED, "payload": {"members": [
        {"member_id": 1, "seat": 1}]}})
    assert state is not None and state["venue_staff"] == {}


async def test_staff_and_members_see_who_is_on_duty_and_bidders_do_not(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    entries = await live.read_entries(database, events.session_stream(session_id), 0)
    entry = next(e for e in entries if e["type"] == events.STAFF_CHECKED_IN)
    expected = {"session_id": session_id, "user_id": scene.staff.user_id, "username": scene.staff.username,
                "venue": MAIN_VENUE}
    assert entry["payload"] == expected
    assert views.visible(views.OVERSIGHT, entry) == entry
    for kind in (views.STAFF, views.MEMBER):
        shown = views.visible(kind, entry, member_id=1)
        assert shown is not None and shown["payload"] == expected and "source" not in shown
    assert views.visible(views.STAFF, entry)["actor"] == {"roles": [Role.CENTER_STAFF]}  # type: ignore[index]
    assert views.visible(views.BIDDER, entry, party_id=scene.bidders[0].party.id) is None


async def test_the_session_view_says_who_is_on_duty_where(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from evaluation.service import session_view

    scene, session_id = await opened(database, evaluation_services, experts=3)
    staff = await new_staff(database)
    await act(database, evaluation_services, session_id, staff, "staff_check_in", {"venue": SECOND_VENUE})
    async with database.reader() as session:
        seen_by_staff = await session_view(session, staff, session_id)
        seen_by_regulator = await session_view(session, scene.regulator, session_id)
        seen_by_bidder = await session_view(session, scene.bidders[0].actor, session_id)
    expected = [{"user_id": scene.staff.user_id, "username": scene.staff.username, "venue": MAIN_VENUE},
                {"user_id": staff.user_id, "username": staff.username, "venue": SECOND_VENUE}]
    assert seen_by_staff["venue_staff"] == expected and seen_by_regulator["venue_staff"] == expected
    assert "venue_staff" not in seen_by_bidder

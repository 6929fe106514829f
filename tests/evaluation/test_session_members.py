"""Forming the committee at the session: sign-in with one's own certificate, identity
confirmed by staff, no-conflict declarations, recusal and replacement, the chair's
election, and every refusal leaving the session as it was."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ca_interop.demo_pki import DemoCA
from core.actors import Actor, Role
from core.database import Database
from core.errors import BidhallError, Conflict, InvalidInput, NotFound, PermissionDenied
from evaluation import events
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.states import MemberStatus, Stage
from supervision.ledger.models import LedgerEntry
from tests.evaluation.factories import (
    MAIN_VENUE,
    SECOND_VENUE,
    EvaluationScene,
    ExpertHand,
    act_as,
    active_session,
    answer_calls,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
    member_of,
    members_of,
    opened_session,
    seat_in,
    sign_in_signature,
)
from tests.factories import actor_of, make_user
from tests.trading.factories import make_bidder


async def stream(session, session_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return list(await session.scalars(sa.select(LedgerEntry.type).where(
        LedgerEntry.stream == events.session_stream(session_id)).order_by(LedgerEntry.seq)))


async def snapshot(database: Database, session_id: int) -> tuple[Any, ...]:
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        seats = [(m.id, m.status, m.venue, m.chair_vote) for m in await members_of(session, session_id)]
        return ev.stage, ev.chair_member_id, seats, await stream(session, session_id)  # type: ignore[union-attr]


async def refused(database: Database, services: EvaluationServices, session_id: int, actor: Actor, kind: str,
                  fields: dict[str, Any], error: type[BidhallError], match: str) -> BidhallError:
    """The message is refused with ``error`` and the session is exactly as before."""
    before = await snapshot(database, session_id)
    with pytest.raises(error, match=match) as caught:
        async with database.transaction() as session:
            await act_as(session, actor, session_id, kind, fields, services)
    assert await snapshot(database, session_id) == before
    return caught.value


async def opened(database: Database, services: EvaluationServices, **options: Any) -> tuple[EvaluationScene, int]:
    async with database.transaction() as session:
        scene = await evaluation_scene(session, services, **options)
        ev = await opened_session(session, scene, services)
    return scene, ev.id  # type: ignore[return-value]


async def test_the_committee_signs_in_declares_and_elects_a_chair(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await active_session(session, scene, evaluation_services, chair=1)
    async with database.reader() as session:
        seats = await members_of(session, ev.id)  # type: ignore[arg-type]
        types = await stream(session, ev.id)  # type: ignore[arg-type]
    assert ev.stage == Stage.PRELIMINARY_REVIEW
    assert ev.chair_member_id == seats[1].id
    assert {m.status for m in seats} == {MemberStatus.ACTIVE}
    assert all(m.venue == MAIN_VENUE and m.cert_fingerprint and m.identity_confirmed_by == scene.staff.user_id
               for m in seats)
    assert types[:6] == [events.SESSION_OPENED, events.STAFF_CHECKED_IN, events.COMMITTEE_REVEALED,
                         events.MEMBER_SIGNED_IN, events.IDENTITY_CONFIRMED, events.CONFLICT_DECLARED]
    changes = [t for t in types if t in (events.STAGE_CHANGED, events.CHAIR_ELECTED)]
    assert changes == [events.STAGE_CHANGED, events.CHAIR_ELECTED, events.STAGE_CHANGED]


async def test_an_expert_acting_for_another_is_refused(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    me, other = scene.experts[0], scene.experts[1]
    # my account, the other expert's certificate (a borrowed USB key)
    borrowed = sign_in_signature(other, session_id, MAIN_VENUE)
    impostor = ExpertHand(user=me.user, actor=me.actor, expert=me.expert, signing=other.signing)
    signature = sign_in_signature(impostor, session_id, MAIN_VENUE)
    await refused(database, evaluation_services, session_id, me.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": signature}, PermissionDenied, "not .*'s: an expert signs only")
    # the other expert's own signature, replayed from my account, is over another statement
    await refused(database, evaluation_services, session_id, me.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": borrowed}, InvalidInput, "does not verify")


async def test_bad_sign_ins_are_refused_with_nothing_stored(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    hand = scene.experts[0]
    elsewhere = sign_in_signature(hand, session_id, "A café")
    error = await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                          {"venue": "A café", "signature": elsewhere}, InvalidInput, "not a venue of this session")
    assert error.errors[0].pointer == "$.venue"  # type: ignore[attr-defined]
    other_venue = sign_in_signature(hand, session_id, SECOND_VENUE)
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": other_venue}, InvalidInput, "does not verify")
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": "not base64!"}, InvalidInput, "not base64")
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": MAIN_VENUE}, InvalidInput, "signature")
    rogue = DemoCA.create("Rogue CA", "ecdsa").issue(hand.expert.name, person_id=hand.expert.id_number)
    forged = sign_in_signature(ExpertHand(hand.user, hand.actor, hand.expert, rogue), session_id, MAIN_VENUE)
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": forged}, InvalidInput, "certificate is not accepted")
    # another certificate of a trusted CA naming the expert's ID number is the expert's own
    second_key = scene.ca.ca.issue("W. Wei", person_id=hand.expert.id_number)
    own = sign_in_signature(ExpertHand(hand.user, hand.actor, hand.expert, second_key), session_id, SECOND_VENUE)
    async with database.transaction() as session:
        result = await act_as(session, hand.actor, session_id, "sign_in", {"venue": SECOND_VENUE, "signature": own},
                              evaluation_services)
    assert result["status"] == MemberStatus.SIGNED_IN and result["venue"] == SECOND_VENUE
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": SECOND_VENUE, "signature": own}, Conflict, "signing in needs a member who is seated")


async def test_strangers_are_refused_whatever_they_send(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    async with database.transaction() as session:
        outsider = actor_of(await make_user(session, Role.EXPERT))
        other_lot_bidder = (await make_bidder(session, scene.ca, "Elsewhere Co., Ltd.")).actor
    spare = scene.spares[0]
    signature = sign_in_signature(spare, session_id, MAIN_VENUE)
    await refused(database, evaluation_services, session_id, spare.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": signature}, PermissionDenied, "not a member")
    await refused(database, evaluation_services, session_id, outsider, "declare", {}, PermissionDenied,
                  "not a member")
    await refused(database, evaluation_services, session_id, other_lot_bidder, "answer_clarification",
                  {"clarification_id": 1, "answer": "x", "signature": "eA=="}, PermissionDenied, "another lot")
    await refused(database, evaluation_services, session_id, scene.regulator, "declare", {}, PermissionDenied,
                  "reserved to")
    with pytest.raises(NotFound):
        async with database.transaction() as session:
            await act_as(session, scene.experts[0].actor, 999_999, "declare", {}, evaluation_services)


async def test_messages_for_the_wrong_stage_or_of_unknown_kinds_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3)
    first = scene.experts[0]
    async with database.reader() as session:
        member = await member_of(session, session_id, first)
    await refused(database, evaluation_services, session_id, first.actor, "vote_chair",
                  {"member_id": member.id}, WrongStage, "belongs to the chair_election stage; the session is in sign_in")
    await refused(database, evaluation_services, session_id, first.actor, "score",
                  {"bid_id": scene.bids[0].id, "scores": {"technical": "30"}}, WrongStage, "detailed_scoring")
    error = await refused(database, evaluation_services, session_id, first.actor, "shout", {}, InvalidInput,
                          "unknown message type 'shout'")
    assert "sign_in" in error.detail
    await refused(database, evaluation_services, session_id, first.actor, "declare", {}, Conflict,
                  "needs a member who is confirmed")
    await refused(database, evaluation_services, session_id, first.actor, "declare", {"extra": 1}, InvalidInput,
                  "unknown field")
    await refused(database, evaluation_services, session_id, scene.staff, "confirm_identity",
                  {"member_id": member.id}, Conflict, "after the expert signs in")
    await refused(database, evaluation_services, session_id, first.actor, "confirm_identity",
                  {"member_id": member.id}, PermissionDenied, "centre staff")
    async with database.transaction() as session:  # the committee reaches the chair election
        for hand in scene.experts:
            await seat_in(session, scene, evaluation_services, session_id, hand)
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.CHAIR_ELECTION  # type: ignore[union-attr]
    await refused(database, evaluation_services, session_id, first.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": sign_in_signature(first, session_id, MAIN_VENUE)},
                  WrongStage, "sign_in stage")
    await refused(database, evaluation_services, session_id, first.actor, "recuse", {"reason": "late"},
                  WrongStage, "sign_in stage")
    await refused(database, evaluation_services, session_id, first.actor, "vote_chair", {"member_id": 999_999},
                  NotFound, "not a member")


async def test_a_tied_vote_is_taken_again(database: Database,
                                          evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=4)
    async with database.transaction() as session:
        seats = [await seat_in(session, scene, evaluation_services, session_id, hand) for hand in scene.experts]
        for hand, choice in zip(scene.experts, (0, 0, 1, 1), strict=True):
            await act_as(session, hand.actor, session_id, "vote_chair", {"member_id": seats[choice].id},
                         evaluation_services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        assert ev.stage == Stage.CHAIR_ELECTION and ev.chair_member_id is None  # type: ignore[union-attr]
        assert (await stream(session, session_id))[-1] == events.CHAIR_VOTE_TIED
        assert {m.chair_vote for m in await members_of(session, session_id)} == {None}
    async with database.transaction() as session:
        for hand, choice in zip(scene.experts, (0, 0, 1, 0), strict=True):
            await act_as(session, hand.actor, session_id, "vote_chair", {"member_id": seats[choice].id},
                         evaluation_services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
    assert ev.stage == Stage.PRELIMINARY_REVIEW and ev.chair_member_id == seats[0].id  # type: ignore[union-attr]


async def test_a_recused_member_is_replaced_and_the_session_waits(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3, spares=2)
    leaving = scene.experts[1]
    await refused(database, evaluation_services, session_id, leaving.actor, "recuse", {"reason": "  "},
                  InvalidInput, "reason")
    async with database.transaction() as session:
        for hand in (scene.experts[0], scene.experts[2]):
            await seat_in(session, scene, evaluation_services, session_id, hand)
        result = await act_as(session, leaving.actor, session_id, "recuse",
                              {"reason": "I advised bidder 2 last year"}, evaluation_services)
    assert result["status"] == MemberStatus.RECUSED
    async with database.reader() as session:
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.SIGN_IN  # type: ignore[union-attr]
    async with database.transaction() as session:  # the notification worker calls the next expert
        await answer_calls(session, scene.draw_id)
    async with database.reader() as session:
        seats = await members_of(session, session_id)
        types = await stream(session, session_id)
    recused = next(m for m in seats if m.expert_id == leaving.expert_id)
    newcomer = next(m for m in seats if m.replaces_member_id == recused.id)
    assert recused.status == MemberStatus.RECUSED and recused.recusal_reason == "I advised bidder 2 last year"
    assert newcomer.status == MemberStatus.SEATED and newcomer.seat == 4
    assert newcomer.expert_id in {h.expert_id for h in scene.spares}
    assert types[-1] == events.MEMBER_SEATED
    async with database.transaction() as session:  # the replacement signs in: the session moves on
        await seat_in(session, scene, evaluation_services, session_id, scene.hand(newcomer.expert_id))
        ev = await session.get(EvaluationSession, session_id)
        assert ev.stage == Stage.CHAIR_ELECTION  # type: ignore[union-attr]
    await refused(database, evaluation_services, session_id, leaving.actor, "vote_chair",
                  {"member_id": newcomer.id}, Conflict, "recused")


async def test_a_committee_that_cannot_be_refilled_suspends_the_session(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3, spares=0)
    async with database.transaction() as session:
        await act_as(session, scene.experts[0].actor, session_id, "recuse", {"reason": "a relative bids"},
                     evaluation_services)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        types = await stream(session, session_id)
    assert ev.stage == Stage.SUSPENDED  # type: ignore[union-attr]
    assert types[-3:] == [events.MEMBER_RECUSED, events.STAGE_CHANGED, events.SESSION_SUSPENDED]
    await refused(database, evaluation_services, session_id, scene.experts[1].actor, "declare", {}, WrongStage,
                  "suspended")


async def test_members_only_vote_for_active_members(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await opened(database, evaluation_services, experts=3, spares=1)
    async with database.transaction() as session:
        for hand in scene.experts:
            await seat_in(session, scene, evaluation_services, session_id, hand)
        seats = [m for m in await members_of(session, session_id)]
        await session.execute(sa.update(CommitteeMember).where(CommitteeMember.id == seats[2].id)
                              .values(status=MemberStatus.CONFIRMED))
    await refused(database, evaluation_services, session_id, scene.experts[0].actor, "vote_chair",
                  {"member_id": seats[2].id}, InvalidInput, "only an active member can chair")
    await refused(database, evaluation_services, session_id, scene.experts[2].actor, "vote_chair",
                  {"member_id": seats[0].id}, Conflict, "needs a member who is active")


# --- a committee drawn across venues -------------------------------------------------------------


async def test_an_expert_of_a_venue_draw_signs_in_only_at_their_own_venue(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from expert_pool.models import DrawCall
    from tests.evaluation.test_session_open import venue_scene

    async with database.transaction() as session:
        scene = await venue_scene(session, evaluation_services, main=2, secondary=2)
        ev = await opened_session(session, scene, evaluation_services)
        keys = dict((await session.execute(sa.select(DrawCall.expert_id, DrawCall.venue).where(
            DrawCall.draw_id == scene.draw_id))).all())
    session_id: int = ev.id  # type: ignore[assignment]
    own = {h.expert_id: MAIN_VENUE if keys[h.expert_id] == "V1" else SECOND_VENUE for h in scene.experts}
    assert sorted(own.values()) == [MAIN_VENUE, MAIN_VENUE, SECOND_VENUE, SECOND_VENUE]
    for hand in scene.experts:
        elsewhere = SECOND_VENUE if own[hand.expert_id] == MAIN_VENUE else MAIN_VENUE
        error = await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                              {"venue": elsewhere, "signature": sign_in_signature(hand, session_id, elsewhere)},
                              InvalidInput, f"drawn for the venue {own[hand.expert_id]!r}")
        assert error.errors[0].pointer == "$.venue"  # type: ignore[attr-defined]
    async with database.transaction() as session:
        for hand in scene.experts:
            await seat_in(session, scene, evaluation_services, session_id, hand, venue=own[hand.expert_id])
        seats = await members_of(session, session_id)
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.CHAIR_ELECTION  # type: ignore[union-attr]
    assert {m.expert_id: m.venue for m in seats} == own


async def test_a_secondary_venue_recusal_is_replaced_from_the_same_venue(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    from expert_pool.models import DrawCall
    from tests.evaluation.test_session_open import venue_scene

    async with database.transaction() as session:
        scene = await venue_scene(session, evaluation_services, main=2, secondary=2, spares=1)
        ev = await opened_session(session, scene, evaluation_services)
        keys = dict((await session.execute(sa.select(DrawCall.expert_id, DrawCall.venue).where(
            DrawCall.draw_id == scene.draw_id))).all())
    session_id: int = ev.id  # type: ignore[assignment]
    leaving = next(h for h in scene.experts if keys[h.expert_id] == "V2")
    async with database.transaction() as session:
        await act_as(session, leaving.actor, session_id, "recuse", {"reason": "my employer bids"},
                     evaluation_services)
    async with database.transaction() as session:  # the notification worker calls the next expert
        await answer_calls(session, scene.draw_id)
        keys = dict((await session.execute(sa.select(DrawCall.expert_id, DrawCall.venue).where(
            DrawCall.draw_id == scene.draw_id))).all())
        seats = await members_of(session, session_id)
    recused = next(m for m in seats if m.expert_id == leaving.expert_id)
    newcomer = next(m for m in seats if m.replaces_member_id == recused.id)
    assert keys[newcomer.expert_id] == "V2" and newcomer.status == MemberStatus.SEATED
    hand = scene.hand(newcomer.expert_id)
    await refused(database, evaluation_services, session_id, hand.actor, "sign_in",
                  {"venue": MAIN_VENUE, "signature": sign_in_signature(hand, session_id, MAIN_VENUE)},
                  InvalidInput, "only at their own venue")
    async with database.transaction() as session:
        await seat_in(session, scene, evaluation_services, session_id, hand, venue=SECOND_VENUE)

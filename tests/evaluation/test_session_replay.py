"""Replay of ``evaluation:<id>``: the entries alone rebuild what the tables hold, at the
end of a session and at any point of it, and a table edited behind the ledger's back shows."""

from __future__ import annotations

import sqlalchemy as sa

from core.database import Database
from evaluation import events
from evaluation.context import EvaluationServices
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.replay import apply_session
from evaluation.states import MemberStatus, Stage
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream, replay
from tests.evaluation.factories import (
    act_as,
    answer_calls,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
    finished_session,
    opened_session,
    seat_in,
)
from tests.web.cli_runner import output
from web.runtime import build_registry


async def test_a_finished_session_replays_to_its_tables(
        database: Database, evaluation_services: EvaluationServices, bidhall) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await finished_session(session, scene, evaluation_services)
    assert ev.stage == Stage.FINISHED and ev.signed_report_sha256 is not None
    async with database.reader() as session:
        check = await check_stream(session, build_registry(), events.session_stream(ev.id))
    assert check.matches, (check.replayed, check.stored)
    state = check.replayed
    assert state["stage"] == Stage.FINISHED and state["chair_member_id"] == ev.chair_member_id
    assert len(state["scores"]) == 3 * 3 * 2 and len(state["marks"]) == 3 * 3 * len(ev.settings["review_criteria"])
    assert sorted(state["signatures"]) == sorted(state["accepted"]) and len(state["signatures"]) == 3
    assert [b["rank"] for b in state["bids"].values()] == [1, 2, 3]
    assert output(bidhall("replay", f"evaluation:{ev.id}", "--check"))["matches"]


async def test_recusal_replacement_and_a_tied_vote_replay_and_any_point_can_be_replayed(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=4, spares=1)
        ev = await opened_session(session, scene, evaluation_services)
        session_id: int = ev.id  # type: ignore[assignment]
        await act_as(session, scene.experts[3].actor, session_id, "recuse", {"reason": "former employer"},
                     evaluation_services)
        await answer_calls(session, scene.draw_id)
        seats = list(await session.scalars(sa.select(CommitteeMember).where(
            CommitteeMember.status != MemberStatus.RECUSED).order_by(CommitteeMember.seat)))
        for seat in seats:
            await seat_in(session, scene, evaluation_services, session_id, scene.hand(seat.expert_id))
        for seat, choice in zip(seats, (0, 0, 1, 1), strict=True):
            await act_as(session, scene.hand(seat.expert_id).actor, session_id, "vote_chair",
                         {"member_id": seats[choice].id}, evaluation_services)
        await act_as(session, scene.hand(seats[0].expert_id).actor, session_id, "vote_chair",
                     {"member_id": seats[1].id}, evaluation_services)
    registry = build_registry()
    stream = events.session_stream(session_id)
    async with database.reader() as session:
        check = await check_stream(session, registry, stream)
        tied_at = await session.scalar(sa.select(LedgerEntry.seq).where(
            LedgerEntry.stream == stream, LedgerEntry.type == events.CHAIR_VOTE_TIED))
        at_tie = await replay(session, registry, stream, until_seq=tied_at)
    assert check.matches, (check.replayed, check.stored)
    replaced = [m for m in check.replayed["members"].values() if m["replaces_member_id"] is not None]
    assert len(replaced) == 1 and replaced[0]["status"] == MemberStatus.ACTIVE
    assert check.replayed["stage"] == Stage.CHAIR_ELECTION
    assert at_tie["stage"] == Stage.CHAIR_ELECTION and at_tie["chair_member_id"] is None  # type: ignore[index]
    assert {m["chair_vote"] for m in at_tie["members"].values()} == {None}  # type: ignore[index]


async def test_a_table_edited_behind_the_ledger_is_caught(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=3)
        ev = await opened_session(session, scene, evaluation_services)
    async with database.transaction() as session:
        await session.execute(sa.update(CommitteeMember).where(CommitteeMember.seat == 2)
                              .values(status=MemberStatus.ACTIVE))
        await session.execute(sa.update(EvaluationSession).values(stage=Stage.CHAIR_ELECTION))
    async with database.reader() as session:
        check = await check_stream(session, build_registry(), events.session_stream(ev.id))
    assert not check.matches
    assert check.replayed["stage"] == Stage.SIGN_IN and check.stored["stage"] == Stage.CHAIR_ELECTION


def test_the_reducer_folds_a_long_stream_in_place() -> None:
    def entry(kind: str, **payload: object) -> dict:
        return {"type": kind, "payload": {"session_id": 1, **payload}}

    state = apply_session(None, entry(events.SESSION_OPENED, method="comprehensive_scoring",
                                      bids=[{"bid_id": 7}, {"bid_id": 8}]))
    state = apply_session(state, entry(events.COMMITTEE_REVEALED, members=[
        {"member_id": i, "seat": i} for i in range(1, 6)]))
    first = state
    for number in range(10_000):
        member, bid = number % 5 + 1, 7 + number % 2
        state = apply_session(state, entry(events.BID_SCORED, member_id=member, seat=member, bid_id=bid,
                                           scores={"technical": str(number % 40)}, rounds={"technical": 1}))
    assert state is first, "one state, updated in place"
    assert len(state["scores"]) == 10  # type: ignore[index]
    assert state["scores"]["5:8:technical:1"] == f"{9_999 % 40}.00"  # type: ignore[index]
    assert apply_session(None, entry(events.BID_SCORED, member_id=1)) is None  # nothing before the opening

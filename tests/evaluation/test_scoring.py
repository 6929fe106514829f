"""Detailed scoring through the session's channel: bounds, failed bids, resubmission,
flags confirmed or revised, the chair's re-score, and refused messages that change nothing.

The lot scores ``technical`` (40 points) and ``business`` (30 points) beside the price;
bid 0 fails the preliminary review in every test, so bids 1 and 2 are scored.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.database import Database
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from evaluation import events
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import EvaluationSession, Score
from evaluation.states import Stage
from tests.evaluation.factories import EvaluationScene, evaluation_services  # noqa: F401  (fixture)
from tests.evaluation.test_review import (
    entries,
    last_entry,
    review_all,
    send,
    started,
    state_of,
)

FAIL_FIRST_BID = {(0, 0): {"qualification": "no licence"}, (1, 0): {"qualification": "no licence"}}
CALM = {"technical": ["30", "32", "31"], "business": ["20", "21", "22"]}


async def in_scoring(database: Database, services: EvaluationServices,
                     **session_options: Any) -> tuple[EvaluationScene, int]:
    scene, session_id = await started(database, services, session_options=session_options)
    await review_all(database, scene, services, session_id, fails=FAIL_FIRST_BID)
    assert await stage_of(database, session_id) == Stage.DETAILED_SCORING
    return scene, session_id


async def stage_of(database: Database, session_id: int) -> str:
    async with database.reader() as session:
        return (await session.get(EvaluationSession, session_id)).stage  # type: ignore[union-attr]


async def score(database: Database, scene: EvaluationScene, services: EvaluationServices, session_id: int,
                expert: int, bid: int, **points: str) -> dict[str, Any]:
    return await send(database, scene.experts[expert].actor, session_id, "score",
                      {"bid_id": scene.bids[bid].id, "scores": points}, services)


async def score_all(database: Database, scene: EvaluationScene, services: EvaluationServices, session_id: int,
                    table: dict[int, dict[str, list[str]]] | None = None) -> None:
    """Every expert scores bids 1 and 2; ``table[bid][factor][expert]`` overrides the calm scores."""
    for bid in (1, 2):
        factors = (table or {}).get(bid, CALM)
        for expert in range(3):
            await score(database, scene, services, session_id, expert, bid,
                        **{factor: values[expert] for factor, values in factors.items()})


async def test_every_member_scores_every_passed_bid_and_the_scores_are_revealed_at_the_end(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    first = await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20.5")
    assert first == {"bid_id": scene.bids[1].id, "factors": 2, "revised": False, "flagged": []}
    again = await score(database, scene, evaluation_services, session_id, 0, 1, technical="31.25")
    assert again["revised"] is True, "free to resubmit until everyone has submitted"
    await score_all(database, scene, evaluation_services, session_id)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        rows = list(await session.scalars(sa.select(Score)))
        scored = await entries(session, session_id, events.BID_SCORED)
        concluded = await last_entry(session, session_id, events.SCORING_CONCLUDED)
    assert ev.stage == Stage.RESULTS
    assert {r.bid_id for r in rows} == {scene.bids[1].id, scene.bids[2].id} and len(rows) == 3 * 2 * 2
    assert {r.round for r in rows} == {1} and not any(r.flagged for r in rows)
    assert scored[0]["scores"] == {"technical": "30.00", "business": "20.50"} and scored[0]["seat"] == 1
    assert len(concluded["scores"]) == 12 and all(s["final"] for s in concluded["scores"])
    assert concluded["factors"] == {"technical": "40", "business": "30"}


async def test_bad_scores_are_refused_and_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    passed, failed = scene.bids[1].id, scene.bids[0].id
    expert = scene.experts[1].actor
    before = await state_of(database, session_id)
    refused: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (expert, {"bid_id": passed, "scores": {"technical": "40.01", "business": "20"}}, InvalidInput,
         r"\$\.scores\.technical: a score outside its bounds: technical is scored from 0 to 40, got 40.01"),
        (expert, {"bid_id": passed, "scores": {"technical": "-1", "business": "20"}}, InvalidInput,
         "outside its bounds"),
        (expert, {"bid_id": passed, "scores": {"technical": "30.125", "business": "20"}}, InvalidInput,
         "at most 2 decimal places"),
        (expert, {"bid_id": passed, "scores": {"technical": 30.5, "business": "20"}}, InvalidInput,
         "decimal text"),
        (expert, {"bid_id": passed, "scores": {"technical": "30"}}, InvalidInput,
         r"\$\.scores\.business: every factor is scored"),
        (expert, {"bid_id": passed, "scores": {"technical": "30", "business": "20", "looks": "5"}}, InvalidInput,
         r"\$\.scores\.looks: not a scoring factor"),
        (expert, {"bid_id": failed, "scores": {"technical": "30", "business": "20"}}, RuleViolation,
         "a score for a bid that failed preliminary review is refused"),
        (scene.staff, {"bid_id": passed, "scores": {"technical": "30", "business": "20"}}, PermissionDenied,
         "members of this evaluation"),
        (scene.spares[0].actor, {"bid_id": passed, "scores": {"technical": "30", "business": "20"}},
         PermissionDenied, "not a member"),
    ]
    for actor, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, "score", fields, evaluation_services)
        assert await state_of(database, session_id) == before


async def test_a_score_in_preliminary_review_is_a_message_for_the_wrong_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    before = await state_of(database, session_id)
    with pytest.raises(WrongStage, match="detailed_scoring stage; the session is in preliminary_review"):
        await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20")
    assert await state_of(database, session_id) == before


async def test_a_flagged_objective_score_holds_the_stage_until_confirmed_with_a_reason(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services, objective_factors=["business"])
    await score_all(database, scene, evaluation_services, session_id,
                    {1: {"technical": CALM["technical"], "business": ["20", "20", "25"]}, 2: CALM | {
                        "business": ["22", "22", "22"]}})
    async with database.reader() as session:
        flagged = await entries(session, session_id, events.SCORE_FLAGGED)
        row = await session.scalar(sa.select(Score).where(Score.flagged.is_not(None)))  # type: ignore[union-attr]
    assert await stage_of(database, session_id) == Stage.DETAILED_SCORING
    assert [(f["seat"], f["bid_id"], f["factor"], f["value"]) for f in flagged] == [
        (3, scene.bids[1].id, "business", "25.00")]
    assert "objective factor differs" in flagged[0]["reason"] and row.confirmation is None
    before = await state_of(database, session_id)
    with pytest.raises(Conflict, match="not flagged"):
        await send(database, scene.experts[1].actor, session_id, "confirm_score",
                   {"bid_id": scene.bids[1].id, "factor": "business", "reason": "I agree"}, evaluation_services)
    with pytest.raises(RuleViolation, match="can no longer change") as frozen:
        await score(database, scene, evaluation_services, session_id, 0, 1, technical="35")
    assert frozen.value.rule == "score_change"
    with pytest.raises(InvalidInput, match=r"\$\.reason"):
        await send(database, scene.experts[2].actor, session_id, "confirm_score",
                   {"bid_id": scene.bids[1].id, "factor": "business"}, evaluation_services)
    assert await state_of(database, session_id) == before
    await send(database, scene.experts[2].actor, session_id, "confirm_score",
               {"bid_id": scene.bids[1].id, "factor": "business",
                "reason": "the bid's service plan includes the 24-hour hotline the others missed"},
               evaluation_services)
    async with database.reader() as session:
        confirmed = await entries(session, session_id, events.SCORE_CONFIRMED)
    assert await stage_of(database, session_id) == Stage.RESULTS
    assert confirmed[0]["seat"] == 3 and "hotline" in confirmed[0]["reason"]


async def test_a_flagged_member_revises_and_the_flag_is_lifted(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    await score_all(database, scene, evaluation_services, session_id,
                    {1: {"technical": ["30", "31", "5"], "business": CALM["business"]}, 2: CALM})
    assert await stage_of(database, session_id) == Stage.DETAILED_SCORING
    async with database.reader() as session:
        flagged = await entries(session, session_id, events.SCORE_FLAGGED)
    assert [(f["seat"], f["factor"]) for f in flagged] == [(3, "technical")]
    assert "abnormal score" in flagged[0]["reason"]
    reply = await score(database, scene, evaluation_services, session_id, 2, 1, technical="10")
    assert reply["flagged"] == ["technical"], "still more than 20 points from the others: flagged again"
    reply = await score(database, scene, evaluation_services, session_id, 2, 1, technical="29")
    assert reply["flagged"] == [] and reply["revised"] is True
    async with database.reader() as session:
        assert len(await entries(session, session_id, events.SCORE_FLAGGED)) == 2
    assert await stage_of(database, session_id) == Stage.RESULTS


async def test_the_chair_has_one_factor_of_one_bid_scored_again_in_a_new_round(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    bid_id = scene.bids[1].id
    rescore = {"bid_id": bid_id, "factor": "technical", "reason": "members read different drawings"}
    await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20")
    with pytest.raises(Conflict, match="not every member has scored"):
        await send(database, scene.experts[0].actor, session_id, "request_rescore", rescore, evaluation_services)
    await score_all(database, scene, evaluation_services, session_id,
                    {1: {"technical": ["30", "31", "5"], "business": CALM["business"]}, 2: CALM})
    before = await state_of(database, session_id)
    with pytest.raises(PermissionDenied, match="for the chair"):
        await send(database, scene.experts[1].actor, session_id, "request_rescore", rescore, evaluation_services)
    with pytest.raises(RuleViolation, match="failed preliminary review"):
        await send(database, scene.experts[0].actor, session_id, "request_rescore",
                   rescore | {"bid_id": scene.bids[0].id}, evaluation_services)
    with pytest.raises(InvalidInput, match="not a scoring factor"):
        await send(database, scene.experts[0].actor, session_id, "request_rescore",
                   rescore | {"factor": "price"}, evaluation_services)
    assert await state_of(database, session_id) == before
    reply = await send(database, scene.experts[0].actor, session_id, "request_rescore", rescore,
                       evaluation_services)
    assert reply == {"bid_id": bid_id, "factor": "technical", "round": 2}
    for expert, points in enumerate(["29", "30", "27"]):
        await score(database, scene, evaluation_services, session_id, expert, 1, technical=points)
        if expert < 2:
            assert await stage_of(database, session_id) == Stage.DETAILED_SCORING, "the re-score is pending"
    async with database.reader() as session:
        rows = list(await session.scalars(sa.select(Score).where(Score.bid_id == bid_id,
                                                                 Score.factor == "technical")))
        concluded = await last_entry(session, session_id, events.SCORING_CONCLUDED)
        requested = await entries(session, session_id, events.RESCORE_REQUESTED)
    assert await stage_of(database, session_id) == Stage.RESULTS
    assert sorted((r.round, str(r.value)) for r in rows) == [
        (1, "30.00"), (1, "31.00"), (1, "5.00"), (2, "27.00"), (2, "29.00"), (2, "30.00")]
    final = sorted(s["value"] for s in concluded["scores"]
                   if s["bid_id"] == bid_id and s["factor"] == "technical" and s["final"])
    assert final == ["27.00", "29.00", "30.00"] and concluded["rounds"] == {f"{bid_id}:technical": 2}
    assert requested[0]["round"] == 2 and requested[0]["reason"] == "members read different drawings"


# --- the committee and bids a process keeps for scoring ------------------------------------------


class Statements:
    """The SQL statements an engine runs while attached."""

    def __init__(self, database: Database) -> None:
        self.engine = database.engine.sync_engine
        self.seen: list[str] = []

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def touching(self, table: str) -> list[str]:
        return [statement for statement in self.seen if table in statement]


async def test_scores_read_the_committee_and_bids_once_while_they_do_not_change(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20")
    with Statements(database) as statements:
        again = await score(database, scene, evaluation_services, session_id, 1, 1, technical="31", business="21")
        await score(database, scene, evaluation_services, session_id, 0, 1, technical="29")
    assert again["factors"] == 2
    assert not statements.touching("evaluation_members") and not statements.touching("evaluation_bids")
    assert len(statements.touching("FROM evaluation_sessions")) == 2, "the session row is read (locked) once a message"


async def test_a_recusal_recorded_by_another_process_reaches_the_next_score(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    """Another server process changes the committee (its own cache is not this one's): the
    change is on the session's stream, so this process reads the committee again."""
    from evaluation.models import CommitteeMember
    from evaluation.record import record
    from evaluation.states import MemberStatus
    from tests.evaluation.factories import member_of

    scene, session_id = await in_scoring(database, evaluation_services)
    await score(database, scene, evaluation_services, session_id, 1, 1, technical="30", business="20")
    async with database.transaction() as session:  # what the other process commits
        await session.execute(sa.select(EvaluationSession.id).where(EvaluationSession.id == session_id)
                              .with_for_update())
        member = await member_of(session, session_id, scene.experts[1])
        await session.execute(sa.update(CommitteeMember).where(CommitteeMember.id == member.id)
                              .values(status=MemberStatus.RECUSED, recusal_reason="a former employer bids"))
        await record(session, scene.experts[1].actor, session_id, events.MEMBER_RECUSED,
                     {"member_id": member.id, "seat": member.seat})
    with pytest.raises(Conflict, match="needs a member who is active"):
        await score(database, scene, evaluation_services, session_id, 1, 1, technical="31")
    assert (await score(database, scene, evaluation_services, session_id, 0, 1, technical="30",
                        business="20"))["factors"] == 2


async def test_a_refused_score_leaves_the_kept_committee_valid(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await in_scoring(database, evaluation_services)
    await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20")
    with pytest.raises(InvalidInput):
        await score(database, scene, evaluation_services, session_id, 1, 1, technical="41", business="20")
    with Statements(database) as statements:
        await score(database, scene, evaluation_services, session_id, 1, 1, technical="31", business="20")
    assert not statements.touching("evaluation_members"), "a rolled-back message changed nothing to check"
    async with database.reader() as session:
        scored = await entries(session, session_id, events.BID_SCORED)
    assert [s["scores"]["technical"] for s in scored] == ["30.00", "31.00"]


async def test_a_score_reaches_the_followers_in_this_process_without_a_ledger_read(
        database: Database, evaluation_services: EvaluationServices,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from supervision import live

    await live.stop_listening()

    async def no_listening(_database: Database) -> None:
        return None

    monkeypatch.setattr(live.LISTENER, "ensure", no_listening)  # only this process's own hand-over
    scene, session_id = await in_scoring(database, evaluation_services)
    await score(database, scene, evaluation_services, session_id, 0, 1, technical="30", business="20")
    async with database.reader() as session:
        last = (await entries_of(session, session_id))[-1]
    feeds = [live.follow(database, events.session_stream(session_id), last["seq"], poll_interval=3600)
             for _ in range(3)]
    for feed in feeds:
        assert (await asyncio.wait_for(anext(feed), 10))["seq"] == last["seq"]
    reads: list[int] = []
    real_read = live.read_entries

    async def counting_read(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    pending = [asyncio.ensure_future(asyncio.wait_for(anext(feed), 10)) for feed in feeds]
    await asyncio.sleep(0.05)
    await score(database, scene, evaluation_services, session_id, 1, 1, technical="31", business="21")
    arrived = await asyncio.gather(*pending)
    assert {entry["type"] for entry in arrived} == {events.BID_SCORED}
    assert all(entry["payload"]["scores"] == {"technical": "31.00", "business": "21.00"} for entry in arrived)
    assert reads == [], "the message's transaction handed its entry to the followers"
    for feed in feeds:
        await feed.aclose()


async def entries_of(session: Any, session_id: int) -> list[dict[str, Any]]:
    import json

    from supervision.ledger.models import LedgerEntry

    return [json.loads(leaf) for leaf in await session.scalars(sa.select(LedgerEntry.leaf).where(
        LedgerEntry.stream == events.session_stream(session_id)).order_by(LedgerEntry.seq))]

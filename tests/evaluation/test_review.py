"""Preliminary review through the session's channel: marks, majority, dissent, price limits,
and refused messages that change nothing.

The functions at the end (a started session, sending one message in its own transaction,
reviewing every bid, the session's state for "nothing changed" checks) are shared by the
later stages' tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from core.database import Database
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from evaluation import events
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import (
    Clarification,
    Dissent,
    EvaluatedBid,
    EvaluationSession,
    ReportSignature,
    ReviewMark,
    Score,
)
from evaluation.review import CEILING_CRITERION
from evaluation.states import Stage
from supervision.ledger.models import LedgerEntry
from tests.evaluation.factories import (
    EvaluationScene,
    act_as,
    active_session,
    evaluation_scene,
    evaluation_services,  # noqa: F401  (fixture)
)

CRITERIA = ["qualification", "responsiveness"]


async def test_every_member_marks_every_bid_and_the_majority_decides_with_dissent_recorded(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    first, second, third = (bid.id for bid in scene.bids)
    result = await review_all(database, scene, evaluation_services, session_id, fails={
        (0, 0): {"qualification": "no valid safety production licence"},
        (1, 0): {"qualification": "licence expired in 2023"},
        (2, 1): {"responsiveness": "duration 400 days exceeds 365"}})
    assert result[(0, 0)] == {"bid_id": first, "criteria": 2, "failed": ["qualification"], "revised": False}
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        bids = {b.bid_id: b for b in await session.scalars(sa.select(EvaluatedBid))}
        dissents = list(await session.scalars(sa.select(Dissent).order_by(Dissent.bid_id)))
        concluded = await last_entry(session, session_id, events.REVIEW_CONCLUDED)
    assert ev.stage == Stage.DETAILED_SCORING
    assert bids[first].review_passed is False
    assert bids[first].rejection_reasons == [{"criterion": "qualification", "reasons": [
        "licence expired in 2023", "no valid safety production licence"]}]
    assert bids[second].review_passed is True and bids[second].rejection_reasons == []
    assert bids[third].review_passed is True
    third_member = await member_id_of(database, scene, session_id, 2)
    assert [(d.member_id, d.bid_id, d.stage) for d in dissents] == [
        (third_member, first, Stage.PRELIMINARY_REVIEW), (third_member, second, Stage.PRELIMINARY_REVIEW)]
    assert dissents[0].text == "qualification: marked pass against the committee's fail"
    assert dissents[1].text == ("responsiveness: marked fail against the committee's pass: "
                                "duration 400 days exceeds 365")
    table = {row["bid_id"]: row for row in concluded["bids"]}
    assert table[first]["criteria"]["qualification"] == {
        "passed": False, "for": 1, "against": 2, "tie": False,
        "reasons": ["licence expired in 2023", "no valid safety production licence"]}
    assert len(concluded["marks"]) == 3 * 3 * 2 and len(concluded["dissents"]) == 2


async def test_a_member_revises_own_marks_until_the_stage_closes(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    hand, bid_id = scene.experts[0], scene.bids[0].id
    await send(database, hand.actor, session_id, "review",
               {"bid_id": bid_id, "marks": marks({"qualification": "no licence"})}, evaluation_services)
    reply = await send(database, hand.actor, session_id, "review", {"bid_id": bid_id, "marks": marks()},
                       evaluation_services)
    assert reply["revised"] is True and reply["failed"] == []
    async with database.reader() as session:
        rows = list(await session.scalars(sa.select(ReviewMark).order_by(ReviewMark.criterion)))
        reviewed = await entries(session, session_id, events.BID_REVIEWED)
    assert [(r.criterion, r.passed, r.reason) for r in rows] == [("qualification", True, None),
                                                                 ("responsiveness", True, None)]
    assert [e["revised"] for e in reviewed] == [False, True]
    assert reviewed[0]["member_id"] == rows[0].member_id and reviewed[0]["seat"] == 1


async def test_an_even_split_passes_the_criterion_and_the_conclusion_says_so(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services, experts=4)
    await review_all(database, scene, evaluation_services, session_id, fails={
        (0, 0): {"qualification": "no licence"}, (1, 0): {"qualification": "no licence either"}})
    async with database.reader() as session:
        bid = await session.scalar(sa.select(EvaluatedBid).where(EvaluatedBid.bid_id == scene.bids[0].id))
        dissenters = set(await session.scalars(sa.select(Dissent.member_id)))
        concluded = await last_entry(session, session_id, events.REVIEW_CONCLUDED)
    assert bid.review_passed is True
    row = next(r for r in concluded["bids"] if r["bid_id"] == bid.bid_id)
    assert row["criteria"]["qualification"]["tie"] is True and "even split" in concluded["tie_rule"]
    assert dissenters == {await member_id_of(database, scene, session_id, 0),
                          await member_id_of(database, scene, session_id, 1)}


async def test_a_corrected_price_above_the_ceiling_fails_without_a_vote(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services, ceiling_price=Decimal("11000000.00"))
    await review_all(database, scene, evaluation_services, session_id)
    async with database.reader() as session:
        bids = {b.bid_id: b for b in await session.scalars(sa.select(EvaluatedBid))}
    above = bids[scene.bids[2].id]
    assert above.review_passed is False
    assert above.rejection_reasons == [{"criterion": CEILING_CRITERION, "reasons": [
        "the corrected price 11200000.00 is above the ceiling price 11000000.00"]}]
    assert bids[scene.bids[0].id].review_passed and bids[scene.bids[1].id].review_passed


async def test_bad_review_messages_are_refused_and_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    hand, bid_id = scene.experts[0], scene.bids[0].id
    await send(database, hand.actor, session_id, "review", {"bid_id": bid_id, "marks": marks()},
               evaluation_services)
    before = await state_of(database, session_id)
    refused: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (hand.actor, {"bid_id": bid_id, "marks": {"qualification": {"passed": True}}}, InvalidInput,
         r"\$\.marks\.responsiveness"),
        (hand.actor, {"bid_id": bid_id, "marks": {**marks(), "colour": {"passed": True}}}, InvalidInput,
         "not a review criterion"),
        (hand.actor, {"bid_id": bid_id, "marks": marks({"qualification": ""})}, InvalidInput,
         r"\$\.marks\.qualification\.reason"),
        (hand.actor, {"bid_id": 999_999, "marks": marks()}, NotFound, "not under evaluation"),
        (hand.actor, {"bid_id": bid_id, "marks": marks(), "member_id": 1}, InvalidInput, "unknown field"),
        (scene.staff, {"bid_id": bid_id, "marks": marks()}, PermissionDenied, "members of this evaluation"),
        (scene.spares[0].actor, {"bid_id": bid_id, "marks": marks()}, PermissionDenied, "not a member"),
    ]
    for actor, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, "review", fields, evaluation_services)
        assert await state_of(database, session_id) == before


async def test_a_review_after_the_stage_closed_is_a_message_for_the_wrong_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    await review_all(database, scene, evaluation_services, session_id)
    before = await state_of(database, session_id)
    with pytest.raises(WrongStage, match="preliminary_review stage; the session is in detailed_scoring"):
        await send(database, scene.experts[0].actor, session_id, "review",
                   {"bid_id": scene.bids[0].id, "marks": marks({"qualification": "changed my mind"})},
                   evaluation_services)
    assert await state_of(database, session_id) == before
    assert issubclass(WrongStage, Conflict)


# --- shared by the stage tests ---------------------------------------------------------------------------


def marks(fail: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """A mark for every criterion: passed, except those in ``fail`` (criterion -> reason)."""
    fail = fail or {}
    return {c: {"passed": c not in fail, "reason": fail.get(c)} for c in CRITERIA}


async def started(database: Database, services: EvaluationServices, *, experts: int = 3,
                  ceiling_price: Decimal | None = None, session_options: dict[str, Any] | None = None,
                  **scene_options: Any) -> tuple[EvaluationScene, int]:
    """A session in preliminary review with the two criteria of :data:`CRITERIA` (and
    ``session_options`` of the opening); chair: expert 0."""
    async with database.transaction() as session:
        scene = await evaluation_scene(session, services, experts=experts, **scene_options)
        if ceiling_price is not None:
            scene.tender.lot.ceiling_price = ceiling_price
            session.add(scene.tender.lot)
        ev = await active_session(session, scene, services, review_criteria=CRITERIA, **(session_options or {}))
    assert ev.stage == Stage.PRELIMINARY_REVIEW
    return scene, ev.id  # type: ignore[return-value]


async def send(database: Database, actor: Any, session_id: int, kind: str, fields: dict[str, Any],
               services: EvaluationServices) -> dict[str, Any]:
    """One channel message in its own transaction, as the live channel applies it."""
    async with database.transaction() as session:
        return await act_as(session, actor, session_id, kind, fields, services)


async def review_all(database: Database, scene: EvaluationScene, services: EvaluationServices, session_id: int,
                     fails: dict[tuple[int, int], dict[str, str]] | None = None) -> dict[tuple[int, int], Any]:
    """Every expert marks every bid; ``fails[(expert, bid)]`` names failed criteria with reasons."""
    replies = {}
    for i, hand in enumerate(scene.experts):
        for j, bid in enumerate(scene.bids):
            replies[(i, j)] = await send(database, hand.actor, session_id, "review",
                                         {"bid_id": bid.id, "marks": marks((fails or {}).get((i, j)))}, services)
    return replies


async def member_id_of(database: Database, scene: EvaluationScene, session_id: int, index: int) -> int:
    from tests.evaluation.factories import member_of

    async with database.reader() as session:
        return (await member_of(session, session_id, scene.experts[index])).id  # type: ignore[return-value]


async def entries(session: Any, session_id: int, event_type: str) -> list[dict[str, Any]]:
    rows = await session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.stream == events.session_stream(session_id), LedgerEntry.type == event_type)
        .order_by(LedgerEntry.seq))
    return [entry_payload(row) for row in rows]


def entry_payload(row: LedgerEntry) -> dict[str, Any]:
    import json

    return json.loads(row.leaf)["payload"]  # type: ignore[no-any-return]


async def last_entry(session: Any, session_id: int, event_type: str) -> dict[str, Any]:
    found = await entries(session, session_id, event_type)
    assert found, f"no {event_type} entry"
    return found[-1]


async def state_of(database: Database, session_id: int) -> dict[str, Any]:
    """What a refused message must leave as it was: the stage, the stream, every work table."""
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        stream = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.stream == events.session_stream(session_id)))
        tables = {}
        for model in (ReviewMark, Score, Clarification, Dissent, ReportSignature, EvaluatedBid):
            rows = await session.scalars(sa.select(model).order_by(model.id))  # type: ignore[attr-defined]
            tables[model.__tablename__] = [row.model_dump() for row in rows]
        return {"stage": ev.stage, "settings": ev.settings, "results": ev.results, "round": ev.scoring_round,
                "report": ev.report_sha256, "stream": stream, **tables}

"""Clarification through the session's channel: the chair's question, the bidder's signed
answer before the deadline, expiry, and every refused message leaving the session as it was."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.signatures import sign_detached
from core.clock import travel
from core.database import Database
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from evaluation import events
from evaluation.clarifications import clarification_statement
from evaluation.context import EvaluationServices, WrongStage
from evaluation.models import Clarification, EvaluationSession
from evaluation.states import ClarificationStatus, Stage
from tests.evaluation.factories import evaluation_services  # noqa: F401  (fixture)
from tests.evaluation.test_review import (
    entries,
    marks,
    review_all,
    send,
    started,
    state_of,
)

QUESTION = "Please confirm the project manager named in your bid holds a first-class constructor certificate."
ANSWER = "Confirmed.\n  Zhang San holds certificate 闽135060801234 (first class), valid until 2027.\n"


def signed_answer(clarification_id: int, answer: str, signing: Issued) -> dict[str, Any]:
    signature = sign_detached(clarification_statement(clarification_id, answer), signing.key, signing.cert)
    return {"clarification_id": clarification_id, "answer": answer,
            "signature": base64.b64encode(signature).decode()}


async def ask(database: Database, scene: Any, services: EvaluationServices, session_id: int, bid_index: int = 0,
              **fields: Any) -> dict[str, Any]:
    return await send(database, scene.experts[0].actor, session_id, "ask_clarification",
                      {"bid_id": scene.bids[bid_index].id, "question": QUESTION, **fields}, services)


async def test_the_chair_asks_and_the_bidder_answers_signed_before_the_deadline(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    asked = await ask(database, scene, evaluation_services, session_id, minutes=45)
    bidder = scene.bidders[0]
    answered = await send(database, bidder.actor, session_id, "answer_clarification",
                          signed_answer(asked["clarification_id"], ANSWER, bidder.signing), evaluation_services)
    async with database.reader() as session:
        row = await session.get(Clarification, asked["clarification_id"])
        asked_entry = (await entries(session, session_id, events.CLARIFICATION_ASKED))[0]
        answered_entry = (await entries(session, session_id, events.CLARIFICATION_ANSWERED))[0]
    assert row.status == ClarificationStatus.ANSWERED and row.answer == ANSWER, "kept exactly as given"
    assert row.party_id == bidder.party.id and row.answered_by == bidder.user.id
    assert row.due_at - row.asked_at == timedelta(minutes=45)
    assert row.signer_fingerprint and row.answer_signature
    assert answered["clarification_id"] == row.id
    assert asked_entry["party_id"] == bidder.party.id and asked_entry["question"] == QUESTION
    assert asked_entry["bid_id"] == scene.bids[0].id and asked_entry["clarification_id"] == row.id
    assert answered_entry["answer"] == ANSWER and answered_entry["party_id"] == bidder.party.id


async def test_the_session_default_time_applies_and_an_open_question_holds_the_stage(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    asked = await ask(database, scene, evaluation_services, session_id)
    await review_all(database, scene, evaluation_services, session_id)
    async with database.reader() as session:
        ev = await session.get(EvaluationSession, session_id)
        row = await session.get(Clarification, asked["clarification_id"])
    assert ev.stage == Stage.PRELIMINARY_REVIEW, "the committee waits for the answer"
    assert row.due_at - row.asked_at == timedelta(minutes=ev.settings.get("clarification_minutes") or 30)
    bidder = scene.bidders[0]
    await send(database, bidder.actor, session_id, "answer_clarification",
               signed_answer(asked["clarification_id"], ANSWER, bidder.signing), evaluation_services)
    async with database.reader() as session:
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.DETAILED_SCORING


async def test_an_unanswered_question_expires_and_a_late_answer_is_refused(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    asked = await ask(database, scene, evaluation_services, session_id, minutes=5)
    await review_all(database, scene, evaluation_services, session_id)
    bidder = scene.bidders[0]
    with travel(by=timedelta(minutes=6)):
        before = await state_of(database, session_id)
        with pytest.raises(RuleViolation, match="was due by") as refused:
            await send(database, bidder.actor, session_id, "answer_clarification",
                       signed_answer(asked["clarification_id"], ANSWER, bidder.signing), evaluation_services)
        assert refused.value.rule == "clarification_deadline"
        assert await state_of(database, session_id) == before
        # the next message of the session expires the question, and the stage can close
        await send(database, scene.experts[1].actor, session_id, "review",
                   {"bid_id": scene.bids[0].id, "marks": marks()}, evaluation_services)
    async with database.reader() as session:
        row = await session.get(Clarification, asked["clarification_id"])
        expired = await entries(session, session_id, events.CLARIFICATION_EXPIRED)
        stage = (await session.get(EvaluationSession, session_id)).stage
    assert row.status == ClarificationStatus.EXPIRED and row.answer is None
    assert [e["clarification_id"] for e in expired] == [row.id] and expired[0]["party_id"] == bidder.party.id
    assert stage == Stage.DETAILED_SCORING


async def test_bad_answers_are_refused_and_change_nothing(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services)
    asked = await ask(database, scene, evaluation_services, session_id)
    number = asked["clarification_id"]
    asked_of, other = scene.bidders[0], scene.bidders[1]
    stranger_ca = DemoCA.create("Untrusted Test CA", "ecdsa")
    untrusted = stranger_ca.issue(asked_of.party.name, usage=Usage.SIGNING, uscc=asked_of.party.uscc,
                                  organization=asked_of.party.name)
    over_other_text = signed_answer(number, "something else", asked_of.signing) | {"answer": ANSWER}
    before = await state_of(database, session_id)
    refused: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (other.actor, signed_answer(number, ANSWER, other.signing), PermissionDenied, "asked of another bidder"),
        (asked_of.actor, signed_answer(number, ANSWER, other.signing), PermissionDenied, "credit code"),
        (asked_of.actor, over_other_text, InvalidInput, "does not verify over the clarification answer"),
        (asked_of.actor, signed_answer(number, ANSWER, untrusted), InvalidInput, "certificate is not accepted"),
        (asked_of.actor, {"clarification_id": number, "answer": ANSWER, "signature": "bm90IGEgc2lnbmF0dXJl"},
         InvalidInput, "not a detached CMS signature"),
        (asked_of.actor, {"clarification_id": number, "answer": ANSWER, "signature": "%%%"}, InvalidInput,
         "not valid base64"),
        (asked_of.actor, signed_answer(number, "   ", asked_of.signing), InvalidInput, "the answer is empty"),
        (asked_of.actor, signed_answer(999_999, ANSWER, asked_of.signing), NotFound, "does not exist"),
        (scene.experts[0].actor, signed_answer(number, ANSWER, asked_of.signing), PermissionDenied,
         "for the bidder"),
    ]
    for actor, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, "answer_clarification", fields, evaluation_services)
        assert await state_of(database, session_id) == before
    await send(database, asked_of.actor, session_id, "answer_clarification",
               signed_answer(number, ANSWER, asked_of.signing), evaluation_services)
    answered = await state_of(database, session_id)
    with pytest.raises(Conflict, match="already answered"):
        await send(database, asked_of.actor, session_id, "answer_clarification",
                   signed_answer(number, "a second answer", asked_of.signing), evaluation_services)
    assert await state_of(database, session_id) == answered


async def test_only_the_chair_asks_within_sane_limits_and_in_the_working_stages(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    scene, session_id = await started(database, evaluation_services, method="lowest_evaluated_price")
    before = await state_of(database, session_id)
    bid_id = scene.bids[0].id
    refused: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (scene.experts[1].actor, {"bid_id": bid_id, "question": QUESTION}, PermissionDenied, "for the chair"),
        (scene.experts[0].actor, {"bid_id": bid_id, "question": QUESTION, "minutes": 1}, InvalidInput,
         r"5 to 1440 minutes"),
        (scene.experts[0].actor, {"bid_id": bid_id, "question": ""}, InvalidInput, r"\$\.question"),
        (scene.experts[0].actor, {"bid_id": 999_999, "question": QUESTION}, NotFound, "not under evaluation"),
        (scene.bidders[0].actor, {"bid_id": bid_id, "question": QUESTION}, PermissionDenied, "members of this"),
    ]
    for actor, fields, error, match in refused:
        with pytest.raises(error, match=match):
            await send(database, actor, session_id, "ask_clarification", fields, evaluation_services)
        assert await state_of(database, session_id) == before
    await review_all(database, scene, evaluation_services, session_id)
    async with database.reader() as session:
        assert (await session.get(EvaluationSession, session_id)).stage == Stage.RESULTS
        count = await session.scalar(sa.select(sa.func.count()).select_from(Clarification))
    assert count == 0
    results = await state_of(database, session_id)
    with pytest.raises(WrongStage, match="preliminary_review or detailed_scoring"):
        await send(database, scene.experts[0].actor, session_id, "ask_clarification",
                   {"bid_id": bid_id, "question": QUESTION}, evaluation_services)
    assert await state_of(database, session_id) == results

"""Clarification (澄清): a written question of the committee to one bidder, and the bidder's
signed answer within a deadline.

The chair asks on behalf of the committee during preliminary review or detailed scoring.
The bidder answers through the platform with a detached CMS signature over
``clarification_statement(id) + answer``, made with a certificate that names the bidder's
credit code (DOMAIN.md: a clarification is in writing, signed or sealed). The answer may
not change the substance of the bid; the platform cannot tell, so it keeps the answer
exactly as given and the committee reads it. A question not answered by its deadline
expires; while any question is open the stage cannot close, since the committee is
waiting for it.

The signature is checked by ``identities.signed_content.check_signature``, as every
signature a party or an expert makes on the platform.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Role
from core.clock import rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from evaluation import events
from evaluation.context import Context
from evaluation.message_schemas import AnswerClarification, AskClarification
from evaluation.models import Clarification, EvaluatedBid
from evaluation.record import record
from evaluation.schemas import parse
from evaluation.states import ClarificationStatus, Stage
from identities.signed_content import check_signature

DEFAULT_MINUTES = 30
MIN_MINUTES = 5
MAX_MINUTES = 24 * 60  # a clarification is answered while the committee sits, not days later


def clarification_statement(clarification_id: int, answer: str) -> bytes:
    """What the bidder signs: the statement line, then the answer exactly as sent."""
    return f"bidhall-evaluation-clarification\n{clarification_id}\n".encode() + answer.encode()


# --- asking ----------------------------------------------------------------------------------------


async def handle_ask(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``ask_clarification {bid_id, question, minutes}``: the chair asks the bidder of a bid."""
    ctx.require_stage(Stage.PRELIMINARY_REVIEW, Stage.DETAILED_SCORING, doing="asking for a clarification")
    chair = ctx.require_chair("asking a bidder for a clarification")
    message = parse(AskClarification, fields)
    minutes = message.minutes if message.minutes is not None else _default_minutes(ctx)
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InvalidInput(f"a bidder is given {MIN_MINUTES} to {MAX_MINUTES} minutes to answer, not {minutes}",
                           [FieldError("$.minutes", f"from {MIN_MINUTES} to {MAX_MINUTES}")])
    bid = await session.scalar(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == ctx.session_id,
                                                             EvaluatedBid.bid_id == message.bid_id))
    if bid is None:
        raise NotFound(f"bid {message.bid_id} is not under evaluation in session {ctx.session_id}")
    now = utcnow()
    clarification = Clarification(session_id=ctx.session_id, bid_id=bid.bid_id, party_id=bid.party_id,  # type: ignore[arg-type]
                                  asked_by_member_id=chair.id, question=message.question,
                                  status=ClarificationStatus.OPEN, asked_at=now,
                                  due_at=now + timedelta(minutes=minutes))
    session.add(clarification)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.CLARIFICATION_ASKED, {
        "clarification_id": clarification.id, "bid_id": bid.bid_id, "party_id": bid.party_id,
        "member_id": chair.id, "seat": chair.seat, "question": clarification.question,
        "asked_at": now, "due_at": clarification.due_at})
    return {"clarification_id": clarification.id, "bid_id": bid.bid_id, "due_at": rfc3339(clarification.due_at)}


def _default_minutes(ctx: Context) -> int:
    chosen = (ctx.ev.settings or {}).get("clarification_minutes")
    return int(chosen) if chosen is not None else DEFAULT_MINUTES


# --- answering -------------------------------------------------------------------------------------


async def handle_answer(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``answer_clarification {clarification_id, answer, signature}``: the bidder answers, signed."""
    actor = ctx.actor
    if Role.BIDDER not in actor.roles or actor.party_id is None:
        raise PermissionDenied("answering a clarification is for the bidder it was asked of")
    message = parse(AnswerClarification, fields)
    if not message.answer.strip():
        raise InvalidInput("the answer is empty", [FieldError("$.answer", "write the answer")])
    clarification = await session.get(Clarification, message.clarification_id, with_for_update=True)
    if clarification is None or clarification.session_id != ctx.session_id:
        raise NotFound(f"clarification {message.clarification_id} does not exist in session {ctx.session_id}")
    if clarification.party_id != actor.party_id:
        raise PermissionDenied(f"clarification {clarification.id} was asked of another bidder")
    if clarification.status == ClarificationStatus.ANSWERED:
        raise Conflict(f"clarification {clarification.id} is already answered")
    now = utcnow()
    if clarification.status == ClarificationStatus.EXPIRED or now >= clarification.due_at:
        raise RuleViolation(f"the answer to clarification {clarification.id} was due by "
                            f"{rfc3339(clarification.due_at)}; it is no longer accepted",
                            rule="clarification_deadline")
    bid = await session.scalar(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == ctx.session_id,
                                                             EvaluatedBid.bid_id == clarification.bid_id))
    assert bid is not None
    signer = await check_signature(session, ctx.services.revocation, clarification_statement(
        clarification.id, message.answer), message.signature, what="the clarification answer")  # type: ignore[arg-type]
    if signer.identity.get("uscc") != bid.bidder_uscc:
        raise PermissionDenied(f"the certificate names the organisation with credit code "
                               f"{signer.identity.get('uscc')}, not {bid.bidder_name} ({bid.bidder_uscc})")
    clarification.answer, clarification.answer_signature = message.answer, message.signature
    clarification.signer_fingerprint, clarification.answered_by = signer.fingerprint, actor.user_id
    clarification.answered_at, clarification.status = now, ClarificationStatus.ANSWERED
    session.add(clarification)
    await session.flush()
    await record(session, actor, ctx.session_id, events.CLARIFICATION_ANSWERED, {
        "clarification_id": clarification.id, "bid_id": clarification.bid_id, "party_id": clarification.party_id,
        "answer": clarification.answer, "signer_fingerprint": signer.fingerprint, "answered_at": now})
    return {"clarification_id": clarification.id, "answered_at": rfc3339(now)}


# --- waiting -----------------------------------------------------------------------------------------


async def open_clarifications(session: AsyncSession, ctx: Context) -> int:
    """Questions still waiting for an answer; those past their deadline expire first."""
    waiting = list(await session.scalars(sa.select(Clarification).where(
        Clarification.session_id == ctx.session_id, Clarification.status == ClarificationStatus.OPEN)
        .order_by(Clarification.id)))
    now = utcnow()
    still_open = 0
    for clarification in waiting:
        if now < clarification.due_at:
            still_open += 1
            continue
        clarification.status = ClarificationStatus.EXPIRED
        session.add(clarification)
        await session.flush()
        await record(session, None, ctx.session_id, events.CLARIFICATION_EXPIRED, {
            "clarification_id": clarification.id, "bid_id": clarification.bid_id,
            "party_id": clarification.party_id, "due_at": clarification.due_at})
    return still_open


# --- signatures (shared with the report) -------------------------------------------------------------



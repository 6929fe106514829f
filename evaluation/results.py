"""Results (评审结果): the method's ranking and candidates, shown to the committee, which
accepts them or states its dissent.

On entering the stage the lot's method (``evaluation.methods.evaluate``) runs over the
corrected prices, the preliminary review's outcome and the final round of every member's
scores; the outcome is stored on each ``EvaluatedBid`` (price score, total, rank,
candidate, abnormally low) and whole in ``ev.results``. Each active member then accepts
or records a written dissent (DOMAIN.md: all members sign; dissent in writing), and the
stage is complete when every member has done one or the other. Who accepted is kept in
``ev.results["accepted"]``; dissent is a ``Dissent`` row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict
from evaluation import events
from evaluation.context import Context
from evaluation.message_schemas import AcceptResults, DissentMessage
from evaluation.methods import BidInput, MethodResult, evaluate, scoring_factors
from evaluation.models import Dissent, EvaluatedBid
from evaluation.record import record
from evaluation.review import active_members, project_and_lot, session_bid, session_bids
from evaluation.schemas import parse
from evaluation.scoring import final_scores
from evaluation.states import Stage
from supervision.ledger.canonical import to_json_value

NO_PRICE = "no readable price at the opening"


async def compute(session: AsyncSession, ctx: Context) -> MethodResult:
    """Run the method and store its outcome (on entering RESULTS)."""
    ev = ctx.ev
    project, lot = await project_and_lot(session, ev)
    bids = await session_bids(session, ctx.session_id)
    priced = [bid for bid in bids if bid.corrected_price is not None and bid.corrected_price > 0]
    priced_ids = {bid.bid_id for bid in priced}
    inputs = [BidInput(bid.bid_id, bid.corrected_price, bool(bid.review_passed)) for bid in priced]  # type: ignore[arg-type]
    member_scores = await final_scores(session, ctx) if scoring_factors(ev.method, ev.parameters) else {}
    result = evaluate(ev.method, ev.parameters, inputs, member_scores, segment=project.segment,
                      ceiling_price=lot.ceiling_price, budget=lot.budget)
    excluded = {**{bid.bid_id: NO_PRICE for bid in bids if bid.bid_id not in priced_ids}, **result.excluded}
    ranked = {row.bid_id: row for row in result.ranking}
    for bid in bids:
        row = ranked.get(bid.bid_id)
        bid.price_score = row.price_score if row else None
        bid.total_score = row.total if row else None
        bid.rank = row.rank if row else None
        bid.candidate = bool(row and row.candidate)
        bid.abnormally_low = bid.bid_id in result.abnormally_low
        session.add(bid)
    ev.results = to_json_value({
        "method": result.method, "benchmark_price": result.benchmark_price,
        "ranking": [{"bid_id": row.bid_id, "price": row.price, "price_score": row.price_score,
                     "factor_scores": row.factor_scores, "total": row.total, "rank": row.rank,
                     "candidate": row.candidate} for row in result.ranking],
        "excluded": [{"bid_id": bid_id, "reason": reason} for bid_id, reason in sorted(excluded.items())],
        "abnormally_low": sorted(result.abnormally_low), "notes": list(result.notes), "accepted": []})
    ev.updated_at = utcnow()
    session.add(ev)
    await session.flush()
    payload = {key: value for key, value in (ev.results or {}).items() if key != "accepted"}
    await record(session, None, ctx.session_id, events.RESULTS_COMPUTED, payload)
    return result


def candidates_in_order(bids: list[EvaluatedBid]) -> list[EvaluatedBid]:
    return sorted((bid for bid in bids if bid.candidate), key=lambda bid: (bid.rank or 0, bid.bid_id))


def benchmark_price(results: dict[str, Any] | None) -> Decimal | None:
    value = (results or {}).get("benchmark_price")
    return Decimal(value) if value is not None else None


# --- the members' answers --------------------------------------------------------------------------


def _accepted(ctx: Context) -> list[int]:
    return list((ctx.ev.results or {}).get("accepted", []))


async def _dissenters(session: AsyncSession, ctx: Context) -> set[int]:
    rows = await session.scalars(sa.select(Dissent.member_id).where(Dissent.session_id == ctx.session_id,
                                                                    Dissent.stage == Stage.RESULTS))
    return set(rows)


async def handle_accept(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``accept_results {}``: a member accepts the results as shown."""
    ctx.require_stage(Stage.RESULTS, doing="accepting the results")
    member = ctx.require_active_member("accepting the results")
    parse(AcceptResults, fields)
    accepted = _accepted(ctx)
    if member.id in accepted:
        raise Conflict(f"seat {member.seat} has already accepted the results")
    if member.id in await _dissenters(session, ctx):
        raise Conflict(f"seat {member.seat} has recorded dissent from the results; the dissent is its answer")
    ctx.ev.results = {**(ctx.ev.results or {}), "accepted": [*accepted, member.id]}
    ctx.ev.updated_at = utcnow()
    session.add(ctx.ev)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.RESULTS_ACCEPTED,
                 {"member_id": member.id, "seat": member.seat})
    return {"accepted": True}


async def handle_dissent(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``dissent {text, bid_id?}``: a member's written dissent, attached to the report."""
    ctx.require_stage(Stage.RESULTS, doing="recording dissent")
    member = ctx.require_active_member("recording dissent")
    message = parse(DissentMessage, fields)
    if member.id in _accepted(ctx):
        raise Conflict(f"seat {member.seat} has already accepted the results")
    bid_id = (await session_bid(session, ctx, message.bid_id)).bid_id if message.bid_id is not None else None
    dissent = Dissent(session_id=ctx.session_id, member_id=member.id, stage=Stage.RESULTS, bid_id=bid_id,  # type: ignore[arg-type]
                      text=message.text, recorded_at=utcnow())
    session.add(dissent)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.DISSENT_RECORDED, {
        "dissent_id": dissent.id, "member_id": member.id, "seat": member.seat, "stage": Stage.RESULTS.value,
        "bid_id": bid_id, "text": message.text})
    return {"dissent_id": dissent.id}


async def stage_complete(session: AsyncSession, ctx: Context) -> bool:
    """Every active member accepted or recorded dissent."""
    members = await active_members(session, ctx.session_id)
    answered = set(_accepted(ctx)) | await _dissenters(session, ctx)
    return bool(members) and all(member.id in answered for member in members)

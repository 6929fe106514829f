"""Detailed scoring (详细评审): every active member scores every bid that passed the
preliminary review on every factor of the method, within the factor's points.

Scores stay each member's own until every member has submitted (the views show the others
only progress); until then a member may resubmit freely. Once the table is complete, the
scores are checked for what a machine can see of the grounds DOMAIN.md allows a score to
be changed for: an objective factor scored differently, and an abnormal score (畸高畸低)
far from the others (``evaluation.methods.flag_scores``). A flagged member confirms the
score with a reason or revises it (which checks again); no other score may change any
more. The chair may ask the whole committee to score one factor of one bid again: that
pair gets a new round, and only the final round of each pair counts.

The round of a re-scored pair is kept in ``ev.settings["rescore_rounds"]``
(``"<bid_id>:<factor>" -> round``; every other pair is in round 1) and ``ev.scoring_round``
is the latest round handed out.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, FieldError, InvalidInput, RuleViolation
from evaluation import events
from evaluation.clarifications import open_clarifications
from evaluation.context import Context
from evaluation.message_schemas import ConfirmScore, RequestRescore, ScoreMessage
from evaluation.methods import flag_scores, scoring_factors
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession, Score
from evaluation.record import record
from evaluation.review import active_members, session_bid, session_bids
from evaluation.schemas import DEFAULT_ABNORMAL_SCORE_THRESHOLD, parse
from evaluation.states import Stage

RESCORE_ROUNDS = "rescore_rounds"
FLAG_COLUMN = 200
Key = tuple[int, int, str]  # member_id, bid_id, factor


# --- the session's scoring rules ------------------------------------------------------------------


SCORES_MEMO = "scoring.table"


def factors_of(ev: EvaluationSession) -> dict[str, Decimal]:
    return scoring_factors(ev.method, ev.parameters)


def pair_round(ev: EvaluationSession, bid_id: int, factor: str) -> int:
    return int((ev.settings or {}).get(RESCORE_ROUNDS, {}).get(f"{bid_id}:{factor}", 1))


def threshold_share(ev: EvaluationSession, max_points: Decimal) -> Decimal:
    """The session's threshold is in points (a score further than that from the others is
    abnormal); ``flag_scores`` takes it as a share of the factor's points."""
    raw = (ev.settings or {}).get("abnormal_score_threshold")
    points = Decimal(str(raw)) if raw is not None else DEFAULT_ABNORMAL_SCORE_THRESHOLD
    return min(Decimal(1), points / max_points)


async def scored_bids(session: AsyncSession, ctx: Context) -> list[Any]:
    bids = ctx.composition.bids if ctx.composition is not None else await session_bids(session, ctx.session_id)
    return [bid for bid in bids if bid.review_passed]


async def scoring_members(session: AsyncSession, ctx: Context) -> list[Any]:
    """The active members, from the message's cached composition if it has one."""
    if ctx.composition is not None:
        return ctx.composition.active()
    return await active_members(session, ctx.session_id)


async def current_scores(session: AsyncSession, ev: EvaluationSession) -> dict[Key, Score]:
    """Every member's score of every pair in the pair's current (final) round."""
    rows = await session.scalars(sa.select(Score).where(Score.session_id == ev.id))
    return {(row.member_id, row.bid_id, row.factor): row for row in rows
            if row.round == pair_round(ev, row.bid_id, row.factor)}


def _complete(table: dict[Key, Score], members: list[CommitteeMember], bids: list[EvaluatedBid],
              factors: dict[str, Decimal]) -> bool:
    return all((m.id, b.bid_id, f) in table for m in members for b in bids for f in factors)


async def _first_round_complete(session: AsyncSession, ev: EvaluationSession, members: list[CommitteeMember],
                                bids: list[EvaluatedBid], factors: dict[str, Decimal]) -> bool:
    """Everyone has submitted round 1: from now on only flagged or re-scored scores change."""
    rows = await session.execute(sa.select(Score.member_id, Score.bid_id, Score.factor).where(
        Score.session_id == ev.id, Score.round == 1))
    have = {tuple(row) for row in rows}
    return all((m.id, b.bid_id, f) in have for m in members for b in bids for f in factors)


async def _passed_bid(session: AsyncSession, ctx: Context, bid_id: int, doing: str) -> Any:
    if ctx.composition is not None:
        bid: Any = ctx.composition.bid(ctx.session_id, bid_id)
    else:
        bid = await session_bid(session, ctx, bid_id)
    if not bid.review_passed:
        raise RuleViolation(f"bid {bid_id} failed preliminary review; {doing} for a bid that failed preliminary "
                            "review is refused", rule="score_failed_bid")
    return bid


def _factor(factors: dict[str, Decimal], name: str) -> str:
    if name not in factors:
        raise InvalidInput(f"{name!r} is not a scoring factor of this session",
                           [FieldError("$.factor", f"factors: {', '.join(factors)}")])
    return name


# --- a member's scores ---------------------------------------------------------------------------------


async def handle_score(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``score {bid_id, scores: {factor: "points"}}``: one member's scores of one bid.

    A first submission gives every factor; a resubmission may give only what it changes.
    """
    ctx.require_stage(Stage.DETAILED_SCORING, doing="scoring a bid")
    member = ctx.require_active_member("scoring a bid")
    message = parse(ScoreMessage, fields)
    bid = await _passed_bid(session, ctx, message.bid_id, "a score")
    factors = factors_of(ctx.ev)
    members = await scoring_members(session, ctx)
    bids = await scored_bids(session, ctx)
    table = await current_scores(session, ctx.ev)
    _check_scores(message.scores, factors, {f for (m, b, f) in table if m == member.id and b == bid.bid_id})
    if (ctx.ev.settings or {}).get(RESCORE_ROUNDS):
        frozen = await _first_round_complete(session, ctx.ev, members, bids, factors)
    else:  # no re-score yet: the current table is round 1
        frozen = _complete(table, members, bids, factors)
    changes = _changes(ctx.ev, table, member, bid, message.scores, members, frozen)
    now = utcnow()
    changed: set[Key] = set()
    for factor, (row, value) in changes.items():
        if row is None or row.value != value:
            changed.add((member.id, bid.bid_id, factor))  # type: ignore[arg-type]
        if row is None:
            row = Score(session_id=ctx.session_id, member_id=member.id, bid_id=bid.bid_id, factor=factor,  # type: ignore[arg-type]
                        round=pair_round(ctx.ev, bid.bid_id, factor), value=value, submitted_at=now)
        elif row.value != value:
            row.value, row.confirmation, row.submitted_at = value, None, now
        session.add(row)
        table[(member.id, bid.bid_id, factor)] = row  # type: ignore[index]
    await session.flush()
    revised = any(row is not None for row, _ in changes.values())
    await record(session, ctx.actor, ctx.session_id, events.BID_SCORED, {
        "member_id": member.id, "seat": member.seat, "bid_id": bid.bid_id, "scores": message.scores,
        "rounds": {factor: pair_round(ctx.ev, bid.bid_id, factor) for factor in message.scores},
        "revised": revised})
    if _complete(table, members, bids, factors):
        await _flag(session, ctx, table, members, bids, factors, changed)
    ctx.memo[SCORES_MEMO] = (members, bids, table)
    flagged = sorted(factor for (m, b, factor), row in table.items()
                     if m == member.id and b == bid.bid_id and row.flagged and not row.confirmation)
    return {"bid_id": bid.bid_id, "factors": len(message.scores), "revised": revised, "flagged": flagged}


def _check_scores(scores: dict[str, Decimal], factors: dict[str, Decimal], already: set[str]) -> None:
    """Known factors within their points; every factor on the member's first submission."""
    problems = [FieldError(f"$.scores.{name}", f"not a scoring factor of this session (factors: "
                                               f"{', '.join(factors)})")
                for name in scores if name not in factors]
    problems += [FieldError(f"$.scores.{name}", f"a score outside its bounds: {name} is scored from 0 to "
                                                f"{factors[name]}, got {value}")
                 for name, value in scores.items() if name in factors and not 0 <= value <= factors[name]]
    problems += [FieldError(f"$.scores.{name}", "every factor is scored") for name in factors
                 if name not in scores and name not in already]
    if problems:
        raise InvalidInput("; ".join(f"{p.pointer}: {p.message}" for p in problems[:5]), problems)


def _changes(ev: EvaluationSession, table: dict[Key, Score], member: CommitteeMember, bid: EvaluatedBid,
             scores: dict[str, Decimal], members: list[CommitteeMember],
             frozen: bool) -> dict[str, tuple[Score | None, Decimal]]:
    """The rows this submission writes; refuses changing a score that may no longer change."""
    changes: dict[str, tuple[Score | None, Decimal]] = {}
    for factor, value in scores.items():
        row = table.get((member.id, bid.bid_id, factor))
        if row is not None and row.value != value and frozen and not row.flagged:
            rescored = pair_round(ev, bid.bid_id, factor) > 1 and not all(
                (m.id, bid.bid_id, factor) in table for m in members)
            if not rescored:
                raise RuleViolation(
                    f"every member has submitted; your score of {factor} for bid {bid.bid_id} is not flagged and "
                    "not being scored again, so it can no longer change", rule="score_change")
        changes[factor] = (row, value)
    return changes


# --- flags -------------------------------------------------------------------------------------------


async def _flag(session: AsyncSession, ctx: Context, table: dict[Key, Score], members: list[CommitteeMember],
                bids: list[EvaluatedBid], factors: dict[str, Decimal], changed: set[Key]) -> None:
    """Check every pair of the complete table: a new flag (or a flag on a changed score) is
    recorded for its member to confirm or revise; a flag that no longer applies is lifted."""
    objective = set((ctx.ev.settings or {}).get("objective_factors") or [])
    seats = {m.id: m.seat for m in members}
    for bid in bids:
        for factor, maximum in factors.items():
            rows = {m.id: table[(m.id, bid.bid_id, factor)] for m in members}
            flags = flag_scores({member_id: row.value for member_id, row in rows.items()}, max_points=maximum,
                                objective=factor in objective, threshold=threshold_share(ctx.ev, maximum))
            for member_id, row in rows.items():
                reason = flags.get(member_id)
                if reason is None:
                    row.flagged, row.confirmation = None, None
                elif row.flagged is None or (member_id, bid.bid_id, factor) in changed:
                    row.flagged, row.confirmation = reason[:FLAG_COLUMN], None
                    await record(session, None, ctx.session_id, events.SCORE_FLAGGED, {
                        "member_id": member_id, "seat": seats[member_id], "bid_id": bid.bid_id, "factor": factor,
                        "round": row.round, "value": row.value, "reason": reason})
                session.add(row)
    await session.flush()


async def handle_confirm_score(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``confirm_score {bid_id, factor, reason}``: a member keeps a flagged score, saying why."""
    ctx.require_stage(Stage.DETAILED_SCORING, doing="confirming a score")
    member = ctx.require_active_member("confirming a score")
    message = parse(ConfirmScore, fields)
    bid = await _passed_bid(session, ctx, message.bid_id, "a score confirmation")
    factor = _factor(factors_of(ctx.ev), message.factor)
    row = (await current_scores(session, ctx.ev)).get((member.id, bid.bid_id, factor))  # type: ignore[arg-type]
    if row is None or not row.flagged:
        raise Conflict(f"your score of {factor} for bid {bid.bid_id} is not flagged; there is nothing to confirm")
    row.confirmation = message.reason
    session.add(row)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.SCORE_CONFIRMED, {
        "member_id": member.id, "seat": member.seat, "bid_id": bid.bid_id, "factor": factor, "round": row.round,
        "value": row.value, "reason": message.reason})
    return {"bid_id": bid.bid_id, "factor": factor, "confirmed": True}


async def handle_request_rescore(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``request_rescore {bid_id, factor, reason}``: the chair has the committee score one
    factor of one bid again, in a new round."""
    ctx.require_stage(Stage.DETAILED_SCORING, doing="requesting a re-score")
    chair = ctx.require_chair("requesting a re-score")
    message = parse(RequestRescore, fields)
    bid = await _passed_bid(session, ctx, message.bid_id, "a re-score")
    factor = _factor(factors_of(ctx.ev), message.factor)
    members = await scoring_members(session, ctx)
    table = await current_scores(session, ctx.ev)
    if not all((m.id, bid.bid_id, factor) in table for m in members):
        raise Conflict(f"not every member has scored {factor} for bid {bid.bid_id} in its current round yet")
    ev = ctx.ev
    ev.scoring_round += 1
    rounds = dict((ev.settings or {}).get(RESCORE_ROUNDS, {}))
    rounds[f"{bid.bid_id}:{factor}"] = ev.scoring_round
    ev.settings = {**(ev.settings or {}), RESCORE_ROUNDS: rounds}
    ev.updated_at = utcnow()
    session.add(ev)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.RESCORE_REQUESTED, {
        "member_id": chair.id, "seat": chair.seat, "bid_id": bid.bid_id, "factor": factor,
        "round": ev.scoring_round, "reason": message.reason})
    return {"bid_id": bid.bid_id, "factor": factor, "round": ev.scoring_round}


# --- the stage -------------------------------------------------------------------------------------


async def stage_complete(session: AsyncSession, ctx: Context) -> bool:
    """All scored (re-scored pairs too), every flag confirmed or revised away, no open
    clarification."""
    if SCORES_MEMO in ctx.memo:  # this message's score just loaded (and updated) them
        members, bids, table = ctx.memo[SCORES_MEMO]
    else:
        members = await scoring_members(session, ctx)
        table = await current_scores(session, ctx.ev)
        bids = await scored_bids(session, ctx)
    if not members or not _complete(table, members, bids, factors_of(ctx.ev)):
        return False
    member_ids = {m.id for m in members}
    if any(row.flagged and not row.confirmation for (m, _, _), row in table.items() if m in member_ids):
        return False
    return await open_clarifications(session, ctx) == 0


async def final_scores(session: AsyncSession, ctx: Context) -> dict[int, dict[int, dict[str, Decimal]]]:
    """member_id -> bid_id -> factor -> points of the final rounds, active members only."""
    member_ids = {m.id for m in await active_members(session, ctx.session_id)}
    scores: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for (member_id, bid_id, factor), row in (await current_scores(session, ctx.ev)).items():
        if member_id in member_ids:
            scores[member_id][bid_id][factor] = row.value
    return {member_id: dict(by_bid) for member_id, by_bid in scores.items()}


async def close_stage(session: AsyncSession, ctx: Context) -> None:
    """Every member's scores, every round, revealed to the committee now."""
    members = {m.id: m.seat for m in await active_members(session, ctx.session_id)}
    rows = await session.scalars(sa.select(Score).where(Score.session_id == ctx.session_id)
                                 .order_by(Score.bid_id, Score.factor, Score.round, Score.member_id))
    await record(session, None, ctx.session_id, events.SCORING_CONCLUDED, {
        "factors": factors_of(ctx.ev), "rounds": (ctx.ev.settings or {}).get(RESCORE_ROUNDS, {}),
        "scores": [{"member_id": row.member_id, "seat": members.get(row.member_id), "bid_id": row.bid_id,
                    "factor": row.factor, "round": row.round, "value": row.value, "flagged": row.flagged,
                    "confirmation": row.confirmation,
                    "final": row.round == pair_round(ctx.ev, row.bid_id, row.factor)} for row in rows]})

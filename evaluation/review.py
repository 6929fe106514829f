"""Preliminary review (初步评审): every active member marks every bid pass or fail against
every review criterion, and the committee's result is the majority's.

A member's marks for one bid arrive in one message and may be revised until the stage
closes; the stage closes by itself once every active member has marked every bid and no
clarification is waiting for an answer. Closing decides each criterion of each bid by
majority (DOMAIN.md "Evaluation": the majority decides disputes). Rejecting a bid is the
decision that needs the majority, so an even split (possible only when the committee has
an even number of active members) leaves the criterion passed, and the conclusion says
so. Members in the minority are recorded as dissenting with their own reasons, since a
dissenter who does not sign with reasons is deemed to agree.

The price limits are checked here too, without a vote: a corrected price above the lot's
ceiling price (and, in government procurement, above the budget) fails the bid with that
reason, as the method's own calculation would exclude it.

The small queries every stage shares (the session's bids, its active members) live here,
the first stage that needs them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import FieldError, InvalidInput, NotFound
from evaluation import events
from evaluation.clarifications import open_clarifications
from evaluation.context import Context
from evaluation.message_schemas import ReviewMessage
from evaluation.methods import review_criteria_for
from evaluation.models import (
    CommitteeMember,
    Dissent,
    EvaluatedBid,
    EvaluationSession,
    ReviewMark,
)
from evaluation.record import record
from evaluation.schemas import parse
from evaluation.states import MemberStatus, Stage
from trading.models import Lot, Project
from trading.states import Segment

CEILING_CRITERION = "price within the ceiling price"
BUDGET_CRITERION = "price within the budget"
TIE_RULE = ("an even split on a criterion passes the bid: rejecting a bid needs a majority of the active members")


# --- queries the stages share -------------------------------------------------------------------


async def active_members(session: AsyncSession, session_id: int) -> list[CommitteeMember]:
    return list(await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == session_id, CommitteeMember.status == MemberStatus.ACTIVE)
        .order_by(CommitteeMember.seat)))


async def session_bids(session: AsyncSession, session_id: int) -> list[EvaluatedBid]:
    return list(await session.scalars(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == session_id)
                                      .order_by(EvaluatedBid.id)))


async def session_bid(session: AsyncSession, ctx: Context, bid_id: int) -> EvaluatedBid:
    """The bid ``bid_id`` as this session evaluates it, or NotFound naming the field."""
    bid = await session.scalar(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == ctx.session_id,
                                                             EvaluatedBid.bid_id == bid_id))
    if bid is None:
        raise NotFound(f"bid {bid_id} is not under evaluation in session {ctx.session_id}")
    return bid


async def project_and_lot(session: AsyncSession, ev: EvaluationSession) -> tuple[Project, Lot]:
    project = await session.get(Project, ev.project_id)
    lot = await session.get(Lot, ev.lot_id)
    assert project is not None and lot is not None
    return project, lot


async def review_criteria(session: AsyncSession, ev: EvaluationSession) -> list[str]:
    """The session's criteria: its own setting, else the method's defaults for the segment."""
    chosen = (ev.settings or {}).get("review_criteria")
    if chosen:
        return list(chosen)
    project, _ = await project_and_lot(session, ev)
    return review_criteria_for(project.segment, ev.method)


# --- a member's marks -----------------------------------------------------------------------------


async def handle_review(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``review {bid_id, marks: {criterion: {passed, reason}}}``: one member's marks for one bid."""
    ctx.require_stage(Stage.PRELIMINARY_REVIEW, doing="reviewing a bid")
    member = ctx.require_active_member("reviewing a bid")
    message = parse(ReviewMessage, fields)
    bid = await session_bid(session, ctx, message.bid_id)
    criteria = await review_criteria(session, ctx.ev)
    _check_marks(message, criteria)
    existing = {mark.criterion: mark for mark in await session.scalars(sa.select(ReviewMark).where(
        ReviewMark.member_id == member.id, ReviewMark.bid_id == bid.bid_id))}
    now = utcnow()
    for criterion in criteria:
        given = message.marks[criterion]
        mark = existing.get(criterion) or ReviewMark(session_id=ctx.session_id, member_id=member.id,  # type: ignore[arg-type]
                                                     bid_id=bid.bid_id, criterion=criterion, passed=given.passed)
        mark.passed, mark.reason, mark.marked_at = given.passed, given.reason, now
        session.add(mark)
    await session.flush()
    marks = {criterion: {"passed": message.marks[criterion].passed, "reason": message.marks[criterion].reason}
             for criterion in criteria}
    revised = bool(existing)
    await record(session, ctx.actor, ctx.session_id, events.BID_REVIEWED,
                 {"member_id": member.id, "seat": member.seat, "bid_id": bid.bid_id, "marks": marks,
                  "revised": revised})
    failed = sorted(criterion for criterion, mark in marks.items() if not mark["passed"])
    return {"bid_id": bid.bid_id, "criteria": len(criteria), "failed": failed, "revised": revised}


def _check_marks(message: ReviewMessage, criteria: list[str]) -> None:
    """A mark for every criterion and none other; a fail names its reason."""
    problems = [FieldError(f"$.marks.{criterion}", "a mark is required for every review criterion")
                for criterion in criteria if criterion not in message.marks]
    problems += [FieldError(f"$.marks.{name}", f"not a review criterion of this session (criteria: "
                                               f"{', '.join(criteria)})")
                 for name in message.marks if name not in criteria]
    problems += [FieldError(f"$.marks.{name}.reason", "a failed criterion needs a reason")
                 for name, mark in message.marks.items() if name in criteria and not mark.passed and not mark.reason]
    if problems:
        raise InvalidInput("; ".join(f"{p.pointer}: {p.message}" for p in problems[:5]), problems)


# --- the stage -------------------------------------------------------------------------------------


async def stage_complete(session: AsyncSession, ctx: Context) -> bool:
    """Every active member marked every criterion of every bid; no clarification is open."""
    members = await active_members(session, ctx.session_id)
    bids = await session_bids(session, ctx.session_id)
    if not members:
        return False
    criteria = set(await review_criteria(session, ctx.ev))
    member_ids = {member.id for member in members}
    marked = await session.execute(sa.select(ReviewMark.member_id, ReviewMark.bid_id, ReviewMark.criterion).where(
        ReviewMark.session_id == ctx.session_id))
    have = {row for row in marked if row[0] in member_ids and row[2] in criteria}
    if len(have) < len(members) * len(bids) * len(criteria):
        return False
    return await open_clarifications(session, ctx) == 0


async def close_stage(session: AsyncSession, ctx: Context) -> None:
    """The committee's result per bid and criterion by majority, dissent, the price limits."""
    ev = ctx.ev
    members = await active_members(session, ctx.session_id)
    seats = {member.id: member.seat for member in members}
    bids = await session_bids(session, ctx.session_id)
    criteria = await review_criteria(session, ev)
    project, lot = await project_and_lot(session, ev)
    marks: dict[tuple[int, int], dict[str, ReviewMark]] = defaultdict(dict)
    for mark in await session.scalars(sa.select(ReviewMark).where(ReviewMark.session_id == ctx.session_id)):
        if mark.member_id in seats:
            marks[(mark.bid_id, mark.member_id)][mark.criterion] = mark
    now = utcnow()
    table, dissents = [], []
    for bid in bids:
        outcome = _bid_outcome(bid, criteria, members, marks)
        outcome["criteria"].update(_price_limits(bid, project, lot, ev.method))
        failing = [name for name, result in outcome["criteria"].items() if not result["passed"]]
        bid.review_passed = not failing
        bid.rejection_reasons = [{"criterion": name, "reasons": outcome["criteria"][name]["reasons"]}
                                 for name in failing]
        session.add(bid)
        for member_id, text in outcome["dissent"].items():
            dissent = Dissent(session_id=ctx.session_id, member_id=member_id, stage=Stage.PRELIMINARY_REVIEW,  # type: ignore[arg-type]
                              bid_id=bid.bid_id, text=text, recorded_at=now)
            session.add(dissent)
            dissents.append({"member_id": member_id, "seat": seats[member_id], "bid_id": bid.bid_id, "text": text})
        table.append({"bid_id": bid.bid_id, "party_id": bid.party_id, "passed": bid.review_passed,
                      "criteria": outcome["criteria"], "rejection_reasons": bid.rejection_reasons})
    await session.flush()
    await record(session, None, ctx.session_id, events.REVIEW_CONCLUDED, {
        "criteria": criteria, "bids": table, "dissents": dissents, "tie_rule": TIE_RULE,
        "members": [{"member_id": m.id, "seat": m.seat} for m in members],
        "marks": [{"member_id": mark.member_id, "seat": seats[mark.member_id], "bid_id": mark.bid_id,
                   "criterion": mark.criterion, "passed": mark.passed, "reason": mark.reason}
                  for by_criterion in marks.values() for mark in by_criterion.values()],
    })


def _bid_outcome(bid: EvaluatedBid, criteria: list[str], members: list[CommitteeMember],
                 marks: dict[tuple[int, int], dict[str, ReviewMark]]) -> dict[str, Any]:
    """Per criterion: the votes, the committee's result, the majority's reasons for a fail;
    per member in a minority: their dissent in words."""
    results: dict[str, Any] = {}
    dissent: dict[int, list[str]] = defaultdict(list)
    for criterion in criteria:
        given = [(member, marks[(bid.bid_id, member.id)][criterion]) for member in members
                 if criterion in marks[(bid.bid_id, member.id)]]
        passes = [pair for pair in given if pair[1].passed]
        fails = [pair for pair in given if not pair[1].passed]
        passed = len(passes) >= len(fails)
        reasons = [] if passed else sorted({mark.reason for _, mark in fails if mark.reason})
        results[criterion] = {"passed": passed, "for": len(passes), "against": len(fails), "reasons": reasons,
                              "tie": len(passes) == len(fails)}
        for member, mark in (fails if passed else passes):
            stance = "fail" if passed else "pass"
            committee = "pass" if passed else "fail"
            because = f": {mark.reason}" if mark.reason else ""
            dissent[member.id].append(f"{criterion}: marked {stance} against the committee's {committee}{because}")
    return {"criteria": results, "dissent": {member_id: "\n".join(lines) for member_id, lines in dissent.items()}}


def _price_limits(bid: EvaluatedBid, project: Project, lot: Lot, method: str) -> dict[str, Any]:
    """The ceiling (every method but the highest-price one) and, in government procurement,
    the budget: a corrected price above either fails the bid with that reason."""
    price = bid.corrected_price
    if price is None or method == "highest_price":
        return {}
    limits: dict[str, Any] = {}
    if lot.ceiling_price is not None:
        above = price > lot.ceiling_price
        limits[CEILING_CRITERION] = {
            "passed": not above, "automatic": True,
            "reasons": [f"the corrected price {price} is above the ceiling price {lot.ceiling_price}"] if above else []}
    if lot.budget is not None and project.segment == Segment.GOVERNMENT_PROCUREMENT:
        above = price > lot.budget
        limits[BUDGET_CRITERION] = {
            "passed": not above, "automatic": True,
            "reasons": [f"the corrected price {price} is above the budget {lot.budget}"] if above else []}
    return limits

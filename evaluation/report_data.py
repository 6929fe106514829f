"""Everything the evaluation report states, gathered from the tables into ``ReportContent``.

The report builder reads only this data (never the database), so the report is a pure
function of what is gathered here and of ``generated_at``; the session records that
moment with the report's hash, so anyone can gather and build it again to check.

Contents per DOMAIN.md "Evaluation": the notices (their media is the platform; each is
named by its id and publication time), the opening's date and place, the bidders, the
committee with recusals and replacements, the method and criteria, the opening figures
and corrections, the review with invalid bids and their reasons, the scores, the result,
the clarifications and the dissent.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import rfc3339
from evaluation.methods import scoring_factors
from evaluation.models import (
    Clarification,
    CommitteeMember,
    Dissent,
    EvaluatedBid,
    EvaluationSession,
    ReviewMark,
)
from evaluation.report_content import (
    ReportBidder,
    ReportClarification,
    ReportContent,
    ReportDissent,
    ReportMember,
)
from evaluation.results import benchmark_price, candidates_in_order
from evaluation.review import project_and_lot, review_criteria, session_bids
from evaluation.scoring import current_scores
from evaluation.states import MemberStatus
from identities.models import Party
from trading.evaluation_methods import CATALOGUE
from trading.models import Notice
from trading.opening_models import Opening
from trading.states import NoticeKind

PLATFORM_MEDIA = "bidhall public-resource trading platform"
OPENING_PLACE = "online, on the bidhall platform (remote opening of the lot)"
BEFORE_EVALUATION = (NoticeKind.TENDER, NoticeKind.CHANGE)


async def gather(session: AsyncSession, ev: EvaluationSession, *, generated_at: datetime) -> ReportContent:
    """The report's content as the tables hold it now."""
    project, lot = await project_and_lot(session, ev)
    bids = await session_bids(session, ev.id)  # type: ignore[arg-type]
    members = list(await session.scalars(sa.select(CommitteeMember).where(CommitteeMember.session_id == ev.id)
                                         .order_by(CommitteeMember.seat)))
    seats = {m.id: m.seat for m in members}
    names = {bid.bid_id: bid.bidder_name for bid in bids}
    opening = await session.scalar(sa.select(Opening).where(Opening.lot_id == lot.id))
    return ReportContent(
        session_id=ev.id, project_code=project.code, project_title=project.title,  # type: ignore[arg-type]
        lot_code=lot.code, lot_title=lot.title, segment=project.segment, procedure=project.procedure,
        tenderer=await _party_name(session, project.tenderer_party_id),  # type: ignore[arg-type]
        agency=await _party_name(session, project.agency_party_id) if project.agency_party_id else None,
        notice_media=await _notice_media(session, project.id, lot.id),  # type: ignore[arg-type]
        opening_at=(opening.started_at if opening else None) or lot.opening_at, opening_place=OPENING_PLACE,
        method_code=ev.method, method_title=CATALOGUE[ev.method].title if ev.method in CATALOGUE else ev.method,
        parameters=dict(ev.parameters), review_criteria=tuple(await review_criteria(session, ev)),
        factors=scoring_factors(ev.method, ev.parameters), benchmark_price=benchmark_price(ev.results),
        bidders=tuple(_bidder(bid, ev.results) for bid in bids),
        members=tuple(_member(m, members, ev.chair_member_id) for m in members),
        clarifications=await _clarifications(session, ev, names),
        dissents=await dissents_of(session, ev),
        member_scores=await _member_scores(session, ev, seats),
        review_marks=await _review_marks(session, ev, seats),
        candidates=tuple(bid.bid_id for bid in candidates_in_order(bids)),
        generated_at=generated_at)


async def _party_name(session: AsyncSession, party_id: int) -> str:
    party = await session.get(Party, party_id)
    return party.name if party else f"party {party_id}"


async def _notice_media(session: AsyncSession, project_id: int, lot_id: int) -> tuple[str, ...]:
    notices = await session.scalars(sa.select(Notice).where(
        Notice.project_id == project_id, sa.or_(Notice.lot_id.is_(None), Notice.lot_id == lot_id),  # type: ignore[union-attr]
        Notice.kind.in_(BEFORE_EVALUATION)).order_by(Notice.published_at, Notice.id))  # type: ignore[attr-defined]
    return tuple(f"{PLATFORM_MEDIA}, notice {notice.id} ({notice.kind}) published {rfc3339(notice.published_at)}: "
                 f"{notice.title}" for notice in notices)


def _bidder(bid: EvaluatedBid, results: dict[str, Any] | None) -> ReportBidder:
    ranked = {row["bid_id"]: row for row in (results or {}).get("ranking", [])}
    factor_scores = {name: Decimal(value) for name, value in ranked.get(bid.bid_id, {}).get("factor_scores", {}).items()}
    return ReportBidder(
        bid_id=bid.bid_id, name=bid.bidder_name, uscc=bid.bidder_uscc, opened_price=bid.opened_price,
        corrected_price=bid.corrected_price, corrections=tuple(_text(item) for item in bid.corrections),
        review_passed=bid.review_passed, rejection_reasons=tuple(_reason(item) for item in bid.rejection_reasons),
        abnormally_low=bid.abnormally_low, price_score=bid.price_score, factor_scores=factor_scores,
        total_score=bid.total_score, rank=bid.rank, candidate=bid.candidate)


def _text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or item.get("note") or item)
    return str(item)


def _reason(item: Any) -> str:
    """A rejection reason as the review stored it: the criterion and the majority's reasons."""
    if isinstance(item, dict):
        reasons = "; ".join(item.get("reasons") or []) or "failed"
        return f"{item.get('criterion')}: {reasons}"
    return str(item)


def _member(member: CommitteeMember, members: list[CommitteeMember], chair_id: int | None) -> ReportMember:
    replacement = next((m for m in members if m.replaces_member_id == member.id), None)
    note = None
    if member.status == MemberStatus.RECUSED:
        note = f"recused (conflict: {member.recusal_reason or 'declared'})"
        if replacement is not None:
            note += f"; replaced by seat {replacement.seat}"
    elif member.replaces_member_id is not None:
        replaced = next((m for m in members if m.id == member.replaces_member_id), None)
        note = f"replaces seat {replaced.seat}" if replaced else "replacement"
    return ReportMember(seat=member.seat, name=member.name, expert_code=member.expert_code,
                        specialty=member.specialty, venue=member.venue, chair=member.id == chair_id, note=note)


async def _clarifications(session: AsyncSession, ev: EvaluationSession,
                          names: dict[int, str]) -> tuple[ReportClarification, ...]:
    rows = await session.scalars(sa.select(Clarification).where(Clarification.session_id == ev.id)
                                 .order_by(Clarification.id))
    return tuple(ReportClarification(bidder=names.get(c.bid_id, f"bid {c.bid_id}"), question=c.question,
                                     asked_at=c.asked_at, due_at=c.due_at, answer=c.answer,
                                     answered_at=c.answered_at) for c in rows)


async def dissents_of(session: AsyncSession, ev: EvaluationSession) -> tuple[ReportDissent, ...]:
    """The dissent as the report attaches it (the signed bundle carries the same)."""
    by_id = {m.id: m for m in await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == ev.id))}
    names = {bid.bid_id: bid.bidder_name for bid in await session_bids(session, ev.id)}  # type: ignore[arg-type]
    rows = await session.scalars(sa.select(Dissent).where(Dissent.session_id == ev.id).order_by(Dissent.id))
    return tuple(ReportDissent(seat=by_id[d.member_id].seat, member=by_id[d.member_id].name, stage=d.stage,
                               bidder=names.get(d.bid_id) if d.bid_id is not None else None, text=d.text)
                 for d in rows)


async def _member_scores(session: AsyncSession, ev: EvaluationSession,
                         seats: dict[int, int]) -> dict[int, dict[int, dict[str, Decimal]]]:
    table: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for (member_id, bid_id, factor), row in (await current_scores(session, ev)).items():
        table[seats[member_id]][bid_id][factor] = row.value
    return {seat: dict(by_bid) for seat, by_bid in sorted(table.items())}


async def _review_marks(session: AsyncSession, ev: EvaluationSession,
                        seats: dict[int, int]) -> dict[int, dict[int, dict[str, bool]]]:
    table: dict[int, dict[int, dict[str, bool]]] = defaultdict(lambda: defaultdict(dict))
    for mark in await session.scalars(sa.select(ReviewMark).where(ReviewMark.session_id == ev.id)
                                      .order_by(ReviewMark.member_id, ReviewMark.bid_id, ReviewMark.id)):
        table[seats[mark.member_id]][mark.bid_id][mark.criterion] = mark.passed
    return {seat: dict(by_bid) for seat, by_bid in sorted(table.items())}

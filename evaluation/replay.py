"""Replay of the session streams ``evaluation:<session_id>``.

The reducer rebuilds, from the entries alone, what the session's tables hold: the stage,
each seat's status, venue and chair vote, the chair, every member's review marks, the
committee's review result per bid, every member's scores per round, the ranking's ranks
and candidates, acceptances, dissent, clarifications, signatures, and the venue each centre
staff member is on duty at (streams from before staff checked in have none). ``bidhall replay
evaluation:N --check`` compares it with :func:`load_session`.

A finished session has thousands of entries, so the reducer updates one state in place
(plain dict assignments, no copy per entry): replaying 10,000 entries stays far below
the 200 ms the benchmark allows.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation import events
from evaluation.models import (
    Clarification,
    CommitteeMember,
    Dissent,
    EvaluatedBid,
    EvaluationSession,
    EvaluationVenueStaff,
    ReportSignature,
    ReviewMark,
    Score,
)
from evaluation.states import ClarificationStatus, MemberStatus, Stage
from supervision.replay import StreamKind, StreamRegistry

State = dict[str, Any]
Payload = dict[str, Any]


def points(value: Any) -> str:
    """One spelling for a score, whether it comes from an entry (text) or a table (Decimal)."""
    return f"{Decimal(value):.2f}"


def _bid() -> State:
    return {"review_passed": None, "rank": None, "candidate": False, "abnormally_low": False}


def _seat(seat: int, *, status: str = MemberStatus.SEATED.value, venue: str | None = None,
          chair_vote: int | None = None, replaces: int | None = None) -> State:
    return {"seat": seat, "status": status, "venue": venue, "chair_vote": chair_vote, "replaces_member_id": replaces}


def _opened(payload: Payload) -> State:
    return {"stage": Stage.SIGN_IN.value, "method": payload["method"], "chair_member_id": None, "scoring_round": 1,
            "members": {}, "bids": {str(bid["bid_id"]): _bid() for bid in payload.get("bids", [])},
            "marks": {}, "scores": {}, "clarifications": {}, "accepted": [], "dissents": 0, "signatures": [],
            "venue_staff": {},
            "report_sha256": None, "signed_report_sha256": None, **_round(payload)}


def _round(payload: Payload) -> State:
    """Which evaluation of the lot this is; entries from before re-evaluations mean the first."""
    again = payload.get("reevaluation") or {}
    return {"evaluation_round": payload.get("evaluation_round", 1), "reevaluation_of": again.get("of_session_id"),
            "award_withdrawal_id": again.get("award_withdrawal_id"), "reevaluation_reason": again.get("reason")}


# --- one function per entry type; each changes ``state`` in place -------------------------------


def _revealed(state: State, payload: Payload) -> None:
    for member in payload["members"]:
        state["members"][str(member["member_id"])] = _seat(member["seat"])


def _checked_in(state: State, payload: Payload) -> None:
    state["venue_staff"][str(payload["user_id"])] = payload["venue"]


def _seated(state: State, payload: Payload) -> None:
    state["members"][str(payload["member_id"])] = _seat(payload["seat"], replaces=payload.get("replaces_member_id"))


def _status(status: MemberStatus) -> Callable[[State, Payload], None]:
    def apply(state: State, payload: Payload) -> None:
        member = state["members"][str(payload["member_id"])]
        member["status"] = status.value
        if "venue" in payload and status is MemberStatus.SIGNED_IN:
            member["venue"] = payload["venue"]
        if status is MemberStatus.RECUSED:
            member["chair_vote"] = None

    return apply


def _voted(state: State, payload: Payload) -> None:
    state["members"][str(payload["member_id"])]["chair_vote"] = payload["for_member_id"]


def _tied(state: State, payload: Payload) -> None:
    for member in state["members"].values():
        member["chair_vote"] = None


def _elected(state: State, payload: Payload) -> None:
    state["chair_member_id"] = payload["member_id"]


def _stage(state: State, payload: Payload) -> None:
    state["stage"] = payload["to"]


def _reviewed(state: State, payload: Payload) -> None:
    prefix = f"{payload['member_id']}:{payload['bid_id']}:"
    marks = state["marks"]
    for criterion, mark in payload["marks"].items():
        marks[prefix + criterion] = mark["passed"]


def _review_concluded(state: State, payload: Payload) -> None:
    bids = state["bids"]
    for row in payload["bids"]:
        bids[str(row["bid_id"])]["review_passed"] = row["passed"]
    state["dissents"] += len(payload.get("dissents", []))


def _scored(state: State, payload: Payload) -> None:
    prefix = f"{payload['member_id']}:{payload['bid_id']}:"
    rounds = payload.get("rounds", {})
    scores = state["scores"]
    for factor, value in payload["scores"].items():
        scores[f"{prefix}{factor}:{rounds.get(factor, 1)}"] = points(value)


def _rescore(state: State, payload: Payload) -> None:
    state["scoring_round"] = payload["round"]


def _results(state: State, payload: Payload) -> None:
    ranked = {row["bid_id"]: row for row in payload.get("ranking", [])}
    low = set(payload.get("abnormally_low", []))
    for key, bid in state["bids"].items():
        row = ranked.get(int(key))
        bid["rank"] = row["rank"] if row else None
        bid["candidate"] = bool(row and row["candidate"])
        bid["abnormally_low"] = int(key) in low
    state["accepted"] = []


def _accepted(state: State, payload: Payload) -> None:
    state["accepted"].append(payload["member_id"])


def _dissent(state: State, payload: Payload) -> None:
    state["dissents"] += 1


def _clarification(status: ClarificationStatus) -> Callable[[State, Payload], None]:
    def apply(state: State, payload: Payload) -> None:
        state["clarifications"][str(payload["clarification_id"])] = status.value

    return apply


def _prepared(state: State, payload: Payload) -> None:
    state["report_sha256"] = payload["report_sha256"]


def _signed(state: State, payload: Payload) -> None:
    state["signatures"].append(payload["member_id"])


def _finished(state: State, payload: Payload) -> None:
    state["signed_report_sha256"] = payload["bundle_sha256"]


APPLY: dict[str, Callable[[State, Payload], None]] = {
    events.COMMITTEE_REVEALED: _revealed,
    events.STAFF_CHECKED_IN: _checked_in,
    events.MEMBER_SEATED: _seated,
    events.MEMBER_SIGNED_IN: _status(MemberStatus.SIGNED_IN),
    events.IDENTITY_CONFIRMED: _status(MemberStatus.CONFIRMED),
    events.CONFLICT_DECLARED: _status(MemberStatus.ACTIVE),
    events.MEMBER_RECUSED: _status(MemberStatus.RECUSED),
    events.CHAIR_VOTED: _voted,
    events.CHAIR_VOTE_TIED: _tied,
    events.CHAIR_ELECTED: _elected,
    events.STAGE_CHANGED: _stage,
    events.BID_REVIEWED: _reviewed,
    events.REVIEW_CONCLUDED: _review_concluded,
    events.BID_SCORED: _scored,
    events.RESCORE_REQUESTED: _rescore,
    events.RESULTS_COMPUTED: _results,
    events.RESULTS_ACCEPTED: _accepted,
    events.DISSENT_RECORDED: _dissent,
    events.CLARIFICATION_ASKED: _clarification(ClarificationStatus.OPEN),
    events.CLARIFICATION_ANSWERED: _clarification(ClarificationStatus.ANSWERED),
    events.CLARIFICATION_EXPIRED: _clarification(ClarificationStatus.EXPIRED),
    events.REPORT_PREPARED: _prepared,
    events.REPORT_SIGNED: _signed,
    events.SESSION_FINISHED: _finished,
}


def apply_session(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == events.SESSION_OPENED:
        return _opened(payload)
    if state is None:
        return None
    step = APPLY.get(kind)
    if step is not None:
        step(state, payload)
    return state


# --- the same state from the tables ------------------------------------------------------------


async def load_session(session: AsyncSession, stream: str) -> State | None:
    try:
        session_id = int(stream.partition(":")[2])
    except ValueError:
        return None
    ev = await session.get(EvaluationSession, session_id)
    if ev is None:
        return None

    async def rows(model: Any) -> list[Any]:
        return list(await session.scalars(sa.select(model).where(model.session_id == session_id)))

    results = ev.results or {}
    clarifications = await rows(Clarification)
    return {
        "stage": ev.stage, "method": ev.method, "chair_member_id": ev.chair_member_id,
        "scoring_round": ev.scoring_round,
        "members": {str(m.id): _seat(m.seat, status=m.status, venue=m.venue, chair_vote=m.chair_vote,
                                     replaces=m.replaces_member_id) for m in await rows(CommitteeMember)},
        "bids": {str(b.bid_id): {"review_passed": b.review_passed, "rank": b.rank, "candidate": b.candidate,
                                 "abnormally_low": b.abnormally_low} for b in await rows(EvaluatedBid)},
        "marks": {f"{m.member_id}:{m.bid_id}:{m.criterion}": m.passed for m in await rows(ReviewMark)},
        "scores": {f"{s.member_id}:{s.bid_id}:{s.factor}:{s.round}": points(s.value) for s in await rows(Score)},
        "clarifications": {str(c.id): c.status for c in clarifications},
        "accepted": list(results.get("accepted", [])),
        "dissents": len(await rows(Dissent)),
        "signatures": [s.member_id for s in sorted(await rows(ReportSignature), key=lambda s: s.id)],
        "venue_staff": {str(d.user_id): d.venue for d in await rows(EvaluationVenueStaff)},
        "report_sha256": ev.report_sha256, "signed_report_sha256": ev.signed_report_sha256,
        "evaluation_round": ev.evaluation_round, "reevaluation_of": ev.reevaluation_of,
        "award_withdrawal_id": ev.award_withdrawal_id, "reevaluation_reason": ev.reevaluation_reason,
    }


async def list_session_streams(session: AsyncSession) -> list[str]:
    return [events.session_stream(i) for i in (await session.scalars(sa.select(EvaluationSession.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the evaluation stream kind ``evaluation:<session_id>``."""
    registry.register(StreamKind("evaluation", apply_session, load_session, list_session_streams))

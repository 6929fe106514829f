"""Early-warning rules over the evaluation data (registered with ``supervision.warnings`` on import).

The session, its committee and its scores are evaluation's; the draw is the expert pool's
(read through its stream, which evaluation may import). Defaults of the parameters are in
``data/warning_rules.json``; ``docs/warning-rules.md`` documents each rule.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession, Score
from expert_pool.draws import DRAW_FINISHED, draw_stream
from expert_pool.models import Draw
from supervision.ledger.models import LedgerEntry
from supervision.scopes import Scope
from supervision.warnings.rules import (
    Finding,
    Subject,
    Window,
    load_defaults,
    warning_rule,
)
from trading.models import Lot, Project

DEFAULTS = load_defaults("evaluation")


def _scope(project: Project) -> Scope:
    return Scope(region_code=project.region_code, segment=project.segment, project_id=project.id)


def _session_ref(ev: EvaluationSession, lot: Lot, project: Project) -> dict[str, Any]:
    return {"session_id": ev.id, "project_id": project.id, "project_code": project.code, "lot_id": lot.id,
            "lot_code": lot.code}


async def _sessions(session: AsyncSession, column: Any, window: Window) -> list[tuple[EvaluationSession, Lot, Project]]:
    query = (sa.select(EvaluationSession, Lot, Project).join(Lot, Lot.id == EvaluationSession.lot_id)
             .join(Project, Project.id == EvaluationSession.project_id)
             .where(column >= window.since, column <= window.until).order_by(EvaluationSession.id))
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


async def _first_filled_at(session: AsyncSession, draw_id: int) -> datetime | None:
    """When the draw first became complete (its first ``draw_finished`` entry saying filled)."""
    leaves = await session.scalars(sa.select(LedgerEntry.leaf).where(
        LedgerEntry.stream == draw_stream(draw_id), LedgerEntry.type == DRAW_FINISHED).order_by(LedgerEntry.seq))
    for leaf in leaves:
        entry = json.loads(leaf)
        if entry["payload"].get("status") == "filled":
            return datetime.fromisoformat(entry["time"])
    return None


@warning_rule("evaluation.started_before_draw_complete", "Evaluation started before the draw was complete", DEFAULTS)
async def started_before_draw_complete(session: AsyncSession, window: Window) -> list[Finding]:
    """An evaluation session opened in the window before its expert draw was filled (the
    draw's first ``draw_finished`` entry with status filled is later than the session's
    opening, or there is none): a committee that was not drawn in full was at work.
    Evidence: the session's opening time, the draw, its status and when it was filled."""
    findings = []
    for ev, lot, project in await _sessions(session, EvaluationSession.opened_at, window):
        filled_at = await _first_filled_at(session, ev.draw_id)
        if filled_at is not None and filled_at <= ensure_utc(ev.opened_at):
            continue
        draw = await session.get(Draw, ev.draw_id)
        findings.append(Finding(
            Subject("stream", f"evaluation:{ev.id}"), f"lot {lot.code}: evaluation opened before the draw was complete",
            {**_session_ref(ev, lot, project), "opened_at": ev.opened_at, "draw_id": ev.draw_id,
             "draw_status": draw.status if draw else None, "draw_filled_at": filled_at}, _scope(project)))
    return findings


@warning_rule("evaluation.abnormal_scores", "Scores flagged abnormal", DEFAULTS)
async def abnormal_scores(session: AsyncSession, window: Window) -> list[Finding]:
    """A session in which at least ``min_flagged`` scores submitted in the window were
    flagged (an objective factor scored differently from the others, or a score far from
    the committee's, 畸高畸低). Evidence: each flagged score with the member's seat and
    expert code, the bid, factor, round, value, why it was flagged and the member's
    confirmation if any."""
    rows = (await session.execute(
        sa.select(Score, CommitteeMember).join(CommitteeMember, CommitteeMember.id == Score.member_id)
        .where(Score.flagged.is_not(None), Score.submitted_at >= window.since,  # type: ignore[union-attr]
               Score.submitted_at <= window.until).order_by(Score.id))).all()
    by_session: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for score, member in rows:
        by_session[score.session_id].append({
            "seat": member.seat, "expert_code": member.expert_code, "bid_id": score.bid_id, "factor": score.factor,
            "round": score.round, "value": score.value, "flagged": score.flagged, "confirmation": score.confirmation})
    findings = []
    for session_id, flagged in sorted(by_session.items()):
        if len(flagged) < window.integer("min_flagged"):
            continue
        ev = await session.get(EvaluationSession, session_id)
        lot, project = await session.get(Lot, ev.lot_id), await session.get(Project, ev.project_id)  # type: ignore[union-attr]
        findings.append(Finding(
            Subject("stream", f"evaluation:{session_id}"), f"lot {lot.code}: {len(flagged)} score(s) flagged abnormal",  # type: ignore[union-attr]
            {**_session_ref(ev, lot, project), "scores": flagged}, _scope(project)))  # type: ignore[arg-type]
    return findings


async def _first_ranked_party(session: AsyncSession, session_id: int) -> int | None:
    return await session.scalar(sa.select(EvaluatedBid.party_id).where(
        EvaluatedBid.session_id == session_id, EvaluatedBid.rank == 1))


@warning_rule("evaluation.expert_same_winner", "The same expert on committees that pick the same winner", DEFAULTS)
async def expert_same_winner(session: AsyncSession, window: Window) -> list[Finding]:
    """An expert who sat (and did not recuse) on at least ``min_sessions`` committees,
    finished within ``lookback_days``, that ranked the same party first, one of them
    finished in the window. The draw is random: the same pair again and again deserves a
    look. Evidence: the expert, the party and each session with its lot."""
    since = window.since - timedelta(days=window.integer("lookback_days"))
    query = (sa.select(EvaluationSession, CommitteeMember, Lot, Project)
             .join(CommitteeMember, CommitteeMember.session_id == EvaluationSession.id)
             .join(Lot, Lot.id == EvaluationSession.lot_id).join(Project, Project.id == EvaluationSession.project_id)
             .where(EvaluationSession.finished_at.is_not(None), CommitteeMember.status != "recused",  # type: ignore[union-attr]
                    EvaluationSession.finished_at >= since, EvaluationSession.finished_at <= window.until)
             .order_by(EvaluationSession.finished_at, EvaluationSession.id))
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    latest: dict[tuple[int, int], tuple[Project, datetime]] = {}
    winners: dict[int, int | None] = {}
    for ev, member, lot, project in (await session.execute(query)).all():
        if ev.id not in winners:
            winners[ev.id] = await _first_ranked_party(session, ev.id)
        party = winners[ev.id]
        if party is None:
            continue
        key = (member.expert_id, party)
        # A re-evaluation of the same lot is the same committee's work again, not another
        # committee: each lot counts once, by its latest session.
        groups[key] = [seen for seen in groups[key] if seen["lot_id"] != lot.id]
        groups[key].append({**_session_ref(ev, lot, project), "expert_code": member.expert_code,
                            "finished_at": ev.finished_at})
        latest[key] = (project, ensure_utc(ev.finished_at))  # type: ignore[arg-type]
    findings = []
    for (expert_id, party), sessions in sorted(groups.items()):
        project, finished = latest[(expert_id, party)]
        if len(sessions) < window.integer("min_sessions") or finished < window.since:
            continue
        findings.append(Finding(
            Subject("expert", f"expert:{expert_id}:party:{party}"),
            f"expert {sessions[0]['expert_code']} sat on {len(sessions)} committees that ranked party {party} first",
            {"expert_id": expert_id, "expert_code": sessions[0]["expert_code"], "party_id": party,
             "sessions": sessions}, _scope(project)))
    return findings

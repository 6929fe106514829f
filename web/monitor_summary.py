"""What is happening now within a regulator's jurisdiction: the monitor's summary.

Openings in progress, evaluation sessions running and their stage, draws still calling
experts, and the early warnings still open. Each item names its ledger stream, so the
regulator can follow it live (``/ws/supervision/feed?stream_kind=...``) or replay it.

This reads trading, evaluation and the expert pool at once, so it lives at the composition
level. A regulator sees the projects whose region its jurisdiction covers and whose
segment it regulates (``supervision.scopes``, as a query); auditors and administrators see
everything. Draws show how far the calling went, never who was called.
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.clock import rfc3339, utcnow
from core.usecases import use_case
from evaluation.events import session_stream
from evaluation.models import EvaluationSession
from evaluation.states import FINISHED_STAGES
from expert_pool.draws import draw_stream
from expert_pool.models import Draw, DrawCall
from supervision.scopes import OVERSIGHT, UNRESTRICTED, region_prefix
from trading.models import Lot, Project
from trading.opening_models import Opening
from trading.opening_schemas import OpeningStatus

OPENINGS_IN_PROGRESS = (OpeningStatus.AWAITING_DECISION, OpeningStatus.DECRYPTING, OpeningStatus.FALLBACK,
                        OpeningStatus.RECORDING)
DRAW_PENDING = "calling"
LIMIT = 500
"""Items per list; the summary is a glance, the feed and replay have the rest."""


def _within(actor: Actor, query: sa.Select[Any]) -> sa.Select[Any]:
    """``query`` (which joins Project) narrowed to the actor's jurisdiction and industries."""
    if actor.has_any(UNRESTRICTED):
        return query
    if not actor.jurisdiction or not actor.industries:
        return query.where(sa.false())
    return query.where(Project.region_code.startswith(region_prefix(actor.jurisdiction), autoescape=True),
                       Project.segment.in_(sorted(actor.industries)))


def _time(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def _project(row: Any) -> dict[str, Any]:
    return {"project_id": row.project_id, "project_code": row.project_code, "project_title": row.project_title,
            "region_code": row.region_code, "segment": row.segment}


_PROJECT_COLUMNS = (Project.id.label("project_id"), Project.code.label("project_code"),
                    Project.title.label("project_title"), Project.region_code, Project.segment)
_LOT_COLUMNS = (Lot.id.label("lot_id"), Lot.code.label("lot_code"), Lot.title.label("lot_title"))


async def openings_in_progress(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    query = (sa.select(Opening.status, Opening.window_ends_at, Opening.started_at, *_LOT_COLUMNS, *_PROJECT_COLUMNS)
             .join(Lot, Lot.id == Opening.lot_id).join(Project, Project.id == Lot.project_id)
             .where(Opening.status.in_([status.value for status in OPENINGS_IN_PROGRESS]))
             .order_by(Opening.started_at, Opening.id).limit(LIMIT))
    rows = (await session.execute(_within(actor, query))).all()
    return [{"lot_id": row.lot_id, "lot_code": row.lot_code, "lot_title": row.lot_title, **_project(row),
             "status": row.status, "started_at": _time(row.started_at), "window_ends_at": _time(row.window_ends_at),
             "stream": f"opening:{row.lot_id}"} for row in rows]


async def sessions_running(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    query = (sa.select(EvaluationSession.id.label("session_id"), EvaluationSession.stage, EvaluationSession.method,
                       EvaluationSession.opened_at, *_LOT_COLUMNS, *_PROJECT_COLUMNS)
             .join(Lot, Lot.id == EvaluationSession.lot_id).join(Project, Project.id == EvaluationSession.project_id)
             .where(EvaluationSession.stage.not_in([stage.value for stage in FINISHED_STAGES]))
             .order_by(EvaluationSession.opened_at, EvaluationSession.id).limit(LIMIT))
    rows = (await session.execute(_within(actor, query))).all()
    return [{"session_id": row.session_id, "stage": row.stage, "method": row.method,
             "opened_at": _time(row.opened_at), "lot_id": row.lot_id, "lot_code": row.lot_code,
             "lot_title": row.lot_title, **_project(row), "stream": session_stream(row.session_id)} for row in rows]


async def draws_pending(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """Draws still calling experts: the quotas and how many calls were made and accepted."""
    calls = (sa.select(DrawCall.draw_id, sa.func.count().label("called"),
                       sa.func.count().filter(DrawCall.answer == "accepted").label("accepted"))
             .group_by(DrawCall.draw_id).subquery())
    query = (sa.select(Draw.id.label("draw_id"), Draw.lot_reference, Draw.quotas, Draw.evaluation_at,
                       Draw.created_at, sa.func.coalesce(calls.c.called, 0).label("called"),
                       sa.func.coalesce(calls.c.accepted, 0).label("accepted"), *_LOT_COLUMNS, *_PROJECT_COLUMNS)
             .outerjoin(calls, calls.c.draw_id == Draw.id)
             .outerjoin(Lot, Lot.code == Draw.lot_reference).outerjoin(Project, Project.id == Lot.project_id)
             .where(Draw.status == DRAW_PENDING).order_by(Draw.created_at, Draw.id).limit(LIMIT))
    rows = (await session.execute(_within(actor, query))).all()
    return [{"draw_id": row.draw_id, "lot_reference": row.lot_reference, "lot_id": row.lot_id, **_project(row),
             "experts_needed": sum(int(count) for count in (row.quotas or {}).values()),
             "called": int(row.called), "accepted": int(row.accepted),
             "evaluation_at": _time(row.evaluation_at), "requested_at": _time(row.created_at),
             "stream": draw_stream(row.draw_id)} for row in rows]


UNRESOLVED_WARNINGS = ("open", "acknowledged", "investigating")
WARNINGS_COUNTED = 10_000


async def warnings_open(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Warnings not closed yet, counted by rule and by status, from the warnings service
    when it is installed (its own jurisdiction check decides what the actor sees)."""
    try:
        service = importlib.import_module("supervision.warnings.service")
    except ImportError:
        service = None
    listing = getattr(service, "list_warnings", None)
    if listing is None:
        return {"available": False, "detail": "not available: early warnings are not installed"}
    by_rule: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for status in UNRESOLVED_WARNINGS:
        for warning in await listing(session, actor, status=status, limit=WARNINGS_COUNTED):
            by_rule[str(warning.rule_code)] += 1
            by_status[status] += 1
    return {"available": True, "total": sum(by_rule.values()), "by_rule": dict(sorted(by_rule.items())),
            "by_status": {status: by_status[status] for status in UNRESOLVED_WARNINGS}, "stream_kind": "warning"}


@use_case("supervision.summary", OVERSIGHT)
async def summary(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """What is happening now within the caller's jurisdiction and industries."""
    unrestricted = actor.has_any(UNRESTRICTED)
    return {
        "as_of": rfc3339(utcnow()),
        "jurisdiction": None if unrestricted else actor.jurisdiction,
        "industries": None if unrestricted else sorted(actor.industries),
        "openings": await openings_in_progress(session, actor),
        "evaluations": await sessions_running(session, actor),
        "draws": await draws_pending(session, actor),
        "warnings": await warnings_open(session, actor),
    }

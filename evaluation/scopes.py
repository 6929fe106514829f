"""The region and segment of the evaluation streams, for regulators (``supervision.scopes``).

``evaluation:<session_id>`` belongs to its lot's project. ``draw:<id>`` (the expert pool
knows no projects) belongs to the project of the session that uses the draw; before that
session exists, to the project of the lot the draw names (``lot_reference`` is the lot's
code when trading asks for the draw); a draw naming no lot has no scope (only auditors
and administrators see it).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import EvaluationSession
from expert_pool.models import Draw
from supervision.scopes import Scope, register_scope
from trading.models import Lot, Project
from trading.scopes import scope_from, stream_id


async def session_scope(session: AsyncSession, stream: str) -> Scope | None:
    session_id = stream_id(stream)
    if session_id is None:
        return None
    return await scope_from(session, sa.select(Project.region_code, Project.segment, Project.id)
                            .join(EvaluationSession, EvaluationSession.project_id == Project.id)
                            .where(EvaluationSession.id == session_id))


async def draw_scope(session: AsyncSession, stream: str) -> Scope | None:
    draw_id = stream_id(stream)
    if draw_id is None:
        return None
    used = await scope_from(session, sa.select(Project.region_code, Project.segment, Project.id)
                            .join(EvaluationSession, EvaluationSession.project_id == Project.id)
                            .where(EvaluationSession.draw_id == draw_id).order_by(EvaluationSession.id))
    if used is not None:
        return used
    return await scope_from(session, sa.select(Project.region_code, Project.segment, Project.id)
                            .join(Lot, Lot.project_id == Project.id)
                            .join(Draw, Draw.lot_reference == Lot.code).where(Draw.id == draw_id))


def install() -> None:
    """Register the resolvers of the evaluation stream kinds."""
    register_scope("evaluation", session_scope)
    register_scope("draw", draw_scope)

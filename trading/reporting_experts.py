"""The expert datasets of the national reporting: the pool's public columns, no person.

Trading and the expert pool do not import each other, so these read the pool's two tables
through a description of only the columns they publish (no model of the pool's is loaded):
the expert's platform code, region, title, years of practice, specialties, status, term and
suspension. The name, identity number, phone, birth date and employer are never read here,
so no batch can carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.database import UTCDateTime

Row = dict[str, Any]
SANCTIONED = ("suspended", "dismissed")  # expert_pool.states.ExpertStatus values with a credit record

_EXPERTS = sa.table(
    "expert_pool_experts", sa.column("id", sa.Integer), sa.column("code", sa.String),
    sa.column("region_code", sa.String), sa.column("title", sa.String), sa.column("years_of_practice", sa.Integer),
    sa.column("status", sa.String), sa.column("status_reason", sa.Text), sa.column("suspended_until", sa.Date),
    sa.column("term_until", sa.Date), sa.column("updated_at", UTCDateTime()))
_SPECIALTIES = sa.table("expert_pool_specialties", sa.column("expert_id", sa.Integer), sa.column("code", sa.String))


@dataclass(frozen=True)
class Window:
    start: datetime  # included
    end: datetime  # excluded


def within(column: Any, window: Window) -> Any:
    return sa.and_(column >= window.start, column < window.end)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _changed(session: AsyncSession, window: Window, statuses: tuple[str, ...] = ()) -> list[Any]:
    query = sa.select(_EXPERTS).where(within(_EXPERTS.c.updated_at, window)).order_by(_EXPERTS.c.id)
    if statuses:
        query = query.where(_EXPERTS.c.status.in_(statuses))
    return list((await session.execute(query)).all())


async def experts(session: AsyncSession, window: Window) -> list[Row]:
    changed = await _changed(session, window)
    specialties: dict[int, list[str]] = {}
    if changed:
        found = await session.execute(sa.select(_SPECIALTIES).where(
            _SPECIALTIES.c.expert_id.in_([expert.id for expert in changed])))
        for expert_id, code in found.all():
            specialties.setdefault(expert_id, []).append(code)
    return [{"expert_code": expert.code, "region_code": expert.region_code, "title": expert.title,
             "specialties": sorted(specialties.get(expert.id, [])), "years_of_practice": expert.years_of_practice,
             "status": expert.status, "term_until": _day(expert.term_until)} for expert in changed]


async def expert_credit(session: AsyncSession, window: Window) -> list[Row]:
    return [{"expert_code": expert.code, "status": expert.status, "reason": expert.status_reason,
             "suspended_until": _day(expert.suspended_until)}
            for expert in await _changed(session, window, SANCTIONED)]

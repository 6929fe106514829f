"""Who may be drawn for an evaluation: the eligible snapshot, computed in the database.

An expert is eligible for a requested specialty when they are admitted, within their term,
not on leave that day, hold the specialty or a narrower one (A0401 serves a request for
A04), work for none of the parties to avoid and have had no tie to one within the last
three years, and have not reached the frequency limit. The result is keyed by the experts'
public codes, never their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import to_shanghai
from expert_pool.models import (
    DrawCall,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    ExpertUnavailability,
)
from expert_pool.states import ExpertStatus

AVOIDANCE_DAYS = 3 * 365 + 1  # "within 3 years", counting one leap day


@dataclass(frozen=True)
class FrequencyLimit:
    """At most ``evaluations`` accepted invitations within ``days`` (configurable)."""

    evaluations: int = 4
    days: int = 30


async def eligible_snapshot(
    session: AsyncSession,
    specialties: list[str],
    *,
    evaluation_at: datetime,
    avoid_parties: list[str],
    region_code: str | None = None,
    limit: FrequencyLimit = FrequencyLimit(),
) -> dict[str, list[str]]:
    """Specialty -> sorted expert codes eligible for it."""
    day = to_shanghai(evaluation_at).date()
    snapshot: dict[str, list[str]] = {}
    for specialty in sorted(set(specialties)):
        query = _eligible_query(specialty, day, evaluation_at, avoid_parties, region_code, limit)
        snapshot[specialty] = sorted((await session.scalars(query)).all())
    return snapshot


def _eligible_query(specialty: str, day: date, evaluation_at: datetime, avoid: list[str],
                    region_code: str | None, limit: FrequencyLimit) -> sa.Select[tuple[str]]:
    holds_specialty = sa.exists().where(
        ExpertSpecialty.expert_id == Expert.id,
        sa.or_(ExpertSpecialty.code == specialty, ExpertSpecialty.code.startswith(specialty)),
    )
    on_leave = sa.exists().where(
        ExpertUnavailability.expert_id == Expert.id,
        ExpertUnavailability.start_date <= day,
        ExpertUnavailability.end_date >= day,
    )
    horizon = day - timedelta(days=AVOIDANCE_DAYS)
    related = sa.exists().where(
        ExpertRelation.expert_id == Expert.id,
        ExpertRelation.party_uscc.in_(avoid or [""]),
        sa.or_(ExpertRelation.end_date.is_(None), ExpertRelation.end_date >= horizon),
    )
    recent = (
        sa.select(sa.func.count()).select_from(DrawCall)
        .where(DrawCall.expert_id == Expert.id, DrawCall.answer == "accepted",
               DrawCall.answered_at >= evaluation_at - timedelta(days=limit.days))
        .scalar_subquery()
    )
    query = sa.select(Expert.code).where(
        Expert.status == ExpertStatus.ADMITTED,
        sa.or_(Expert.term_until.is_(None), Expert.term_until >= day),
        holds_specialty,
        ~on_leave,
        ~related,
        sa.or_(Expert.employer_uscc.is_(None), Expert.employer_uscc.not_in(avoid or [""])),
        recent < limit.evaluations,
    )
    if region_code is not None:
        query = query.where(Expert.region_code.startswith(region_code.rstrip("0") or region_code))
    return query

"""Builders for expert-pool test data."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.person_id import make_person_id
from expert_pool import service
from expert_pool.models import Expert
from expert_pool.schemas import Admission, ExpertCreate
from expert_pool.states import Title

_serial = itertools.count(100)


def expert_data(*, specialties: list[str] | None = None, title: Title = Title.SENIOR, years: int = 12,
                born: str = "19750505", **overrides: object) -> ExpertCreate:
    number = make_person_id(f"350102{born}{next(_serial) % 1000:03d}")
    values: dict[str, object] = {
        "name": "Wang Wei", "id_number": number, "phone": "13800138000", "employer_name": "Fujian Design Institute",
        "region_code": "350100", "title": title, "years_of_practice": years,
        "specialties": specialties or ["A04"],
    }
    values.update(overrides)
    return ExpertCreate(**values)  # type: ignore[arg-type]


async def admitted_expert(session: AsyncSession, admin: Actor, **overrides: object) -> Expert:
    expert = await service.register_expert(session, admin, expert_data(**overrides))  # type: ignore[arg-type]
    term = date.today() + timedelta(days=3 * 365)
    return await service.admit_expert(session, admin, expert.id, Admission(term_until=term))  # type: ignore[arg-type]

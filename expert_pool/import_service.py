"""Importing an existing pool: every valid row becomes an admitted expert; every problem is
reported by row and field, and an error in one row stops nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.errors import BidhallError
from core.usecases import use_case
from expert_pool import service
from expert_pool.classification import default_classification
from expert_pool.importing import ExpertRecord, RowError, parse_expert_rows
from expert_pool.models import Expert
from expert_pool.schemas import Admission, ExpertCreate

DEFAULT_TERM = timedelta(days=3 * 365)  # a term of three years when the file gives none


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # expert codes
    errors: list[RowError] = field(default_factory=list)
    data_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_rows": self.data_rows,
            "imported": len(self.imported),
            "rejected": len({error.row for error in self.errors}),
            "errors": [{"row": e.row, "column": e.column, "field": e.field, "value": e.value, "message": e.message}
                       for e in self.errors],
        }


@use_case("expert_pool.import_experts", {Role.EXPERT_ADMIN})
async def import_experts(session: AsyncSession, actor: Actor, source: Any, *, format: str | None = None,
                         track: str = "general", region_code: str = "350000") -> ImportReport:
    """Register and admit every valid row; ``region_code`` fills rows that give none."""
    parsed = parse_expert_rows(source, format=format, classification=default_classification())
    report = ImportReport(errors=list(parsed.errors), data_rows=parsed.data_rows)
    known = set((await session.scalars(sa.select(Expert.id_number).where(
        Expert.id_number.in_([record.id_number for record in parsed.records] or [""])))).all())
    for record in parsed.records:
        if record.id_number in known:
            report.errors.append(RowError(record.row, "id_number", record.id_number,
                                          "an expert with this ID number is already in the pool"))
            continue
        try:
            async with session.begin_nested():  # one row's failure rolls back that row only
                expert = await _admit(session, actor, record, track, region_code)
        except (BidhallError, ValueError) as error:
            report.errors.append(RowError(record.row, "", "", getattr(error, "detail", str(error))))
            continue
        report.imported.append(expert.code)
    report.errors.sort(key=lambda error: (error.row, error.field))
    return report


async def _admit(session: AsyncSession, actor: Actor, record: ExpertRecord, track: str, region: str) -> Expert:
    data = ExpertCreate.model_validate({
        "name": record.name, "id_number": record.id_number, "phone": record.phone,
        "employer_name": record.employer, "employer_uscc": record.employer_uscc,
        "region_code": record.region_code or region, "title": record.title.value,
        "years_of_practice": record.years_of_practice, "specialties": list(record.specialties), "track": track,
    }, strict=False)
    expert = await service.register_expert(session, actor, data)
    term = record.term_until if record.term_until and record.term_until > service.today() else \
        service.today() + DEFAULT_TERM
    return await service.admit_expert(session, actor, expert.id, Admission(term_until=term, track=track))  # type: ignore[arg-type]



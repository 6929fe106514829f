"""Keeping the draw index (:class:`expert_pool.eligibility_models.ExpertDrawIndex`) exact.

Every write that changes an expert's status, term, region, public code or specialties calls
:func:`refresh_draw_index` for that expert in the same transaction, after its change: the
expert's index rows are deleted and rebuilt from the base tables, so a draw made after the
commit sees the change, and a rollback takes the index back with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from expert_pool.eligibility_models import ExpertDrawIndex
from expert_pool.models import Expert, ExpertSpecialty
from expert_pool.states import ExpertStatus

# Expert ids per DELETE/INSERT statement: well under SQLite's limit on bound parameters.
REFRESH_BATCH = 500
INDEX_COLUMNS = ("expert_id", "specialty", "expert_code", "region_code", "term_until")


def index_rows_query() -> sa.Select[tuple[int, str, str, str, object]]:
    """What the index holds, computed from the base tables: every specialty held by an
    admitted expert (others cannot be drawn, so they have no rows)."""
    return (
        sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.code, Expert.code, Expert.region_code, Expert.term_until)
        .join(Expert, Expert.id == ExpertSpecialty.expert_id)
        .where(Expert.status == ExpertStatus.ADMITTED)
    )


async def refresh_draw_index(session: AsyncSession, expert_ids: Iterable[int | None]) -> None:
    """Rebuild the index rows of ``expert_ids`` from the base tables (delete, then insert)."""
    ids = sorted({expert_id for expert_id in expert_ids if expert_id is not None})
    if not ids:
        return
    await session.flush()  # the caller's pending changes must be in the tables read below
    table = ExpertDrawIndex.__table__  # Core statements: the ORM holds no index rows to keep in step
    for start in range(0, len(ids), REFRESH_BATCH):
        batch = ids[start:start + REFRESH_BATCH]
        # Two transactions refreshing one expert take turns (in id order: no deadlock), so the
        # second rebuilds from what the first committed instead of colliding with its rows.
        await session.execute(sa.select(Expert.id).where(Expert.id.in_(batch)).order_by(Expert.id).with_for_update())
        await session.execute(sa.delete(table).where(table.c.expert_id.in_(batch)))
        await session.execute(sa.insert(table).from_select(
            list(INDEX_COLUMNS), index_rows_query().where(ExpertSpecialty.expert_id.in_(batch))))

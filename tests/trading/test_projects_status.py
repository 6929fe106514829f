"""The guarded status setters of lots and projects, used by the opening and the award."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM
from core.errors import Conflict
from supervision.ledger.models import LedgerEntry
from tests.trading.factories import open_lot
from trading.events import LOT_STATUS_CHANGED, NOTICE_PUBLISHED, PROJECT_STATUS_CHANGED
from trading.notices import record_notice
from trading.projects import change_lot_status, change_project_status
from trading.states import LotStatus, NoticeKind, ProjectStatus


async def _stream_types(session, project_id: int) -> list[str]:
    rows = await session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.stream == f"project:{project_id}")
                                 .order_by(LedgerEntry.seq))
    return list(rows)


async def test_lot_status_moves_along_the_table_with_an_event(database) -> None:
    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        await change_lot_status(session, SYSTEM, made.lot, LotStatus.OPENING, reason="deadline passed")
        await change_lot_status(session, SYSTEM, made.lot, LotStatus.EVALUATING, reason="opened",
                                details={"bids": 3})
        assert made.lot.status == LotStatus.EVALUATING
        assert await _stream_types(session, made.project.id) == [LOT_STATUS_CHANGED, LOT_STATUS_CHANGED]


async def test_a_move_outside_the_table_is_refused_and_nothing_recorded(database) -> None:
    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        with pytest.raises(Conflict, match="bidding; it cannot become awarded"):
            await change_lot_status(session, SYSTEM, made.lot, LotStatus.AWARDED, reason="too early")
        assert made.lot.status == LotStatus.BIDDING
        assert await _stream_types(session, made.project.id) == []


async def test_project_status_and_notices_land_on_the_project_stream(database) -> None:
    async with database.transaction() as session:
        made = await open_lot(session, custodian_fallback=False)
        await change_project_status(session, SYSTEM, made.project, ProjectStatus.CLOSED, reason="all lots done")
        notice = await record_notice(session, made.tenderer, project=made.project, lot=made.lot,
                                     kind=NoticeKind.RESULT, title="Result", body="Winner: X",
                                     details={"winner": "X"})
        assert notice.id is not None and notice.segment == made.project.segment
        assert await _stream_types(session, made.project.id) == [PROJECT_STATUS_CHANGED, NOTICE_PUBLISHED]
        with pytest.raises(Conflict):
            await change_project_status(session, SYSTEM, made.project, ProjectStatus.DRAFT, reason="no")

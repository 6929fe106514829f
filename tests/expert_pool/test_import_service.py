"""Importing a pool: valid rows admitted (with their ledger entries), bad rows named."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from core.person_id import make_person_id
from expert_pool.import_service import import_experts
from expert_pool.models import Expert
from supervision.ledger.models import LedgerEntry
from tests.factories import actor_of, make_user

HEADER = "姓名,身份证号,手机,工作单位,职称,从业年限,专业\n"


def row(number: int, *, id_number: str | None = None, title: str = "高级", years: str = "12",
        specialties: str = "A04;C02") -> str:
    id_number = id_number or make_person_id(f"35010219700101{number:03d}")
    return f"专家{number},{id_number},138{number:08d},福建设计院,{title},{years},{specialties}\n"


@pytest.fixture
async def admin(database: Database):  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return actor_of(await make_user(session, Role.EXPERT_ADMIN))


async def test_an_error_in_one_row_stops_nothing_else(database: Database, admin) -> None:  # type: ignore[no-untyped-def]
    rows = [row(n) for n in range(1, 41)]
    rows[5] = row(6, id_number="350102197001010060")  # wrong check character -> row 7
    rows[20] = row(21, title="中级", years="5")  # admitted? no: fails the admission rule -> row 22
    rows[30] = row(31, specialties="A04;Z99")  # unknown specialty -> row 32
    data = (HEADER + "".join(rows)).encode("utf-8-sig")
    async with database.transaction() as session:
        report = await import_experts(session, admin, io.BytesIO(data), format="csv")
    assert report.data_rows == 40 and len(report.imported) == 37
    assert sorted({e.row for e in report.errors}) == [7, 22, 32]
    messages = {e.row: (e.field, e.message) for e in report.errors}
    assert messages[7][0] == "id_number" and "check" in messages[7][1]
    assert "8 years" in messages[22][1] and messages[32][0] == "specialties"
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Expert).where(
            Expert.status == "admitted")) == 37
        entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.stream.like("expert:%")))
    assert entries == 37 * 2  # registered, then admitted: nothing of the refused rows

    async with database.transaction() as session:  # importing the same file again adds nobody
        again = await import_experts(session, admin, io.BytesIO(data), format="csv")
    assert again.imported == [] and all("already in the pool" in e.message for e in again.errors
                                        if e.row not in (7, 22, 32))

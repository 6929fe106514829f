"""Regulators read and reveal the draws of their own jurisdiction only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.actors import Actor, Role
from core.database import Database
from core.errors import PermissionDenied
from expert_pool import draws
from supervision.ledger.models import LedgerEntry
from tests.expert_pool.test_draws import people, pool, request  # noqa: F401 - the fixture too
from tests.factories import actor_of, make_user


async def _draw(database: Database, people: dict, region_code: str | None) -> int:  # noqa: F811
    await pool(database, people[Role.EXPERT_ADMIN], 4, ["A04", "C02"])
    async with database.transaction() as session:
        changes = {"region_code": region_code} if region_code else {"region_rule": "remote_pool", "region_code": None}
        return (await draws.request_draw(session, people[Role.CENTER_STAFF], request(**changes))).id  # type: ignore[arg-type, return-value]


async def _guangdong_regulator(database: Database) -> Actor:
    async with database.transaction() as session:
        user = await make_user(session, Role.REGULATOR)
        user.jurisdiction = "440000"
        session.add(user)
    return actor_of(user)


async def test_a_regulator_elsewhere_cannot_read_the_drawn_list(database: Database, people: dict) -> None:  # noqa: F811
    draw_id = await _draw(database, people, "350100")
    outsider = await _guangdong_regulator(database)
    async with database.reader() as session:
        before = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    with pytest.raises(PermissionDenied, match="outside your jurisdiction"):
        async with database.transaction() as session:
            await draws.read_drawn_list(session, outsider, draw_id)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before
    async with database.transaction() as session:  # the Fujian regulator may, and the read is recorded
        await draws.read_drawn_list(session, people[Role.REGULATOR], draw_id)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before + 1


async def test_a_draw_with_no_known_region_is_for_auditors_only(database: Database, people: dict) -> None:  # noqa: F811
    draw_id = await _draw(database, people, None)
    with pytest.raises(PermissionDenied, match="no known region"):
        async with database.transaction() as session:
            await draws.read_drawn_list(session, people[Role.REGULATOR], draw_id)
    async with database.transaction() as session:
        auditor = actor_of(await make_user(session, Role.AUDITOR))
        await draws.read_drawn_list(session, auditor, draw_id)

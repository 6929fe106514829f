"""Handling a warning: open -> acknowledged -> investigating -> closed, each a ledger entry,
by regulators covering its scope only; others are refused and the attempt is recorded."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from supervision.ledger.models import LedgerEntry
from supervision.scopes import oversight_stream
from supervision.warnings import events, service
from supervision.warnings.models import EarlyWarning
from tests.factories import actor_of, make_user
from tests.supervision.warning_fixtures import finding, raise_warnings, regulator


async def _types(session, stream: str) -> list[str]:  # type: ignore[no-untyped-def]
    leaves = await session.scalars(sa.select(LedgerEntry.leaf).where(LedgerEntry.stream == stream)
                                   .order_by(LedgerEntry.seq))
    return [json.loads(leaf)["type"] for leaf in leaves]


async def _one_warning(database: Database, **kwargs) -> int:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return (await raise_warnings(session, finding("lot:1", **kwargs))).raised[0]


async def test_a_regulator_of_the_scope_walks_the_whole_lifecycle(database: Database) -> None:
    warning_id = await _one_warning(database)
    async with database.transaction() as session:
        actor = await regulator(session)
    async with database.transaction() as session:
        assert (await service.acknowledge_warning(session, actor, warning_id)).result().status == "acknowledged"
    async with database.transaction() as session:
        assert (await service.investigate_warning(session, actor, warning_id)).result().status == "investigating"
    async with database.transaction() as session:
        row = (await service.close_warning(session, actor, warning_id, " bids from one office; case opened ")).result()
    assert (row.status, row.status_reason, row.handled_by) == ("closed", "bids from one office; case opened",
                                                              actor.user_id)
    async with database.transaction() as session:
        types = await _types(session, events.warning_stream(warning_id))
    assert types == [events.RAISED, events.ACKNOWLEDGED, events.INVESTIGATING, events.CLOSED]


async def test_a_warning_may_be_closed_straight_away_but_nothing_leaves_closed(database: Database) -> None:
    warning_id = await _one_warning(database)
    async with database.transaction() as session:
        actor = await regulator(session)
        (await service.close_warning(session, actor, warning_id, "false alarm: one consortium")).result()
    for move in (service.acknowledge_warning, service.investigate_warning):
        async with database.transaction() as session:
            with pytest.raises(Conflict, match="closed"):
                await move(session, actor, warning_id)
    async with database.transaction() as session:
        with pytest.raises(Conflict):
            await service.close_warning(session, actor, warning_id, "again")


async def test_acknowledging_twice_is_a_conflict(database: Database) -> None:
    warning_id = await _one_warning(database)
    async with database.transaction() as session:
        actor = await regulator(session)
        (await service.acknowledge_warning(session, actor, warning_id)).result()
    async with database.transaction() as session:
        with pytest.raises(Conflict, match="acknowledged"):
            await service.acknowledge_warning(session, actor, warning_id)


async def test_closing_needs_a_reason_and_stores_nothing_without_one(database: Database) -> None:
    warning_id = await _one_warning(database)
    async with database.transaction() as session:
        actor = await regulator(session)
    for reason in ("", "   ", "x" * 4001):
        async with database.transaction() as session:
            with pytest.raises(InvalidInput) as refused:
                await service.close_warning(session, actor, warning_id, reason)
        assert refused.value.errors[0].pointer == "$.reason"
    async with database.transaction() as session:
        assert (await session.get(EarlyWarning, warning_id)).status == "open"
        assert await _types(session, events.warning_stream(warning_id)) == [events.RAISED]


@pytest.mark.parametrize("jurisdiction, industries", [("440000", ("construction",)),
                                                      ("350000", ("government_procurement",)),
                                                      ("350200", ("construction",))])
async def test_a_regulator_outside_the_scope_is_refused_and_the_attempt_is_recorded(
        database: Database, jurisdiction: str, industries: tuple[str, ...]) -> None:
    warning_id = await _one_warning(database)  # region 350102, construction
    async with database.transaction() as session:
        outsider = await regulator(session, jurisdiction, industries)
    for attempt in (service.get_warning, service.acknowledge_warning):
        async with database.transaction() as session:
            outcome = await attempt(session, outsider, warning_id)
        with pytest.raises(PermissionDenied, match="outside your jurisdiction"):
            outcome.result()
    async with database.transaction() as session:
        refusals = await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == oversight_stream(outsider.user_id)))
        payloads = [json.loads(leaf)["payload"] for leaf in refusals]
        row = await session.get(EarlyWarning, warning_id)
        listed = await service.list_warnings(session, outsider)
    assert [p["attempted"] for p in payloads] == ["read", "acknowledged"]
    assert payloads[0]["warning_id"] == warning_id and payloads[0]["jurisdiction"] == jurisdiction
    assert row.status == "open" and listed == []


async def test_only_regulators_handle_warnings_and_only_overseers_read_them(database: Database) -> None:
    warning_id = await _one_warning(database)
    async with database.transaction() as session:
        auditor = actor_of(await make_user(session, Role.AUDITOR))
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    async with database.transaction() as session:
        assert (await service.get_warning(session, auditor, warning_id)).result().id == warning_id
        assert [w.id for w in await service.list_warnings(session, auditor)] == [warning_id]
        with pytest.raises(PermissionDenied):
            await service.acknowledge_warning(session, auditor, warning_id)
        with pytest.raises(PermissionDenied):
            await service.list_warnings(session, staff)


async def test_an_unknown_warning_is_not_found(database: Database) -> None:
    async with database.transaction() as session:
        actor = await regulator(session)
        with pytest.raises(NotFound):
            await service.acknowledge_warning(session, actor, 999)


async def test_lists_filter_by_rule_status_project_and_jurisdiction(database: Database) -> None:
    async with database.transaction() as session:
        fujian = (await raise_warnings(session, finding("lot:1", project_id=7))).raised[0]
        xiamen = (await raise_warnings(session, finding("lot:2", region="350203", project_id=8))).raised[0]
        guangdong = (await raise_warnings(session, finding("lot:3", region="440100", project_id=9))).raised[0]
        other_rule = (await raise_warnings(session, finding("lot:4", project_id=7), code="test.other")).raised[0]
        province = await regulator(session, "350000", name="province")
        fuzhou = await regulator(session, "350100", name="fuzhou")
    async with database.transaction() as session:
        await service.acknowledge_warning(session, province, xiamen)
    async with database.transaction() as session:
        assert [w.id for w in await service.list_warnings(session, province)] == [other_rule, xiamen, fujian]
        assert [w.id for w in await service.list_warnings(session, fuzhou)] == [other_rule, fujian]
        assert [w.id for w in await service.list_warnings(session, province, status="acknowledged")] == [xiamen]
        assert [w.id for w in await service.list_warnings(session, province, project_id=7)] == [other_rule, fujian]
        with pytest.raises(InvalidInput, match="status"):
            await service.list_warnings(session, province, status="dismissed")
        with pytest.raises(InvalidInput, match="no warning rule"):
            await service.list_warnings(session, province, rule="test.scripted")  # not a registered rule
    assert guangdong not in (fujian, xiamen)

"""How a draw's snapshot is stored and read back: the compact form, the lists of draws stored
before it, the per-process cache, and what happens when the stored snapshot was altered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Role
from core.database import Database
from expert_pool import draw_algorithm as algorithm
from expert_pool import draws
from expert_pool.models import Draw, DrawCall, DrawSecret
from supervision.ledger.models import LedgerEntry
from tests.expert_pool.test_draw_venues import (
    FUZHOU,
    XIAMEN,
    run_calls,
    venue,
    venue_request,
)
from tests.expert_pool.test_draw_venues import pool as regional_pool
from tests.expert_pool.test_draws import people, pool, request  # noqa: F401 - the fixture is used by name

POOL = {"C02": ["E9", "E10", "E2"], "A04": ["E3", "E1", "E22"]}


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    draws.snapshot_cache.clear()
    yield
    draws.snapshot_cache.clear()


# ----------------------------------------------------------------------------- the stored form


def test_the_stored_form_is_each_codes_ids_joined_and_reads_back_to_the_same_snapshot() -> None:
    snapshot = algorithm.Snapshot(POOL)
    stored = draws.stored_snapshot(snapshot)
    assert stored == {"A04": "E1\nE22\nE3", "C02": "E10\nE2\nE9"}
    again = draws.read_stored_snapshot(json.loads(json.dumps(stored)), venues=False)
    assert again == snapshot and again.commitment == snapshot.commitment


def test_lists_stored_by_older_draws_read_to_the_same_snapshot() -> None:
    snapshot = algorithm.Snapshot(POOL)
    old = draws.read_stored_snapshot(snapshot.as_dict(), venues=False)
    assert old == snapshot and old.commitment == snapshot.commitment
    venues = algorithm.VenueSnapshot({"V1": POOL, "V2": {"A04": ["E7", "E1"]}})
    for stored in (draws.stored_snapshot(venues), venues.as_dict()):
        again = draws.read_stored_snapshot(stored, venues=True)
        assert again == venues and again.commitment == venues.commitment
    assert draws.stored_snapshot(venues) == {"V1": {"A04": "E1\nE22\nE3", "C02": "E10\nE2\nE9"}, "V2": {"A04": "E1\nE7"}}


@pytest.mark.parametrize(
    ("stored", "venues", "message"),
    [
        (["A04", "E1"], False, "mapping, not list"),
        ({"A04": "E1\n\nE2"}, False, "1 to 128"),
        ({"A04": "E1\nE 2"}, False, "printable ASCII"),
        ({"A04": "E1\nE1"}, False, "listed twice"),
        ({"A04": 7}, False, "specialty 'A04' of a stored snapshot holds int"),
        ({"A04": ["E1", 2]}, False, "must be text"),
        ({"V1": "E1\nE2"}, True, "venue 'V1'.*mapping of specialties"),
    ],
)
def test_an_unreadable_stored_snapshot_is_refused_naming_the_problem(stored: object, venues: bool,
                                                                     message: str) -> None:
    with pytest.raises(algorithm.DrawError, match=message):
        draws.read_stored_snapshot(stored, venues=venues)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the cache


def test_the_cache_keeps_the_most_recently_used_within_its_budget_of_pairs() -> None:
    cache = draws.SnapshotCache(max_pairs=10)
    small = algorithm.Snapshot({"A04": ["E1", "E2", "E3", "E4"]})
    other = algorithm.Snapshot({"A04": ["E5", "E6", "E7", "E8"]})
    cache.put(1, small)
    cache.put(2, other)
    assert cache.get(1, small.commitment) is small
    assert cache.get(1, other.commitment) is None  # the commitment is part of the key
    cache.put(3, algorithm.Snapshot({"C02": ["E1", "E2", "E3"]}))  # 11 pairs: the least recent goes
    assert len(cache) == 2 and cache.get(2, other.commitment) is None and cache.get(1, small.commitment) is small
    cache.put(4, algorithm.Snapshot({"C02": [f"E{n}" for n in range(11)]}))  # larger than the budget: not kept
    assert len(cache) == 2


# ----------------------------------------------------------------------------- draws in the database


async def stored_value(database: Database, draw_id: int) -> object:
    async with database.reader() as session:
        return (await session.get(DrawSecret, draw_id)).snapshot  # type: ignore[union-attr]


async def store(database: Database, draw_id: int, value: object) -> None:
    async with database.transaction() as session:
        await session.execute(sa.update(DrawSecret).where(DrawSecret.draw_id == draw_id).values(snapshot=value))


async def calls_of(database: Database, draw_id: int) -> int:
    async with database.reader() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(DrawCall)  # type: ignore[return-value]
                                    .where(DrawCall.draw_id == draw_id))


async def revealed_snapshot(database: Database, draw_id: int) -> object:
    async with database.reader() as session:
        leaves = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == draws.draw_stream(draw_id)).order_by(LedgerEntry.seq))).all()
    return next(json.loads(leaf)["payload"]["snapshot"] for leaf in leaves
                if json.loads(leaf)["type"] == draws.DRAW_REVEALED)


async def test_a_draw_stores_the_compact_form_and_reveals_lists(database: Database, people: dict) -> None:  # noqa: F811
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    experts = await pool(database, admin, 4, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 2}))
    stored = await stored_value(database, draw.id)  # type: ignore[arg-type]
    codes = sorted(expert.code for expert in experts)
    assert stored == {"A04": "\n".join(codes)}
    assert algorithm.Snapshot({"A04": codes}).commitment == draw.snapshot_commitment
    await run_calls(database, draw.id)  # type: ignore[arg-type]
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)  # type: ignore[arg-type]
    assert await revealed_snapshot(database, draw.id) == {"A04": codes}  # type: ignore[arg-type]
    async with database.reader() as session:
        verified = await draws.verify_from_ledger(session, draw.id)  # type: ignore[arg-type]
    assert verified.ok and verified.complete, verified.detail


async def test_a_draw_stored_with_lists_still_runs_reveals_and_verifies(database: Database, people: dict) -> None:  # noqa: F811
    admin, staff, regulator = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF], people[Role.REGULATOR]
    await pool(database, admin, 5, ["A04", "C02"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 2, "C02": 1}))
    compact = await stored_value(database, draw.id)  # type: ignore[arg-type]
    as_lists = {code: ids.split("\n") for code, ids in compact.items()}  # type: ignore[attr-defined]
    await store(database, draw.id, as_lists)  # type: ignore[arg-type]  # as draws were stored before
    made = await run_calls(database, draw.id, lambda call: "declined" if call.position == 0 else "accepted")  # type: ignore[arg-type]
    assert len(made) == 4
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)  # type: ignore[arg-type]
    assert await revealed_snapshot(database, draw.id) == as_lists  # type: ignore[arg-type]
    async with database.reader() as session:
        verified = await draws.verify_from_ledger(session, draw.id)  # type: ignore[arg-type]
    assert verified.ok and verified.complete, verified.detail


async def test_a_venue_draw_stored_with_lists_still_runs(database: Database, people: dict) -> None:  # noqa: F811
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await regional_pool(database, admin, 3, ["A04"], FUZHOU)
    await regional_pool(database, admin, 3, ["A04"], XIAMEN)
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, venue_request(
            venue("Fuzhou centre", FUZHOU, {"A04": 1}), venue("Xiamen branch", XIAMEN, {"A04": 1})))
    compact = await stored_value(database, draw.id)  # type: ignore[arg-type]
    assert set(compact) == {"V1", "V2"} and all(isinstance(ids, str) for ids in compact["V1"].values())  # type: ignore[index,call-overload]
    await store(database, draw.id, {key: {code: ids.split("\n") for code, ids in part.items()}  # type: ignore[arg-type]
                                    for key, part in compact.items()})  # type: ignore[attr-defined]
    made = await run_calls(database, draw.id)  # type: ignore[arg-type]
    assert sorted(call.venue for call in made) == ["V1", "V2"]  # type: ignore[type-var]


async def test_an_altered_stored_snapshot_stops_the_draw_before_anyone_is_called(database: Database,
                                                                                 people: dict) -> None:  # noqa: F811
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    experts = await pool(database, admin, 4, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 1}))
    favourite = experts[0].code  # an insider leaves only a friend in the pool
    for altered in ({"A04": favourite}, {"A04": [favourite]}):
        await store(database, draw.id, altered)  # type: ignore[arg-type]
        with pytest.raises(draws.DrawIntegrityError, match="does not match its snapshot commitment"):
            async with database.transaction() as session:
                await draws.call_next(session, SYSTEM, draw.id)  # type: ignore[arg-type]
        assert await calls_of(database, draw.id) == 0  # type: ignore[arg-type]
    await store(database, draw.id, {"A04": 42})  # type: ignore[arg-type]
    with pytest.raises(draws.DrawIntegrityError, match="stored snapshot cannot be read"):
        async with database.transaction() as session:
            await draws.call_next(session, SYSTEM, draw.id)  # type: ignore[arg-type]
    assert await calls_of(database, draw.id) == 0  # type: ignore[arg-type]


async def test_a_cached_snapshot_serves_only_the_commitment_it_was_checked_against(database: Database,
                                                                                   people: dict) -> None:  # noqa: F811
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    experts = await pool(database, admin, 4, ["A04"])
    async with database.transaction() as session:
        draw = await draws.request_draw(session, staff, request(quotas={"A04": 2}))
        first = await draws.call_next(session, SYSTEM, draw.id)  # type: ignore[arg-type]
    assert len(draws.snapshot_cache) == 1
    # Once read, the committed pool is kept: an edit of the table after that changes nothing...
    await store(database, draw.id, {"A04": experts[0].code})  # type: ignore[arg-type]
    async with database.transaction() as session:
        second = await draws.call_next(session, SYSTEM, draw.id)  # type: ignore[arg-type]
    assert second is not None and second.expert_id != first.expert_id  # type: ignore[union-attr]
    # ...and a draw whose commitment was edited misses the cache and is refused.
    async with database.transaction() as session:
        await session.execute(sa.update(Draw).where(Draw.id == draw.id).values(snapshot_commitment="0" * 64))
    with pytest.raises(draws.DrawIntegrityError, match="does not match its snapshot commitment"):
        async with database.transaction() as session:
            await draws.record_answer(session, SYSTEM, first.id, "accepted")  # type: ignore[union-attr,arg-type]

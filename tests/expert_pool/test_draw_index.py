"""The draw index follows every write that changes who may be drawn, in the same transaction,
and agrees with the base tables whatever the mix of operations (and after the migration)."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.actors import Actor, Role
from core.clock import utcnow
from core.database import Database
from core.person_id import make_person_id
from expert_pool import service
from expert_pool.demo_pool import load_demo_pool
from expert_pool.draw_index import refresh_draw_index
from expert_pool.eligibility import eligible_snapshot
from expert_pool.eligibility_models import ExpertDrawIndex
from expert_pool.import_service import import_experts
from expert_pool.models import Expert, ExpertSpecialty
from expert_pool.schemas import Admission, Renewal, StatusChange, Suspension
from migrations import runner
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL, _postgres_admin
from tests.expert_pool.factories import admitted_expert, expert_data
from tests.factories import actor_of, make_user

EVALUATION = utcnow() + timedelta(days=10)


@pytest.fixture
async def admin(database: Database) -> Actor:
    async with database.transaction() as session:
        return actor_of(await make_user(session, Role.EXPERT_ADMIN))


async def eligible(database: Database, specialty: str = "A04", region_code: str | None = None) -> list[str]:
    async with database.reader() as session:
        snapshot = await eligible_snapshot(session, [specialty], evaluation_at=EVALUATION, avoid_parties=[],
                                           region_code=region_code)
    return snapshot[specialty]


async def index_rows(database: Database) -> set[tuple[object, ...]]:
    index = ExpertDrawIndex
    async with database.reader() as session:
        rows = await session.execute(sa.select(index.expert_id, index.specialty, index.expert_code, index.region_code,
                                               index.term_until))
        return {tuple(row) for row in rows}


async def rows_from_base_tables(database: Database) -> set[tuple[object, ...]]:
    """What the index must hold, worked out plainly: each specialty of each admitted expert."""
    async with database.reader() as session:
        experts = {expert.id: expert for expert in await session.scalars(sa.select(Expert))}
        held = list(await session.execute(sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.code)))
    return {(expert_id, code, experts[expert_id].code, experts[expert_id].region_code, experts[expert_id].term_until)
            for expert_id, code in held if experts[expert_id].status == "admitted"}


async def assert_index_exact(database: Database) -> None:
    assert await index_rows(database) == await rows_from_base_tables(database)


async def test_each_lifecycle_step_is_seen_by_the_next_draw(database: Database, admin: Actor) -> None:
    today = service.today()
    async with database.transaction() as session:
        expert = await service.register_expert(session, admin, expert_data(specialties=["A0401"]))
        refused = await service.register_expert(session, admin, expert_data(specialties=["A04"]))
    assert await eligible(database) == []  # applied: not in the pool yet

    async def step(change) -> list[str]:  # type: ignore[no-untyped-def]
        async with database.transaction() as session:
            await change(session)
        await assert_index_exact(database)
        return await eligible(database)

    # Admitted, but the term ends before the evaluation day; renewed past it.
    assert await step(lambda s: service.admit_expert(s, admin, expert.id, Admission(
        term_until=today + timedelta(days=5)))) == []
    assert await step(lambda s: service.renew_expert(s, admin, expert.id, Renewal(
        term_until=today + timedelta(days=400)))) == [expert.code]
    assert await step(lambda s: service.suspend_expert(s, admin, expert.id, Suspension(
        reason="missed an evaluation", until=today + timedelta(days=30)))) == []
    assert await step(lambda s: service.reinstate_expert(s, admin, expert.id, StatusChange(reason="appeal"))) \
        == [expert.code]
    assert await step(lambda s: service.reject_expert(s, admin, refused.id, StatusChange(reason="incomplete"))) \
        == [expert.code]
    assert await step(lambda s: service.dismiss_expert(s, admin, expert.id, StatusChange(reason="misconduct"))) == []


async def test_a_rolled_back_change_leaves_the_index_as_it_was(database: Database, admin: Actor) -> None:
    async with database.transaction() as session:
        expert = await admitted_expert(session, admin)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await service.suspend_expert(session, admin, expert.id, Suspension(
                reason="absent", until=service.today() + timedelta(days=30)))
            raise RuntimeError("something later in the transaction fails")
    assert await eligible(database) == [expert.code]
    await assert_index_exact(database)


async def test_an_import_fills_the_index_and_a_refused_row_leaves_nothing(database: Database, admin: Actor) -> None:
    header = "姓名,身份证号,手机,工作单位,职称,从业年限,专业\n"
    rows = [f"专家{n},{make_person_id(f'35010219700101{n:03d}')},138{n:08d},福建设计院,高级,12,A0402;C02\n"
            for n in range(1, 6)]
    rows[2] = rows[2].replace("高级,12", "中级,5")  # registered, then refused at admission: rolled back
    async with database.transaction() as session:
        report = await import_experts(session, admin, io.BytesIO((header + "".join(rows)).encode()), format="csv")
    assert len(report.imported) == 4
    assert await eligible(database) == sorted(report.imported)
    assert await eligible(database, "C02") == sorted(report.imported)
    await assert_index_exact(database)


async def test_the_demo_pool_is_drawable(database: Database, admin: Actor) -> None:
    async with database.transaction() as session:
        loaded = await load_demo_pool(session, admin, 12)
    assert loaded > 0
    await assert_index_exact(database)
    async with database.reader() as session:
        everyone = await eligible_snapshot(session, ["A", "B", "C"], evaluation_at=EVALUATION, avoid_parties=[])
    assert len(set().union(*everyone.values())) == loaded


async def test_a_specialty_or_region_edit_is_seen_once_the_index_is_refreshed(
        database: Database, admin: Actor) -> None:
    """No use case edits these yet; whichever does must refresh the index, as this shows."""
    async with database.transaction() as session:
        expert = await admitted_expert(session, admin, specialties=["A04"], region_code="350100")
    async with database.transaction() as session:
        session.add(ExpertSpecialty(expert_id=expert.id, code="C0201"))
        await session.execute(sa.update(Expert).where(Expert.id == expert.id).values(region_code="350200"))
        await session.flush()
        assert await eligible_snapshot(session, ["C02"], evaluation_at=EVALUATION, avoid_parties=[]) == {"C02": []}
        await refresh_draw_index(session, [expert.id])
    assert await eligible(database, "C02") == [expert.code]
    assert await eligible(database, "A04", region_code="350200") == [expert.code]
    assert await eligible(database, "A04", region_code="350100") == []
    await assert_index_exact(database)


async def test_the_index_agrees_with_the_base_tables_after_a_mix_of_operations(
        database: Database, admin: Actor) -> None:
    rng = random.Random(7)
    today = service.today()
    expert_ids: list[int] = []
    for _ in range(4):
        async with database.transaction() as session:
            for _ in range(6):
                expert_ids.append((await service.register_expert(session, admin, expert_data(
                    specialties=rng.sample(["A04", "A0401", "B01", "C02", "C0201"], rng.randrange(1, 3)),
                    region_code=rng.choice(["350100", "350200"])))).id)
            for expert_id in rng.sample(expert_ids, min(len(expert_ids), 8)):
                expert = await session.get(Expert, expert_id)
                moves = {
                    "applied": ["admit", "reject"], "admitted": ["suspend", "dismiss", "renew", "edit"],
                    "suspended": ["reinstate", "dismiss"], "rejected": [], "dismissed": []}[expert.status]
                if moves:
                    await _apply(session, admin, expert, rng.choice(moves), today, rng)
        await assert_index_exact(database)
    assert await index_rows(database)  # the comparison is not between two empty sets


async def _apply(session, admin: Actor, expert: Expert, move: str, today: date, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    later = today + timedelta(days=rng.randrange(400, 900))
    if move == "admit":
        await service.admit_expert(session, admin, expert.id, Admission(term_until=later))
    elif move == "reject":
        await service.reject_expert(session, admin, expert.id, StatusChange(reason="incomplete file"))
    elif move == "suspend":
        await service.suspend_expert(session, admin, expert.id, Suspension(reason="absent", until=later))
    elif move == "reinstate":
        await service.reinstate_expert(session, admin, expert.id, StatusChange(reason="appeal upheld"))
    elif move == "dismiss":
        await service.dismiss_expert(session, admin, expert.id, StatusChange(reason="misconduct"))
    elif move == "renew":
        await service.renew_expert(session, admin, expert.id, Renewal(term_until=(expert.term_until or today)
                                                                      + timedelta(days=365)))
    else:  # a direct edit of specialty and region, followed by the refresh every write path makes
        await session.execute(sa.delete(ExpertSpecialty).where(ExpertSpecialty.expert_id == expert.id))
        session.add(ExpertSpecialty(expert_id=expert.id, code=rng.choice(["A0402", "B0103"])))
        await session.execute(sa.update(Expert).where(Expert.id == expert.id).values(region_code="350300"))
        await refresh_draw_index(session, [expert.id])


async def test_two_transactions_refreshing_one_expert_take_turns(postgres_database: Database) -> None:
    database = postgres_database
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
        expert = await admitted_expert(session, admin, specialties=["A04"])

    async def add_specialty(session, code: str) -> None:  # type: ignore[no-untyped-def]
        session.add(ExpertSpecialty(expert_id=expert.id, code=code))
        await refresh_draw_index(session, [expert.id])

    async def second_transaction() -> None:
        async with database.transaction() as session:
            await add_specialty(session, "B01")

    async with database.transaction() as session:
        await add_specialty(session, "C02")
        second = asyncio.create_task(second_transaction())
        await asyncio.sleep(0.5)
        assert not second.done()  # it waits for this transaction to end
    await second  # and then rebuilds from what this one committed, without a duplicate row
    assert {row[1] for row in await index_rows(database)} == {"A04", "B01", "C02"}
    await assert_index_exact(database)


# --- the migration fills the index from an existing pool ------------------------------------


@pytest.fixture(params=BACKENDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'backfill.db'}"
        return
    request.getfixturevalue("postgres_url")  # skipped (or failed, in CI) when PostgreSQL is unreachable
    name = f"bidhall_test_backfill_{uuid.uuid4().hex[:10]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_migration_backfills_the_index_from_the_pool(empty_database_url: str) -> None:
    await asyncio.to_thread(runner.upgrade, empty_database_url, "0015")
    database = Database(empty_database_url)
    try:
        now = datetime(2026, 1, 5, tzinfo=UTC)
        async with database.transaction() as session:
            for number, status in enumerate(["admitted", "admitted", "suspended", "applied", "dismissed"], start=1):
                await session.execute(sa.insert(Expert.__table__).values(  # type: ignore[attr-defined]
                    id=number, code=f"E{number:07d}", name=f"Expert {number}",
                    id_number=make_person_id(f"35010219700101{number:03d}"), phone="13800138000",
                    employer_name="Institute", region_code="350100", title="senior", years_of_practice=12,
                    birth_date=date(1970, 1, 1), status=status, term_until=date(2030, 1, number), created_at=now,
                    updated_at=now))
                await session.execute(sa.insert(ExpertSpecialty.__table__).values(  # type: ignore[attr-defined]
                    [{"expert_id": number, "code": code} for code in ("A04", "C0201")[:1 + number % 2]]))
        await asyncio.to_thread(runner.upgrade, empty_database_url, "0016")
        assert await index_rows(database) == {
            (1, "A04", "E0000001", "350100", date(2030, 1, 1)), (1, "C0201", "E0000001", "350100", date(2030, 1, 1)),
            (2, "A04", "E0000002", "350100", date(2030, 1, 2))}
    finally:
        await database.dispose()

"""The eligibility query (on the draw index) against the rules computed plainly, in Python,
from the base tables, on a randomised pool."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.actors import Actor, Role
from core.clock import to_shanghai, utcnow
from core.database import Database
from core.uscc import make_uscc
from expert_pool import service
from expert_pool.eligibility import (
    AVOIDANCE_DAYS,
    FrequencyLimit,
    eligible_snapshot,
    prefix_end,
)
from expert_pool.models import (
    Draw,
    DrawCall,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    ExpertUnavailability,
)
from expert_pool.schemas import (
    Admission,
    RelationCreate,
    StatusChange,
    Suspension,
    UnavailabilityCreate,
)
from expert_pool.states import RelationKind
from tests.expert_pool.factories import expert_data
from tests.factories import actor_of, make_user

EVALUATION = utcnow() + timedelta(days=400)
DAY = to_shanghai(EVALUATION).date()
PARTIES = [make_uscc(f"91350100MA{number:07d}") for number in range(4)]
HELD = ["A04", "A0401", "A040101", "A0402", "A0405", "B01", "B0103", "C02", "C0201", "C0204"]
REQUESTS = ["A", "A04", "A0401", "A0402", "B", "B01", "C02", "C0201", "C03"]
REGIONS = ["350100", "350102", "350200", "350300"]


@pytest.fixture
async def admin(database: Database) -> Actor:
    async with database.transaction() as session:
        return actor_of(await make_user(session, Role.EXPERT_ADMIN))


async def random_pool(database: Database, admin: Actor, rng: random.Random, count: int) -> None:
    """Experts in every status, with random specialties, regions, employers, terms, ties,
    leave and accepted invitations around the evaluation day."""
    today = service.today()
    async with database.transaction() as session:
        history = Draw(lot_reference="HIST-1", evaluation_at=utcnow(), venue="Room", region_rule="remote_pool",
                       quotas={"A04": 1}, avoid_parties=[], status="revealed", seed_commitment="0" * 64,
                       snapshot_commitment="0" * 64, created_at=utcnow())
        session.add(history)
        await session.flush()
        position = 0
        for _ in range(count):
            data = expert_data(specialties=rng.sample(HELD, rng.randrange(1, 4)), region_code=rng.choice(REGIONS),
                               employer_uscc=rng.choice([None, None, *PARTIES]))
            expert = await service.register_expert(session, admin, data)
            fate = rng.choice(["applied", "rejected", "admitted", "admitted", "admitted", "suspended", "dismissed"])
            if fate == "rejected":
                await service.reject_expert(session, admin, expert.id, StatusChange(reason="incomplete"))
            elif fate != "applied":
                term = today + timedelta(days=rng.randrange(30, 800))  # some end before the evaluation day
                await service.admit_expert(session, admin, expert.id, Admission(term_until=term))
            if fate == "suspended":
                await service.suspend_expert(session, admin, expert.id, Suspension(
                    reason="absent", until=today + timedelta(days=60)))
            elif fate == "dismissed":
                await service.dismiss_expert(session, admin, expert.id, StatusChange(reason="misconduct"))
            if rng.random() < 0.3:
                began = date(2015, 1, 1)
                ended = rng.choice([None, DAY - timedelta(days=AVOIDANCE_DAYS - 5),
                                    DAY - timedelta(days=AVOIDANCE_DAYS + 5), date(2016, 1, 1)])
                await service.declare_relation(session, admin, expert.id, RelationCreate(
                    kind=RelationKind.DIRECTORSHIP, party_uscc=rng.choice(PARTIES), party_name="Party",
                    start_date=began, end_date=ended))
            if rng.random() < 0.25:
                start = DAY + timedelta(days=rng.randrange(-5, 3))
                await service.declare_unavailability(session, admin, expert.id, UnavailabilityCreate(
                    start_date=start, end_date=start + timedelta(days=rng.randrange(0, 4)), reason="leave"))
            for _ in range(rng.choice([0, 0, 1, 2, 4, 5])):
                answered = EVALUATION - timedelta(days=rng.randrange(1, 45))
                session.add(DrawCall(draw_id=history.id, position=position, specialty="A04", expert_id=expert.id,
                                     salt="0" * 32, answer=rng.choice(["accepted", "accepted", "declined"]),
                                     called_at=answered, answered_at=answered))
                position += 1


async def reference(database: Database, specialties: list[str], evaluation_at: datetime, avoid: list[str],
                    region_code: str | None, limit: FrequencyLimit) -> dict[str, list[str]]:
    """The rules of expert_pool.eligibility, applied one expert at a time to the base tables."""
    day = to_shanghai(evaluation_at).date()
    async with database.reader() as session:
        experts = list(await session.scalars(sa.select(Expert)))
        held: dict[int, list[str]] = {}
        for expert_id, code in await session.execute(sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.code)):
            held.setdefault(expert_id, []).append(code)
        relations = list(await session.scalars(sa.select(ExpertRelation)))
        leave = list(await session.scalars(sa.select(ExpertUnavailability)))
        calls = list(await session.scalars(sa.select(DrawCall)))

    def eligible(expert: Expert) -> bool:
        accepted = sum(1 for call in calls if call.expert_id == expert.id and call.answer == "accepted"
                       and call.answered_at >= evaluation_at - timedelta(days=limit.days))
        horizon = day - timedelta(days=AVOIDANCE_DAYS)
        return (expert.status == "admitted"
                and (expert.term_until is None or expert.term_until >= day)
                and not any(p.expert_id == expert.id and p.start_date <= day <= p.end_date for p in leave)
                and not any(r.expert_id == expert.id and r.party_uscc in avoid
                            and (r.end_date is None or r.end_date >= horizon) for r in relations)
                and expert.employer_uscc not in avoid
                and accepted < limit.evaluations
                and (region_code is None or expert.region_code.startswith(region_code.rstrip("0") or region_code)))

    pool = [expert for expert in experts if eligible(expert)]
    return {specialty: sorted(expert.code for expert in pool
                              if any(code.startswith(specialty) for code in held.get(expert.id, [])))
            for specialty in sorted(set(specialties))}


async def test_the_snapshot_is_what_the_rules_give_on_a_random_pool(database: Database, admin: Actor) -> None:
    rng = random.Random(20261123)
    await random_pool(database, admin, rng, 60)
    cases = [(["A04", "C02"], [], None, FrequencyLimit())]
    for _ in range(14):
        cases.append((rng.sample(REQUESTS, rng.randrange(1, 4)), rng.sample(PARTIES, rng.randrange(0, 3)),
                      rng.choice([None, "350100", "350102", "350000", "350200"]),
                      rng.choice([FrequencyLimit(), FrequencyLimit(evaluations=1), FrequencyLimit(2, 10)])))
    cases.append((["A04", "A04", "B01"], PARTIES, "350100", FrequencyLimit(evaluations=0)))
    seen = 0
    for specialties, avoid, region, limit in cases:
        async with database.reader() as session:
            got = await eligible_snapshot(session, specialties, evaluation_at=EVALUATION, avoid_parties=avoid,
                                          region_code=region, limit=limit)
        expected = await reference(database, specialties, EVALUATION, avoid, region, limit)
        assert got == expected, (specialties, avoid, region, limit)
        seen += sum(map(len, got.values()))
    assert seen > 30  # the cases are not all empty: the comparison says something


async def test_an_expert_holding_two_codes_under_the_request_is_listed_once(
        database: Database, admin: Actor) -> None:
    async with database.transaction() as session:
        expert = await service.register_expert(session, admin, expert_data(specialties=["A0401", "A0402", "A04"]))
        await service.admit_expert(session, admin, expert.id, Admission(term_until=service.today() + timedelta(500)))
    async with database.reader() as session:
        snapshot = await eligible_snapshot(session, ["A04", "A", "A0402", "C02"], evaluation_at=EVALUATION,
                                           avoid_parties=[])
    assert snapshot == {"A": [expert.code], "A04": [expert.code], "A0402": [expert.code], "C02": []}


def test_the_range_end_of_a_code_prefix() -> None:
    assert prefix_end("A04") == "A05"
    assert prefix_end("A09") == "A0A"  # not "A0:": some collations ignore punctuation
    assert prefix_end("A0Z") == "A1"
    assert prefix_end("C") == "D"
    assert prefix_end("ZZ") is None

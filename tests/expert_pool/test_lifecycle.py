"""The expert lifecycle, managed by the industry authority, each step in the ledger."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from core.actors import Role
from core.database import Database
from core.errors import Conflict, InvalidInput, RuleViolation
from expert_pool import service
from expert_pool.models import Expert
from expert_pool.schemas import (
    Admission,
    RelationCreate,
    Renewal,
    StatusChange,
    Suspension,
    UnavailabilityCreate,
)
from expert_pool.states import RelationKind, Title
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.expert_pool.factories import admitted_expert, expert_data
from tests.factories import actor_of, make_user
from web.runtime import build_registry

LATER = date.today() + timedelta(days=365)


@pytest.fixture
async def admin(database: Database):  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return actor_of(await make_user(session, Role.EXPERT_ADMIN))


async def test_register_admit_suspend_reinstate_renew_dismiss(database: Database, admin) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        expert = await service.register_expert(session, admin, expert_data(specialties=["A04", "c02", "A04"]))
        assert expert.code == f"E{expert.id:07d}" and expert.status == "applied"
        await service.admit_expert(session, admin, expert.id, Admission(term_until=LATER))
        await service.suspend_expert(session, admin, expert.id, Suspension(reason="missed two evaluations",
                                                                        until=LATER - timedelta(days=300)))
        await service.reinstate_expert(session, admin, expert.id, StatusChange(reason="appeal upheld"))
        await service.renew_expert(session, admin, expert.id, Renewal(term_until=LATER + timedelta(days=365)))
        await service.declare_relation(session, admin, expert.id, RelationCreate(
            kind=RelationKind.EMPLOYMENT, party_uscc="91350100M000100Y43", party_name="Minjiang Construction",
            start_date=date(2019, 1, 1), end_date=date(2023, 6, 30)))
        await service.declare_unavailability(session, admin, expert.id, UnavailabilityCreate(
            start_date=LATER, end_date=LATER + timedelta(days=5), reason="annual leave"))
        await service.dismiss_expert(session, admin, expert.id, StatusChange(reason="conflict of interest hidden"))
    async with database.reader() as session:
        stored = await session.get(Expert, expert.id)
        entries = [json.loads(leaf) for leaf in (await session.scalars(
            sa.select(LedgerEntry.leaf).where(LedgerEntry.stream == f"expert:{expert.id}").order_by(LedgerEntry.seq)))]
        check = await check_stream(session, build_registry(), f"expert:{expert.id}")
    assert stored is not None and stored.status == "dismissed"
    assert [e["payload"].get("status") for e in entries if e["type"].endswith("status_changed")] == [
        "admitted", "suspended", "admitted", "admitted", "dismissed"]
    assert entries[0]["payload"]["specialties"] == ["A04", "C02"]
    raw = json.dumps(entries)
    assert stored.id_number not in raw and stored.phone not in raw  # personal data stays out of the ledger
    assert check.matches, (check.replayed, check.stored)


async def test_admission_rules_are_checked_and_named(database: Database, admin) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        junior = await service.register_expert(session, admin, expert_data(title=Title.MID, years=5))
        old = await service.register_expert(session, admin, expert_data(born="19500101"))
    with pytest.raises(RuleViolation) as refused:
        async with database.transaction() as session:
            await service.admit_expert(session, admin, junior.id, Admission(term_until=LATER))
    assert "at least 8 years" in refused.value.detail and "senior title" in refused.value.detail
    assert refused.value.rule == "admission.general"
    with pytest.raises(RuleViolation, match="under 70"):
        async with database.transaction() as session:
            await service.admit_expert(session, admin, old.id, Admission(term_until=LATER,
                                                                            track="government_procurement"))
    async with database.transaction() as session:
        mid = await service.register_expert(session, admin, expert_data(title=Title.MID, years=9))
        admitted = await service.admit_expert(session, admin, mid.id, Admission(term_until=LATER,
                                                                                track="government_procurement"))
    assert admitted.status == "admitted"


async def test_transitions_and_dates_are_guarded(database: Database, admin) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        expert = await admitted_expert(session, admin)
    with pytest.raises(Conflict, match="is admitted; it cannot become admitted"):
        async with database.transaction() as session:
            await service.reinstate_expert(session, admin, expert.id, StatusChange(reason="again"))
    with pytest.raises(InvalidInput, match="future date"):
        async with database.transaction() as session:
            await service.suspend_expert(session, admin, expert.id, Suspension(reason="late",
                                                                            until=date(2020, 1, 1)))
    with pytest.raises(Conflict, match="already registered"):
        async with database.transaction() as session:
            first = expert_data()
            await service.register_expert(session, admin, first)
            await service.register_expert(session, admin, first)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("id_number", "350102197505051230", "check character"),
        ("id_number", "35010219750230123X", "real birth date"),
        ("phone", "1380013800", "mobile"),
        ("employer_uscc", "91350100M000100Y44", "check character"),
        ("specialties", ["A4"], "specialties"),
        ("region_code", "3501", "region_code"),
        ("track", "mystery", "unknown track"),
    ],
)
def test_bad_expert_input_is_named(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        expert_data(**{field: value})

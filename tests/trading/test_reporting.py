"""The national data reporting: batches built once per dataset and window (the id says
which), JSON Lines with no personal data of experts, bad requests refused with nothing
stored, and the ledger and replay of ``report_batch:<id>``."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Role
from core.clock import travel, utcnow
from core.errors import InvalidInput, NotFound
from supervision.ledger.models import LedgerEntry
from supervision.replay import StreamRegistry, check_stream
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_party, make_user
from tests.trading.factories import open_lot
from trading import reporting
from trading.models import CreditRecord
from trading.ocds import ocid_of
from trading.reporting_jobs import CATCH_UP_DAYS, due_days
from trading.reporting_models import ReportBatch

DAY = date(2026, 3, 2)
WINDOW = reporting.day_window(DAY)


def during_the_day():  # type: ignore[no-untyped-def]
    return travel(to=WINDOW.start + timedelta(hours=10))


async def entries(session, stream: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = await session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.stream == stream)
                                 .order_by(LedgerEntry.seq))
    return list(rows.all())


def lines(batch: ReportBatch) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in batch.content.splitlines()]


async def test_a_batch_is_built_once_per_dataset_and_window(database) -> None:  # type: ignore[no-untyped-def]
    with during_the_day():
        async with database.transaction() as session:
            party = await make_party(session, "Reported Entity Co., Ltd.")
    async with database.transaction() as session:
        batch = await reporting.build_batch(session, SYSTEM, "entities", WINDOW)
    assert batch.id == "bidhall-350000.entities.20260302T000000Z.20260303T000000Z"
    assert batch.status == "pending" and batch.attempts == 0 and batch.record_count >= 1
    assert {"uscc": party.uscc, "name": party.name, "region_code": party.region_code,
            "registered_at": lines(batch)[-1]["registered_at"]} in lines(batch)
    async with database.transaction() as session:
        party_later = await make_party(session, "Registered Afterwards Co., Ltd.")  # today, outside the window
        again = await reporting.build_batch(session, SYSTEM, "entities", WINDOW)
        assert again.content == batch.content and party_later.uscc not in again.content
        assert await entries(session, reporting.batch_stream(batch.id)) == [reporting.BATCH_BUILT]


async def test_project_batches_carry_the_unified_transaction_id(database) -> None:  # type: ignore[no-untyped-def]
    with during_the_day():
        async with database.transaction() as session:
            made = await open_lot(session, custodian_fallback=False)
            staff = actor_of(await make_user(session, Role.ADMIN))
    async with database.transaction() as session:
        construction = await reporting.build_batch(session, staff, "projects_construction", WINDOW)
        land = await reporting.build_batch(session, staff, "projects_land_mining", WINDOW)
    row = next(row for row in lines(construction) if row["project_code"] == made.project.code)
    assert row["transaction_id"] == ocid_of(made.project.code) and row["segment"] == "construction"
    assert row["lots"][0]["lot_code"] == made.lot.code and row["lots"][0]["budget"] == "12500000.00"
    assert land.record_count == 0 and land.content == ""  # reported, with nothing in it


async def test_experts_are_reported_without_personal_data(database) -> None:  # type: ignore[no-untyped-def]
    with during_the_day():
        async with database.transaction() as session:
            admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
            expert = await admitted_expert(session, admin, name="Lin Xiaoming", phone="13912345678",
                                           employer_name="Secret Employer Institute")
    async with database.transaction() as session:
        batch = await reporting.build_batch(session, SYSTEM, "experts", WINDOW)
    row = next(row for row in lines(batch) if row["expert_code"] == expert.code)
    assert set(row) == {"expert_code", "region_code", "title", "specialties", "years_of_practice", "status",
                        "term_until"}
    for personal in ("Lin Xiaoming", "13912345678", expert.id_number, "Secret Employer", "1975"):
        assert personal not in batch.content


async def test_blacklists_and_empty_datasets(database) -> None:  # type: ignore[no-untyped-def]
    with during_the_day():
        async with database.transaction() as session:
            party = await make_party(session, "Blacklisted Co., Ltd.")
            session.add(CreditRecord(party_id=party.id, kind="blacklist", reason="bid rigging",  # type: ignore[arg-type]
                                     authority="Fujian DRC", start_date=DAY, end_date=None, created_at=utcnow()))
            session.add(CreditRecord(party_id=party.id, kind="good", reason="on time", authority="Fujian DRC",  # type: ignore[arg-type]
                                     start_date=DAY, end_date=None, created_at=utcnow()))
    async with database.transaction() as session:
        blacklists = await reporting.build_batch(session, SYSTEM, "blacklists", WINDOW)
        alerts = await reporting.build_batch(session, SYSTEM, "alerts", WINDOW)
    assert [(row["uscc"], row["reason"]) for row in lines(blacklists)] == [(party.uscc, "bid rigging")]
    assert alerts.record_count == 0


@pytest.mark.parametrize("dataset, window, message", [
    ("tenders", WINDOW, "unknown dataset"),
    ("entities", reporting.Window(WINDOW.end, WINDOW.start), "must end after"),
    ("entities", reporting.day_window(date(2999, 1, 1)), "once it is over"),
])
async def test_bad_batches_are_refused_and_nothing_stored(database, dataset, window, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        async with database.transaction() as session:
            await reporting.build_batch(session, SYSTEM, dataset, window)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(ReportBatch)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 0


async def test_attempts_are_recorded_and_an_accepted_batch_stays_accepted(database) -> None:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        batch = await reporting.build_batch(session, SYSTEM, "complaints", WINDOW)
        failed = await reporting.record_attempt(session, SYSTEM, batch.id, reporting.Attempt("failed", error="503"))
        assert failed.status == "pending" and failed.attempts == 1 and failed.last_error == "503"
        accepted = await reporting.record_attempt(session, SYSTEM, batch.id,
                                                  reporting.Attempt("accepted", receipt="R-1"))
        assert accepted.status == "accepted" and accepted.receipt == "R-1" and accepted.last_error is None
        late = await reporting.record_attempt(session, SYSTEM, batch.id, reporting.Attempt("failed", error="x"))
        assert late.status == "accepted" and late.attempts == 2
        assert await entries(session, reporting.batch_stream(batch.id)) == [
            reporting.BATCH_BUILT, reporting.BATCH_SEND_FAILED, reporting.BATCH_ACCEPTED]
        with pytest.raises(NotFound):
            await reporting.record_attempt(session, SYSTEM, "nope", reporting.Attempt("accepted"))
        with pytest.raises(InvalidInput, match="unknown outcome"):
            await reporting.record_attempt(session, SYSTEM, batch.id, reporting.Attempt("maybe"))


async def test_the_batch_stream_replays_to_the_stored_batch(database) -> None:  # type: ignore[no-untyped-def]
    registry = StreamRegistry()
    reporting.register(registry)
    async with database.transaction() as session:
        batch = await reporting.build_batch(session, SYSTEM, "entities", WINDOW)
        await reporting.record_attempt(session, SYSTEM, batch.id, reporting.Attempt("rejected", error="bad"))
    async with database.reader() as session:
        check = await check_stream(session, registry, reporting.batch_stream(batch.id))
    assert check.matches, (check.replayed, check.stored)


def test_due_days_catch_up_from_the_last_day_reported() -> None:
    today = date(2026, 3, 10)
    assert due_days(None, today) == [date(2026, 3, 9)]
    assert due_days(date(2026, 3, 9), today) == []
    assert due_days(date(2026, 3, 6), today) == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert len(due_days(date(2025, 1, 1), today)) == CATCH_UP_DAYS  # a long outage: a week at a time


def test_windows_are_utc_days() -> None:
    assert WINDOW.start == datetime(2026, 3, 2, tzinfo=timezone.utc) and WINDOW.end - WINDOW.start == timedelta(days=1)
    assert reporting.json_lines([{"b": 1, "a": "中"}]) == '{"a": "中", "b": 1}\n'.encode()


async def test_alerts_carry_the_warnings_raised_in_the_window_without_their_evidence(database) -> None:  # type: ignore[no-untyped-def]
    from supervision.warnings.models import EarlyWarning

    with during_the_day():
        async with database.transaction() as session:
            made = await open_lot(session)
            session.add(EarlyWarning(
                rule_code="trading.price_cluster", subject_kind="lot", subject_key=f"lot:{made.lot.id}",
                summary="three prices within 0.5%", evidence={"bids": [1, 2, 3], "prices": ["1.00"]},
                project_id=made.project.id, region_code=made.project.region_code, segment=made.project.segment,
                status="open", raised_at=utcnow(), updated_at=utcnow()))
    async with database.transaction() as session:
        alerts = await reporting.build_batch(session, SYSTEM, "alerts", WINDOW)
        complaints = await reporting.build_batch(session, SYSTEM, "complaints", WINDOW)
    [row] = lines(alerts)
    assert row["rule"] == "trading.price_cluster" and row["ocid"] == ocid_of(made.project.code)
    assert "evidence" not in row and "[1, 2, 3]" not in alerts.content and "1.00" not in alerts.content
    assert complaints.record_count == 0

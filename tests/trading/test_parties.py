"""Qualifications and credit records: who records them, who reads them, and who may bid."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from core.actors import Role
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.bid_factories import auth, token_for
from tests.trading.factories import make_bidder, open_lot, trusted_ca
from trading import parties
from trading.bid_schemas import CreditRecordCreate, CreditRecordEnd, QualificationCreate
from trading.states import CreditKind
from web.runtime import Runtime


async def _replays(runtime: Runtime, stream: str) -> None:
    async with runtime.database.reader() as session:
        check = await check_stream(session, runtime.registry, stream)
    assert check.matches, (check.replayed, check.stored)


async def test_blacklisting_runs_between_its_dates(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        bidder = await make_bidder(session, await trusted_ca(session))
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        party_id = bidder.party.id
        assert await parties.bidding_refusal(session, party_id, on=date(2026, 6, 1)) is None
        record = await parties.record_credit(session, regulator, party_id, CreditRecordCreate(
            kind=CreditKind.BLACKLIST, reason="false qualification documents", authority="Fuzhou Finance Bureau",
            start_date=date(2026, 5, 1), end_date=date(2027, 4, 30)))
    await _replays(runtime, f"credit:{party_id}")
    async with runtime.database.transaction() as session:
        assert await parties.bidding_refusal(session, party_id, on=date(2026, 4, 30)) is None
        refusal = await parties.bidding_refusal(session, party_id, on=date(2026, 5, 1))
        assert refusal is not None and "Fuzhou Finance Bureau" in refusal and "false qualification" in refusal
        assert await parties.bidding_refusal(session, party_id, on=date(2027, 5, 1)) is None
        await parties.record_credit(session, regulator, party_id, CreditRecordCreate(
            kind=CreditKind.BAD, reason="late delivery", authority="Fuzhou Finance Bureau", start_date=date(2026, 1, 1)))
        assert await parties.bidding_refusal(session, party_id, on=date(2026, 1, 2)) is None, "a bad record does not bar"
        await parties.end_credit_record(session, regulator, record.id, CreditRecordEnd(end_date=date(2026, 6, 30)))  # type: ignore[arg-type]
        assert await parties.bidding_refusal(session, party_id, on=date(2026, 7, 1)) is None
    await _replays(runtime, f"credit:{party_id}")


async def test_a_lot_may_require_a_qualification(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        bidder = await make_bidder(session, await trusted_ca(session))
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
        lot = (await open_lot(session)).lot
        lot.evaluation_parameters = {**lot.evaluation_parameters, "required_qualifications": [
            {"kind": "construction_general_contracting", "grade": "grade_1"}]}
        today = date(2026, 6, 1)
        missing = await parties.bidding_refusal(session, bidder.party.id, on=today, lot=lot)  # type: ignore[arg-type]
        assert missing is not None and "has not recorded" in missing
        await parties.record_qualification(session, staff, bidder.party.id, QualificationCreate(  # type: ignore[arg-type]
            kind="construction_general_contracting", grade="grade_1", certificate_number="D135012345",
            expires_on=today - timedelta(days=1)))
        expired = await parties.bidding_refusal(session, bidder.party.id, on=today, lot=lot)  # type: ignore[arg-type]
        assert expired is not None and "D135012345 expired on 2026-05-31" in expired
        await parties.record_qualification(session, staff, bidder.party.id, QualificationCreate(  # type: ignore[arg-type]
            kind="construction_general_contracting", grade="grade_1", certificate_number="D135099999",
            expires_on=today + timedelta(days=300)))
        assert await parties.bidding_refusal(session, bidder.party.id, on=today, lot=lot) is None  # type: ignore[arg-type]
    await _replays(runtime, f"credit:{bidder.party.id}")


async def test_credit_over_http(runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        rival = await make_bidder(session, ca, "Rival")
        own = await token_for(session, bidder)
        other = await token_for(session, rival)
        staff = await token_for(session, role=Role.CENTER_STAFF)
        regulator = await token_for(session, role=Role.REGULATOR)
    party_id = bidder.party.id
    qualification = {"kind": "survey", "grade": "A", "certificate_number": "B1350001", "expires_on": "2028-01-01"}
    refused = await client.post(f"/parties/{party_id}/qualifications", json=qualification, headers=auth(own))
    assert refused.status_code == 403
    created = await client.post(f"/parties/{party_id}/qualifications", json=qualification, headers=auth(staff))
    assert created.status_code == 201, created.text
    blacklisting = {"kind": "blacklist", "reason": "bid rigging", "authority": "Fujian DRC", "start_date": "2020-01-01"}
    assert (await client.post(f"/parties/{party_id}/credit-records", json=blacklisting,
                              headers=auth(staff))).status_code == 403
    record = await client.post(f"/parties/{party_id}/credit-records", json=blacklisting, headers=auth(regulator))
    assert record.status_code == 201, record.text
    bad_dates = await client.post(f"/parties/{party_id}/credit-records", headers=auth(regulator),
                                  json={**blacklisting, "end_date": "2019-01-01"})
    assert bad_dates.status_code == 422 and "end_date is before start_date" in bad_dates.text
    mine = await client.get(f"/parties/{party_id}/credit", headers=auth(own))
    assert mine.status_code == 200
    assert mine.json()["qualifications"][0]["certificate_number"] == "B1350001"
    assert "bid rigging" in mine.json()["bidding_refused"]
    assert (await client.get(f"/parties/{party_id}/credit", headers=auth(other))).status_code == 404
    assert (await client.get(f"/parties/{party_id}/credit", headers=auth(staff))).status_code == 200
    ended = await client.post(f"/credit-records/{record.json()['id']}/end", json={"end_date": "2021-01-01"},
                              headers=auth(regulator))
    assert ended.status_code == 200 and ended.json()["end_date"] == "2021-01-01"
    assert (await client.get(f"/parties/{party_id}/credit", headers=auth(own))).json()["bidding_refused"] is None
    await _replays(runtime, f"credit:{party_id}")

"""Bid bonds: recorded by the bidder until verified, verified by centre staff, replayed."""

from __future__ import annotations

import httpx

from core.actors import Role
from supervision.replay import check_stream
from tests.trading.bid_factories import auth, token_for
from tests.trading.factories import make_bidder, open_lot, trusted_ca
from web.runtime import Runtime


async def test_record_correct_verify(runtime: Runtime, client: httpx.AsyncClient) -> None:
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        rival = await token_for(session, await make_bidder(session, ca, "Rival"))
        lot = (await open_lot(session)).lot
        token = await token_for(session, bidder)
        staff = await token_for(session, role=Role.CENTER_STAFF)
    bond = {"form": "guarantee", "reference": "BG-001", "amount": "200000.00"}
    first = await client.post(f"/lots/{lot.id}/bond", json=bond, headers=auth(token))
    assert first.status_code == 200, first.text
    stream = f"bid_bond:{first.json()['id']}"
    bad = await client.post(f"/lots/{lot.id}/bond", json={**bond, "form": "cheque", "amount": "1.234"},
                            headers=auth(token))
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"$.form", "$.amount"}
    corrected = await client.post(f"/lots/{lot.id}/bond", json={**bond, "reference": "BG-002"}, headers=auth(token))
    assert corrected.json()["id"] == first.json()["id"] and corrected.json()["reference"] == "BG-002"
    async with runtime.database.reader() as session:
        assert (await check_stream(session, runtime.registry, stream)).matches
    assert (await client.post(f"/bonds/{first.json()['id']}/verify", headers=auth(token))).status_code == 403
    verified = await client.post(f"/bonds/{first.json()['id']}/verify", headers=auth(staff))
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert verified.json()["verified_by"] is not None and verified.json()["amount"] == "200000.00"
    async with runtime.database.reader() as session:
        assert (await check_stream(session, runtime.registry, stream)).matches
    late = await client.post(f"/lots/{lot.id}/bond", json=bond, headers=auth(token))
    assert late.status_code == 409 and "verified" in late.json()["detail"]
    again = await client.post(f"/bonds/{first.json()['id']}/verify", headers=auth(staff))
    assert again.status_code == 409
    assert len((await client.get(f"/lots/{lot.id}/bonds", headers=auth(staff))).json()) == 1
    assert (await client.get(f"/lots/{lot.id}/bonds", headers=auth(rival))).json() == []

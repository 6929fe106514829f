"""Submitting, replacing and withdrawing bids over HTTP, with receipts and replay."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509

from ca_interop.certificates import as_asn1, public_key_sha256
from core import clock
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.trading.bid_factories import (
    auth,
    http_submit,
    http_upload,
    prepare_runtime,
    sealed_envelope,
    token_for,
)
from tests.trading.factories import make_bidder, open_lot, trusted_ca
from trading.bid_models import Bid
from trading.bid_receipts import verify_receipt
from web.runtime import Runtime


async def _world(runtime: Runtime):  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        ca = await trusted_ca(session)
        bidder = await make_bidder(session, ca)
        # a near deadline, so that moving the clock past it keeps the session token valid
        lot = await open_lot(session, deadline=clock.utcnow() + timedelta(minutes=10))
        token = await token_for(session, bidder)
    prepare_runtime(runtime, ca)
    return ca, bidder, lot, token


async def _replays(runtime: Runtime, *streams: str) -> None:
    async with runtime.database.reader() as session:
        for stream in streams:
            check = await check_stream(session, runtime.registry, stream)
            assert check.matches, (stream, check.replayed, check.stored)


async def test_submit_and_verify_receipt(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot)
    upload = await http_upload(client, token, lot.lot.id, envelope)
    response = await http_submit(client, token, bidder, lot, upload)
    assert response.status_code == 201, response.text
    body = response.json()
    bid, receipt = body["bid"], body["receipt"]
    assert bid["status"] == "submitted" and bid["envelope_sha256"] == envelope.sha256
    assert receipt["envelope_size"] == envelope.size
    keys = (await client.get("/receipt-keys")).json()
    tsa_certificate = x509.load_pem_x509_certificate(keys["tsa_certificate"].encode())
    assert verify_receipt(receipt, tsa_certificate=tsa_certificate, platform_public_key=keys["platform_public_key"]) == []
    assert runtime.blobs.exists(envelope.sha256)
    async with runtime.database.reader() as session:  # the signer's key, for the collusion rule
        stored = await session.get(Bid, bid["id"])
    assert stored is not None and stored.signer_key_sha256 == public_key_sha256(as_asn1(bidder.signing.cert))
    await _replays(runtime, f"bid:{bid['id']}")
    fetched = await client.get(f"/bids/{bid['id']}/receipt", headers=auth(token))
    assert fetched.status_code == 200
    assert verify_receipt(fetched.json(), tsa_certificate=tsa_certificate,
                          platform_public_key=keys["platform_public_key"]) == []


# --- what a refusal must leave: nothing ---------------------------------------------------


async def _stored(runtime: Runtime) -> tuple[int, int]:
    async with runtime.database.reader() as session:
        bids = await session.scalar(sa.select(sa.func.count()).select_from(Bid))
        entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    return int(bids or 0), int(entries or 0)


async def _refused(runtime: Runtime, response: httpx.Response, status: int, *words: str,
                   before: tuple[int, int], sha256: str) -> dict:
    assert response.status_code == status, response.text
    problem = response.json()
    for word in words:
        assert word in problem["detail"], problem
    assert await _stored(runtime) == before
    assert not runtime.blobs.exists(sha256)
    return problem


async def _ready(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot)
    upload = await http_upload(client, token, lot.lot.id, envelope)
    return ca, bidder, lot, token, upload


async def test_a_bid_one_second_after_the_deadline_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    before = await _stored(runtime)
    deadline = lot.lot.bid_deadline
    assert deadline is not None
    with clock.travel(to=deadline + timedelta(seconds=1)):
        response = await http_submit(client, token, bidder, lot, upload)
    problem = await _refused(runtime, response, 409, "deadline", "seconds ago", before=before,
                             sha256=upload["sha256"])
    assert problem["rule"] == "bid_deadline"
    late_by = float(problem["detail"].split(", ")[1].split(" seconds")[0])
    assert 1.0 <= late_by < 2.0


async def test_a_revoked_certificate_cannot_bid(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    before = await _stored(runtime)
    ca.ca.revoke(bidder.signing.cert)
    ca.refresh()
    runtime.revocation = ca.revocation
    response = await http_submit(client, token, bidder, lot, upload)
    problem = await _refused(runtime, response, 409, "signing certificate is not valid", "TOTAL_FAILED",
                             before=before, sha256=upload["sha256"])
    assert problem["rule"] == "bidder_certificate"


async def test_an_untrusted_or_foreign_certificate_cannot_bid(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from ca_interop.demo_pki import DemoCA

    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    before = await _stored(runtime)
    stranger_ca = DemoCA.create("Unknown CA", "ecdsa")
    untrusted = stranger_ca.issue("Bidder", uscc=bidder.party.uscc, organization=bidder.party.name)
    response = await http_submit(client, token, bidder, lot, upload, signer=untrusted)
    await _refused(runtime, response, 409, "not a recognised CA", before=before, sha256=upload["sha256"])
    async with runtime.database.transaction() as session:
        other = await make_bidder(session, ca, "Other Co., Ltd.")
    before = await _stored(runtime)
    response = await http_submit(client, token, bidder, lot, upload, signer=other.signing)
    await _refused(runtime, response, 409, f"not your party {bidder.party.name} ({bidder.party.uscc})",
                   before=before, sha256=upload["sha256"])


async def test_a_blacklisted_party_cannot_bid(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    from datetime import date

    from core.actors import Role
    from tests.factories import actor_of, make_user
    from trading.bid_schemas import CreditRecordCreate
    from trading.parties import record_credit
    from trading.states import CreditKind

    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    async with runtime.database.transaction() as session:
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        await record_credit(session, regulator, bidder.party.id, CreditRecordCreate(
            kind=CreditKind.BLACKLIST, reason="collusive bidding in tender GC-2025-0042", authority="Fujian Housing Department",
            start_date=date(2020, 1, 1)))
    before = await _stored(runtime)
    response = await http_submit(client, token, bidder, lot, upload)
    problem = await _refused(runtime, response, 409, "blacklisted by Fujian Housing Department",
                             "collusive bidding", before=before, sha256=upload["sha256"])
    assert problem["rule"] == "bidder_eligible"
    created = await client.post(f"/lots/{lot.lot.id}/uploads", json={"size": 100, "sha256": "0" * 64},
                                headers=auth(token))
    assert created.status_code == 409 and "blacklisted" in created.json()["detail"]


async def test_a_duplicate_submission_is_refused(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    first = await http_submit(client, token, bidder, lot, upload)
    assert first.status_code == 201
    bid_id = first.json()["bid"]["id"]
    second_envelope = sealed_envelope(tmp_path / "2", bidder, lot)
    second = await http_upload(client, token, lot.lot.id, second_envelope)
    before = await _stored(runtime)
    response = await http_submit(client, token, bidder, lot, second)
    await _refused(runtime, response, 409, f"already has bid {bid_id}", f"/bids/{bid_id}/replace",
                   f"/bids/{bid_id}/withdraw", before=before, sha256=second["sha256"])


async def test_an_incomplete_upload_cannot_be_submitted(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    import hashlib

    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot)
    created = (await client.post(f"/lots/{lot.lot.id}/uploads", json={"size": envelope.size, "sha256": envelope.sha256},
                                 headers=auth(token))).json()
    chunk = envelope.path.read_bytes()[:1000]
    await client.put(f"/uploads/{created['id']}", params={"offset": 0}, content=chunk,
                     headers={**auth(token), "x-chunk-sha256": hashlib.sha256(chunk).hexdigest()})
    before = await _stored(runtime)
    response = await http_submit(client, token, bidder, lot, created)
    await _refused(runtime, response, 409, "incomplete: 1000 of", "offset 1000", before=before, sha256=envelope.sha256)


async def test_another_bidder_learns_nothing(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    from core.actors import Role

    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    bid_id = (await http_submit(client, token, bidder, lot, upload)).json()["bid"]["id"]
    async with runtime.database.transaction() as session:
        other = await make_bidder(session, ca, "Rival Co., Ltd.")
        rival = await token_for(session, other)
        staff = await token_for(session, role=Role.CENTER_STAFF)
        admin = await token_for(session, role=Role.ADMIN)
    for path in (f"/bids/{bid_id}", f"/bids/{bid_id}/receipt", f"/bids/{bid_id + 1000}", f"/uploads/{upload['id']}"):
        response = await client.get(path, headers=auth(rival))
        assert response.status_code == 404, path
        assert "does not exist" in response.json()["detail"]
    assert (await client.get(f"/lots/{lot.lot.id}/bids", headers=auth(rival))).json() == []
    for reader in (staff, admin):
        seen = await client.get(f"/bids/{bid_id}", headers=auth(reader))
        assert seen.status_code == 200
        assert upload["sha256"] in seen.text and "envelope" not in set(seen.json()) - {"envelope_sha256", "envelope_size"}
    withdraw = await client.post(f"/bids/{bid_id}/withdraw", json={"reason": "x"}, headers=auth(rival))
    assert withdraw.status_code == 404


async def test_replace_and_withdraw_until_the_deadline(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    first = (await http_submit(client, token, bidder, lot, upload)).json()["bid"]
    await _replays(runtime, f"bid:{first['id']}")
    envelope = sealed_envelope(tmp_path / "2", bidder, lot)
    second_upload = await http_upload(client, token, lot.lot.id, envelope)
    from tests.trading.bid_factories import sign_statement

    body = {"upload_id": second_upload["id"], "signature": sign_statement(bidder, lot.lot.code, envelope.sha256)}
    replaced = await client.post(f"/bids/{first['id']}/replace", json=body, headers=auth(token))
    assert replaced.status_code == 201, replaced.text
    second = replaced.json()["bid"]
    assert second["replaces_bid_id"] == first["id"]
    old = (await client.get(f"/bids/{first['id']}", headers=auth(token))).json()
    assert old["status"] == "replaced"
    await _replays(runtime, f"bid:{first['id']}", f"bid:{second['id']}")
    again = await client.post(f"/bids/{first['id']}/withdraw", json={}, headers=auth(token))
    assert again.status_code == 409 and "replaced" in again.json()["detail"]

    deadline = lot.lot.bid_deadline
    assert deadline is not None
    before = await _stored(runtime)
    with clock.travel(to=deadline + timedelta(seconds=1)):
        late = await client.post(f"/bids/{second['id']}/withdraw", json={}, headers=auth(token))
        assert late.status_code == 409 and "deadline" in late.json()["detail"]
        late_replace = await client.post(f"/bids/{second['id']}/replace", json=body, headers=auth(token))
        assert late_replace.status_code == 409 and "deadline" in late_replace.json()["detail"]
    assert await _stored(runtime) == before

    withdrawn = await client.post(f"/bids/{second['id']}/withdraw", json={"reason": "price error"},
                                  headers=auth(token))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    await _replays(runtime, f"bid:{second['id']}")
    third_envelope = sealed_envelope(tmp_path / "3", bidder, lot)
    third_upload = await http_upload(client, token, lot.lot.id, third_envelope)
    third = await http_submit(client, token, bidder, lot, third_upload)
    assert third.status_code == 201, "after a withdrawal the party may bid again"


async def test_opening_statuses_are_replayed(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    from core.actors import SYSTEM
    from core.errors import Conflict, InvalidInput
    from trading.bids import set_bid_status

    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    bid_id = (await http_submit(client, token, bidder, lot, upload)).json()["bid"]["id"]
    async with runtime.database.transaction() as session:
        bid = await session.get(Bid, bid_id)
        await set_bid_status(session, SYSTEM, bid, "opened", reason="decrypted by the bidder",
                             details={"opening_id": 7})
    await _replays(runtime, f"bid:{bid_id}")
    async with runtime.database.transaction() as session:
        bid = await session.get(Bid, bid_id)
        with pytest.raises(Conflict, match="opened; it cannot become revoked"):
            await set_bid_status(session, SYSTEM, bid, "revoked", reason="x")
        with pytest.raises(InvalidInput):
            await set_bid_status(session, SYSTEM, bid, "withdrawn", reason="x")
        await set_bid_status(session, SYSTEM, bid, "rejected", reason="price above the ceiling")
    await _replays(runtime, f"bid:{bid_id}")


# --- the receipt --------------------------------------------------------------------------


def _tamperings(receipt: dict) -> list[tuple[str, dict]]:
    """One changed copy per field, nested fields included."""
    variants = []

    def changed(value: object) -> object:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        if isinstance(value, str):
            return value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        if isinstance(value, list):
            return value[:-1] if value else ["00" * 32]
        raise AssertionError(value)

    for key, value in receipt.items():
        if isinstance(value, dict):
            for inner in value:
                copied = copy.deepcopy(receipt)
                copied[key][inner] = changed(value[inner])
                variants.append((f"{key}.{inner}", copied))
        else:
            copied = copy.deepcopy(receipt)
            copied[key] = changed(value)
            variants.append((key, copied))
    return variants


async def test_tampering_with_any_receipt_field_is_caught(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token, upload = await _ready(runtime, client, tmp_path)
    # more entries so that the audit path is not empty
    for n in range(3):
        async with runtime.database.transaction() as session:
            await make_bidder(session, ca, f"Filler {n}")
    receipt = (await http_submit(client, token, bidder, lot, upload)).json()["receipt"]
    async with runtime.database.transaction() as session:
        await make_bidder(session, ca, "Later Co.")
    receipt = (await client.get(f"/bids/{receipt['bid_id']}/receipt", headers=auth(token))).json()
    assert receipt["inclusion_proof"]["audit_path"]
    keys = (await client.get("/receipt-keys")).json()
    tsa = x509.load_pem_x509_certificate(keys["tsa_certificate"].encode())
    key = keys["platform_public_key"]
    assert verify_receipt(receipt, tsa_certificate=tsa, platform_public_key=key) == []
    for name, tampered in _tamperings(receipt):
        assert verify_receipt(tampered, tsa_certificate=tsa, platform_public_key=key), f"{name} was not checked"
    other_tsa = __import__("tests.trading.bid_factories", fromlist=["x"]).install_tsa(runtime).cert
    assert verify_receipt(receipt, tsa_certificate=other_tsa, platform_public_key=key)
    assert verify_receipt({}, tsa_certificate=tsa, platform_public_key=key)[0].startswith("the receipt is malformed")

"""The trust list and certificate validation over HTTP and the command line."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from ca_interop.demo_pki import DemoCA
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from core.actors import Role
from core.database import Database
from identities.trust_models import TrustedCA
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.web.test_identities_api import assert_problem, bearer, token_for
from web.runtime import Runtime, build_registry


async def test_admin_manages_the_trust_list_and_bidders_verify(client: httpx.AsyncClient, database: Database,
                                                               runtime: Runtime) -> None:
    ca = DemoCA.create("Fujian Digital CA", "ecdsa")
    runtime.revocation = RevocationSource(StaticRevocationTransport(documents={ca.crl_url: ca.crl_der()}))
    admin = await token_for(database, Role.ADMIN)
    added = await client.post("/ca/trust", headers=bearer(admin), json={
        "name": "Fujian Digital CA", "certificate_pem": ca.cert_pem.decode(), "region": "Fujian",
        "revocation_policy": "hard_fail"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["kind"] == "root" and body["algorithm"] == "ecdsa" and body["status"] == "active"

    bidder = await token_for(database, Role.BIDDER)
    leaf = ca.issue("Minjiang Construction", uscc="91350100M000100Y43")
    report = (await client.post("/ca/verify", headers=bearer(bidder),
                                json={"certificate_pem": leaf.cert_pem.decode()})).json()
    assert report["indication"] == "TOTAL_PASSED" and report["identity"]["uscc"] == "91350100M000100Y43"

    suspended = await client.post(f"/ca/trust/{body['id']}/suspend", headers=bearer(admin),
                                  json={"reason": "key ceremony audit"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    report = (await client.post("/ca/verify", headers=bearer(bidder),
                                json={"certificate_pem": leaf.cert_pem.decode()})).json()
    assert report["indication"] == "INDETERMINATE" and "suspended" in report["detail"]

    assert_problem(await client.post(f"/ca/trust/{body['id']}/suspend", headers=bearer(admin),
                                     json={"reason": "twice"}), 409, "suspended")
    retired = await client.post(f"/ca/trust/{body['id']}/retire", headers=bearer(admin), json={"reason": "closed"})
    assert retired.json()["status"] == "retired"
    assert_problem(await client.post(f"/ca/trust/{body['id']}/reinstate", headers=bearer(admin),
                                     json={"reason": "oops"}), 409, "final")

    async with database.reader() as session:
        types = (await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == f"ca:{body['id']}").order_by(LedgerEntry.seq))).all()
        check = await check_stream(session, build_registry(), f"ca:{body['id']}")
    assert types == ["identities.ca_added"] + ["identities.ca_status_changed"] * 2
    assert check.matches


async def test_bad_trust_list_input_is_named_and_nothing_stored(client: httpx.AsyncClient,
                                                                database: Database) -> None:
    admin = await token_for(database, Role.ADMIN)
    ca = DemoCA.create("Good CA", "rsa")
    leaf_pem = ca.issue("Not a CA").cert_pem.decode()
    cases = [
        ({"name": "X", "certificate_pem": "not a certificate"}, ["certificate_pem", "DER"]),
        ({"name": "X", "certificate_pem": leaf_pem}, ["not a CA certificate"]),
        ({"name": "X", "certificate_pem": ca.cert_pem.decode()[:300]}, ["PEM"]),
        ({"name": "X", "certificate_pem": ca.cert_pem.decode(), "revocation_policy": "maybe"},
         ["$.revocation_policy"]),
        ({"name": "X", "certificate_pem": ca.cert_pem.decode(),
          "identity_rule": {"credit_code_in": "common_name"}}, ["needs a pattern"]),
        ({"name": "X", "certificate_pem": ca.cert_pem.decode(),
          "identity_rule": {"credit_code_in": "common_name", "pattern": "(unclosed"}}, ["regular expression"]),
    ]
    for body, words in cases:
        assert_problem(await client.post("/ca/trust", headers=bearer(admin), json=body), 422, *words)
    bidder = await token_for(database, Role.BIDDER)
    assert_problem(await client.post("/ca/trust", headers=bearer(bidder), json={
        "name": "Mine", "certificate_pem": ca.cert_pem.decode()}), 403)
    assert_problem(await client.post("/ca/verify", headers=bearer(bidder),
                                     json={"certificate_pem": "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n"}),
                   422, "certificate")
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(TrustedCA)) == 0

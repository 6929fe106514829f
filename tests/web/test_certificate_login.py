"""Certificate sign-in: binding a certificate, then signing in with it; every refusal named."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from ca_interop.demo_pki import DemoCA, Issued
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from core.actors import SYSTEM, Role
from core.clock import utcnow
from core.database import Database
from identities import service
from identities.models import LoginChallenge, Party
from identities.schemas import PartyCreate, UserCreate
from identities.trust_schemas import TrustedCACreate
from identities.trust_service import add_trusted_ca
from supervision.ledger.models import LedgerEntry
from tests.factories import PASSWORD
from tests.web.test_identities_api import assert_problem, bearer
from web.client import BidhallClient, sign_challenge
from web.runtime import Runtime

USCC = "91350100M000100Y43"


@pytest.fixture
async def pki(runtime: Runtime, database: Database) -> DemoCA:
    ca = DemoCA.create("Login Test CA", "ecdsa")
    runtime.revocation = RevocationSource(StaticRevocationTransport(documents={ca.crl_url: ca.crl_der()}))
    async with database.transaction() as session:
        await add_trusted_ca(session, SYSTEM, TrustedCACreate(name="Login Test CA", certificate_pem=ca.cert_pem.decode()))
        party = await service.register_party(session, SYSTEM, PartyCreate(uscc=USCC, name="Minjiang Construction"))
        await service.create_user(session, SYSTEM, UserCreate(
            username="minjiang", display_name="Bidder", password=PASSWORD, roles=[Role.BIDDER], party_id=party.id))
    return ca


async def password_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/auth/login", json={"username": "minjiang", "password": PASSWORD})
    return str(response.json()["token"])


async def proof(client: httpx.AsyncClient, holder: Issued, *, text: str | None = None) -> dict[str, str]:
    challenge = (await client.post("/auth/certificate/challenge")).json()
    signed = challenge["to_sign"] if text is None else text
    return {"nonce": challenge["nonce"], "signature": sign_challenge(signed, holder.key_pem, holder.cert_pem)}


async def test_bind_then_sign_in_with_the_certificate(client: httpx.AsyncClient, pki: DemoCA,
                                                      database: Database) -> None:
    holder = pki.issue("Minjiang Construction", uscc=USCC)
    token = await password_token(client)
    bound = await client.post("/auth/certificates", headers=bearer(token), json=await proof(client, holder))
    assert bound.status_code == 201, bound.text
    assert bound.json()["uscc"] == USCC and bound.json()["ca_name"] == "Login Test CA"
    assert len((await client.get("/auth/certificates", headers=bearer(token))).json()) == 1

    login = await client.post("/auth/certificate/login", json=await proof(client, holder))
    assert login.status_code == 201, login.text
    me = await client.get("/auth/me", headers=bearer(login.json()["token"]))
    assert me.json()["username"] == "minjiang"
    async with database.reader() as session:
        last = (await session.scalars(sa.select(LedgerEntry.leaf).order_by(LedgerEntry.seq.desc()).limit(1))).one()
    assert json.loads(last)["actor"]["cert_fingerprint"] == bound.json()["fingerprint"]

    again = await proof(client, holder)
    assert (await client.post("/auth/certificate/login", json=again)).status_code == 201
    assert_problem(await client.post("/auth/certificate/login", json=again), 401, "already used")


async def test_refusals_name_the_failed_check(client: httpx.AsyncClient, pki: DemoCA, database: Database) -> None:
    holder = pki.issue("Minjiang Construction", uscc=USCC)
    token = await password_token(client)
    assert_problem(await client.post("/auth/certificate/login", json=await proof(client, holder)), 401, "not bound")
    await client.post("/auth/certificates", headers=bearer(token), json=await proof(client, holder))

    assert_problem(await client.post("/auth/certificate/login",
                                     json=await proof(client, holder, text="something else")), 401, "does not verify")
    assert_problem(await client.post("/auth/certificate/login", json={"nonce": "nope", "signature": "AAAA"}),
                   401, "unknown challenge")
    stale = await proof(client, holder)
    async with database.transaction() as session:
        await session.execute(sa.update(LoginChallenge).where(LoginChallenge.nonce == stale["nonce"])
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_problem(await client.post("/auth/certificate/login", json=stale), 401, "expired")
    bad = await proof(client, holder)
    assert_problem(await client.post("/auth/certificate/login", json={**bad, "signature": "%%%"}), 422, "base64")
    junk = await proof(client, holder)
    assert_problem(await client.post("/auth/certificate/login", json={
        **junk, "signature": base64.b64encode(b"\x30\x03junk").decode()}), 422, "$.signature")

    stranger = DemoCA.create("Stranger CA", "rsa").issue("Minjiang Construction", uscc=USCC)
    assert_problem(await client.post("/auth/certificate/login", json=await proof(client, stranger)),
                   401, "NO_CERTIFICATE_CHAIN_FOUND")
    revoked = pki.issue("Minjiang Construction", uscc=USCC)
    pki.revoke(revoked.cert)
    client_runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    client_runtime.revocation = RevocationSource(StaticRevocationTransport(documents={pki.crl_url: pki.crl_der()}))
    assert_problem(await client.post("/auth/certificates", headers=bearer(token), json=await proof(client, revoked)),
                   401, "REVOKED")


async def test_a_certificate_of_another_party_cannot_be_bound(client: httpx.AsyncClient, pki: DemoCA,
                                                              database: Database) -> None:
    other = pki.issue("Another Company", uscc="91110000600037341L")
    token = await password_token(client)
    assert_problem(await client.post("/auth/certificates", headers=bearer(token), json=await proof(client, other)),
                   409, "not the party of this account")
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Party)) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_python_client_against_a_real_server(runtime: Runtime, pki: DemoCA) -> None:
    from web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        holder = pki.issue("Minjiang Construction", uscc=USCC)

        def as_a_bidder() -> str:
            client = BidhallClient(f"http://127.0.0.1:{port}")
            try:
                password = client.http.post("/auth/login", json={"username": "minjiang", "password": PASSWORD})
                client.bind_certificate(holder.key_pem, holder.cert_pem, token=password.json()["token"])
                token = client.certificate_login(holder.key_pem, holder.cert_pem)
                return str(client.http.get("/auth/me", headers=bearer(token)).json()["username"])
            finally:
                client.close()

        assert await asyncio.to_thread(as_a_bidder) == "minjiang"
    finally:
        server.should_exit = True
        await serving


async def test_an_sm2_certificate_signs_in_too(client: httpx.AsyncClient, pki: DemoCA, database: Database,
                                               runtime: Runtime) -> None:
    from ca_interop.demo_pki_sm2 import Sm2DemoCA

    sm2 = Sm2DemoCA.create("SM2 Login CA")
    async with database.transaction() as session:
        await add_trusted_ca(session, SYSTEM, TrustedCACreate(name="SM2 Login CA", certificate_pem=sm2.cert_pem.decode()))
    runtime.revocation = RevocationSource(StaticRevocationTransport(
        documents={pki.crl_url: pki.crl_der(), sm2.crl_url: sm2.crl().dump()}))
    holder = sm2.issue("Minjiang Construction", uscc=USCC)
    token = await password_token(client)
    bound = await client.post("/auth/certificates", headers=bearer(token), json=await proof(client, holder))  # type: ignore[arg-type]
    assert bound.status_code == 201, bound.text
    login = await client.post("/auth/certificate/login", json=await proof(client, holder))  # type: ignore[arg-type]
    assert login.status_code == 201, login.text

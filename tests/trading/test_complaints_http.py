"""Complaints over HTTP: filing and the due dates shown, evidence streamed into blobs (413
over the limit, nothing stored), a regulator outside the jurisdiction refused with the
attempt recorded and committed, and the decision published."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import rfc3339
from identities import service as identities_service
from supervision.ledger.models import LedgerEntry
from tests.factories import PASSWORD
from tests.trading.complaint_factories import GROUNDS, register_streams, regulator
from tests.trading.project_factories import Caller, assert_problem, caller, http_lot
from trading.complaint_models import Complaint, ComplaintEvidence


@pytest.fixture(autouse=True)
def _streams(runtime) -> None:
    register_streams(runtime.registry)


async def _regulator(database, jurisdiction: str = "350000", industries: tuple[str, ...] = ("construction",)) -> Caller:
    async with database.transaction() as session:
        actor = await regulator(session, jurisdiction, industries)
        _, raw = await identities_service.sign_in(session, actor.username, PASSWORD, source_address="127.0.0.1",
                                                  hours=1)
    return Caller(user=actor, headers={"Authorization": f"Bearer {raw}"})


async def _filed(client: httpx.AsyncClient, database) -> tuple[Any, Caller, dict[str, Any]]:
    made = await http_lot(client, database, datetime.now(timezone.utc).replace(microsecond=0))
    party = await caller(database, Role.BIDDER)
    known = rfc3339(datetime.now(timezone.utc) - timedelta(days=2))
    response = await client.post(f"/lots/{made.lot['id']}/complaints", headers=party.headers,
                                 json={"matter": "process", "known_at": known, **GROUNDS})
    assert response.status_code == 201, response.text
    return made, party, response.json()


async def _entries(database, stream: str) -> list[str]:
    async with database.reader() as session:
        return list((await session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.stream == stream)
                                           .order_by(LedgerEntry.seq))).all())


async def test_the_whole_complaint_over_http(client: httpx.AsyncClient, database) -> None:
    made, party, complaint = await _filed(client, database)
    assert complaint["status"] == "filed" and complaint["acceptance_due"] and complaint["window_until"]
    officer = await _regulator(database)
    url = f"/complaints/{complaint['id']}"
    response = await client.post(f"{url}/acceptance", json={"accept": True}, headers=officer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["decision_due"] and response.json()["acceptance_late"] is False
    response = await client.post(f"{url}/suspension", json={"reason": "Clause 3.2 under review"},
                                 headers=officer.headers)
    assert response.status_code == 200, response.text
    assert (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]["status"] == "suspended"
    response = await client.post(f"{url}/decision", json={"outcome": "upheld", "reasons": "Clause 3.2 is unlawful."},
                                 headers=officer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "upheld" and response.json()["decision_notice_id"]
    assert (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]["status"] == "bidding"
    decisions = (await client.get("/notices", params={"kind": "complaint_decision"})).json()["items"]
    assert len(decisions) == 1 and decisions[0]["details"]["complaint_id"] == complaint["id"]
    assert (await client.get(url, headers=party.headers)).json()["status"] == "decided"
    assert (await client.get(url, headers=made.tenderer.headers)).status_code == 200
    listed = await client.get(f"/lots/{made.lot['id']}/complaints", headers=party.headers)
    assert [c["id"] for c in listed.json()] == [complaint["id"]]


async def test_bad_complaints_are_refused_clearly(client: httpx.AsyncClient, database) -> None:
    made = await http_lot(client, database, datetime.now(timezone.utc).replace(microsecond=0))
    party = await caller(database, Role.BIDDER)
    url = f"/lots/{made.lot['id']}/complaints"
    late = rfc3339(datetime.now(timezone.utc) - timedelta(days=30))
    body = assert_problem(await client.post(url, headers=party.headers, json={"matter": "process", "known_at": late,
                                                                              **GROUNDS}),
                          409, "construction.complaint_window", "Bidding Law Regulations art. 60")
    assert body["rule"] == "construction.complaint_window"
    assert_problem(await client.post(url, headers=party.headers, json={"matter": "documents", **GROUNDS}),
                   409, "construction.objection_first")
    assert_problem(await client.post(url, headers=party.headers, json={"matter": "process", **GROUNDS,
                                                                       "grounds": ""}), 422, "grounds")
    assert_problem(await client.post(url, headers=made.tenderer.headers, json={"matter": "process", **GROUNDS}), 403)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0


async def test_a_regulator_outside_the_jurisdiction_is_refused_and_the_attempt_recorded(client, database) -> None:
    _, _, complaint = await _filed(client, database)
    outsiders = (await _regulator(database, "360000"), await _regulator(database, industries=("land_mining",)))
    for outsider in outsiders:
        response = await client.post(f"/complaints/{complaint['id']}/acceptance", json={"accept": True},
                                     headers=outsider.headers)
        assert_problem(response, 403, "350102", "jurisdiction")
        assert_problem(await client.get(f"/complaints/{complaint['id']}", headers=outsider.headers), 403)
    assert await _entries(database, f"complaint:{complaint['id']}") == ["trading.complaint_filed"]
    for outsider in outsiders:
        stream = f"oversight:{outsider.user.user_id}"
        assert await _entries(database, stream) == ["trading.complaint_access_refused"] * 2
    async with database.reader() as session:
        assert (await session.get(Complaint, complaint["id"])).status == "filed"  # type: ignore[union-attr]
        leaf = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"oversight:{outsiders[0].user.user_id}").order_by(LedgerEntry.seq))).first()
        refused = json.loads(leaf)  # type: ignore[arg-type]
    assert refused["payload"] == {"target": f"complaint:{complaint['id']}", "action": "acceptance",
                                  "jurisdiction": "360000", "industries": ["construction"]}


async def test_evidence_is_streamed_into_a_blob_and_refused_over_the_limit(client, database, runtime) -> None:
    runtime.settings.max_document_bytes = 4096
    _, party, complaint = await _filed(client, database)
    url = f"/complaints/{complaint['id']}/evidence"
    content = b"%PDF-1.7 evidence " * 100
    response = await client.post(url, params={"name": "clause-3.2.pdf"}, content=content,
                                 headers={**party.headers, "Content-Type": "application/pdf"})
    assert response.status_code == 201, response.text
    evidence = response.json()
    assert evidence["sha256"] == hashlib.sha256(content).hexdigest() and evidence["size"] == len(content)
    with runtime.blobs.open(evidence["sha256"]) as stored:
        assert stored.read() == content
    shown = (await client.get(f"/complaints/{complaint['id']}", headers=party.headers)).json()
    assert [e["name"] for e in shown["evidence"]] == ["clause-3.2.pdf"]
    officer = await _regulator(database)
    download = await client.get(f"{url}/{evidence['id']}", headers=officer.headers)
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert_problem(await client.get(f"{url}/999", headers=officer.headers), 404)
    outsider = await _regulator(database, "360000")
    assert_problem(await client.get(f"{url}/{evidence['id']}", headers=outsider.headers), 403)

    assert_problem(await client.post(url, params={"name": "big.pdf"}, content=b"x" * 5000, headers=party.headers),
                   413, "4096")

    async def chunked():
        for _ in range(3):
            yield b"y" * 3000

    assert_problem(await client.post(url, params={"name": "big.pdf"}, content=chunked(), headers=party.headers),
                   413, "over the limit of 4096 bytes")
    assert_problem(await client.post(url, params={"name": "../x"}, content=b"x", headers=party.headers), 422, "name")
    other = await caller(database, Role.BIDDER)
    assert_problem(await client.post(url, params={"name": "a.pdf"}, content=b"x", headers=other.headers), 403)
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(ComplaintEvidence)) == 1
    assert await _entries(database, f"complaint:{complaint['id']}") == [
        "trading.complaint_filed", "trading.complaint_evidence_added"]

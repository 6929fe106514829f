"""Tender documents: versioned uploads streamed as the raw body, downloads by bidders
within the documents' window (recorded), and refusals that leave nothing behind."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import sqlalchemy as sa

from core.actors import Role
from core.clock import parse_rfc3339
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    assert_problem,
    caller,
    clock_fixture,
    http_lot,
)
from trading.models import DocumentDownload, TenderDocument

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 400


def _blob_files(runtime) -> set[str]:
    root = runtime.blobs.root
    return {p.name for p in root.rglob("*") if p.is_file() and "tmp" not in p.parts}


async def _counts(database) -> tuple[int, int, int]:
    async with database.reader() as session:
        return tuple([int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)  # type: ignore[return-value]
                      for model in (TenderDocument, DocumentDownload, LedgerEntry)])


async def _upload(client, made, data: bytes, *, name: str = "tender documents.pdf", kind: str = "tender_documents",
                  headers: dict | None = None) -> httpx.Response:
    return await client.post(f"/projects/{made.project['id']}/documents", content=data,
                             params={"name": name, "kind": kind, "lot": made.lot["id"]},
                             headers={**(headers or made.tenderer.headers), "content-type": "application/pdf"})


async def test_versions_downloads_and_their_record(client: httpx.AsyncClient, database, runtime, clock) -> None:
    made = await http_lot(client, database, clock.now)
    first = await _upload(client, made, PDF)
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1 and first.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    second = await _upload(client, made, PDF + b"amended")
    assert second.json()["version"] == 2 and second.json()["size"] == len(PDF) + 7
    listing = (await client.get(f"/projects/{made.project['id']}/documents")).json()
    assert [(d["name"], d["version"]) for d in listing] == [("tender documents.pdf", 1), ("tender documents.pdf", 2)]

    bidder = await caller(database, Role.BIDDER)
    clock.set(parse_rfc3339(made.lot["documents_from"]) + timedelta(minutes=1))
    response = await client.get(f"/documents/{first.json()['id']}/download", headers=bidder.headers)
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    async with database.reader() as session:
        download = (await session.scalars(sa.select(DocumentDownload))).one()
        assert (download.party_id, download.document_id) == (bidder.user.party_id, first.json()["id"])
        entry = (await session.scalars(sa.select(LedgerEntry).order_by(LedgerEntry.seq.desc()))).first()
        assert entry.type == "trading.document_downloaded" and entry.stream == f"project:{made.project['id']}"
        result = await check_stream(session, runtime.registry, f"project:{made.project['id']}")
        assert result.matches, (result.replayed, result.stored)

    staff = await caller(database, Role.REGULATOR)  # oversight reads at any time, without a record
    clock.set(parse_rfc3339(made.lot["bid_deadline"]) + timedelta(days=1))
    assert (await client.get(f"/documents/{first.json()['id']}/download", headers=staff.headers)).content == PDF


async def test_documents_outside_their_window_are_refused(client: httpx.AsyncClient, database, runtime, clock) -> None:
    made = await http_lot(client, database, clock.now)
    document = (await _upload(client, made, PDF)).json()
    bidder = await caller(database, Role.BIDDER)
    before = await _counts(database)
    response = await client.get(f"/documents/{document['id']}/download", headers=bidder.headers)  # before it opens
    body = assert_problem(response, 409, "offered from", made.lot["documents_from"][:16])
    assert body["rule"] == "trading.documents_window"
    clock.set(parse_rfc3339(made.lot["documents_until"]) + timedelta(seconds=1))
    assert_problem(await client.get(f"/documents/{document['id']}/download", headers=bidder.headers), 409,
                   "trading.documents_window")
    assert await _counts(database) == before


async def test_a_non_owner_upload_leaves_nothing(client: httpx.AsyncClient, database, runtime, clock) -> None:
    made = await http_lot(client, database, clock.now)
    stranger, bidder = await caller(database, Role.TENDERER), await caller(database, Role.BIDDER)
    before, blobs = await _counts(database), _blob_files(runtime)
    assert_problem(await _upload(client, made, PDF, headers=stranger.headers), 403, "tenderer or agency only")
    assert_problem(await _upload(client, made, PDF, headers=bidder.headers), 403)
    assert await _counts(database) == before and _blob_files(runtime) == blobs


async def test_bad_upload_parameters_and_oversized_documents_are_refused(client: httpx.AsyncClient, database,
                                                                        runtime, clock) -> None:
    runtime.settings.max_document_bytes = 4096
    made = await http_lot(client, database, clock.now)
    before, blobs = await _counts(database), _blob_files(runtime)
    assert_problem(await _upload(client, made, b"%PDF", kind="novel"), 422, "kind", "clarification")
    assert_problem(await _upload(client, made, b"%PDF", name=""), 422, "name")
    assert_problem(await _upload(client, made, PDF), 413, "4096")  # announced by Content-Length

    async def chunked():
        for _ in range(3):
            yield b"x" * 3000

    response = await client.post(f"/projects/{made.project['id']}/documents", content=chunked(),
                                 params={"name": "big.pdf", "kind": "attachment"}, headers=made.tenderer.headers)
    assert_problem(response, 413, "over the limit of 4096 bytes")  # found while streaming
    assert await _counts(database) == before and _blob_files(runtime) == blobs


async def test_draft_documents_are_not_public(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False)
    assert (await _upload(client, made, PDF)).status_code == 201
    assert_problem(await client.get(f"/projects/{made.project['id']}/documents"), 404)
    own = await client.get(f"/projects/{made.project['id']}/documents", headers=made.tenderer.headers)
    assert own.status_code == 200 and len(own.json()) == 1

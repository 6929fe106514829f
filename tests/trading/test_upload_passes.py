"""Chunks under a pass: the next chunk of an upload skips the database checks for a moment,
but never the deadline, never for another token, and never after another process moved on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from core import clock
from identities.models import Token
from identities.service import token_digest
from tests.trading.bid_factories import sealed_envelope, token_for
from tests.trading.test_uploads import _create, _put, _world, take_chunk_directly
from trading import chunk_gate, uploads
from trading.bid_models import Upload
from web.runtime import Runtime


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements the application runs inside the block (those it sends through
    the driver itself, an upload's progress, too)."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement.split()[0].upper())

    async def progress(driver, *args):  # type: ignore[no-untyped-def]
        seen.append("UPDATE")
        return await record_progress(driver, *args)

    engine = runtime.database.engine.sync_engine
    record_progress = uploads.record_progress
    event.listen(engine, "before_cursor_execute", note)
    uploads.record_progress = progress  # type: ignore[assignment]
    try:
        yield seen
    finally:
        uploads.record_progress = record_progress  # type: ignore[assignment]
        event.remove(engine, "before_cursor_execute", note)


async def _started(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"p" * 40_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    first = await _put(client, token, upload["id"], 0, data[:10_000])
    assert first.status_code == 200, first.text
    return ca, bidder, lot, token, upload["id"], data


async def test_the_next_chunk_under_a_pass_only_records_itself(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    with statements(runtime) as seen:
        second = await _put(client, token, upload_id, 10_000, data[10_000:20_000])
    assert second.status_code == 200 and second.json()["received"] == 20_000
    assert [s for s in seen if s in ("SELECT", "UPDATE", "INSERT", "DELETE")] == ["UPDATE"], seen


async def test_a_pass_still_enforces_the_deadline(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, _, lot, token, upload_id, data = await _started(runtime, client, tmp_path)
    with clock.travel(to=lot.lot.bid_deadline + timedelta(seconds=1)):  # type: ignore[operator]
        late = await _put(client, token, upload_id, 10_000, data[10_000:20_000])
    assert late.status_code == 409 and late.json()["rule"] == "bid_deadline"
    async with runtime.database.reader() as session:
        assert (await session.get(Upload, upload_id)).received == 10_000  # type: ignore[union-attr]


async def test_a_pass_is_the_token_s_own(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token, upload_id, data = await _started(runtime, client, tmp_path)
    async with runtime.database.transaction() as session:
        from tests.trading.factories import make_bidder

        rival = await token_for(session, await make_bidder(session, ca, "Rival"))
        second_login = await token_for(session, bidder)
    assert (await _put(client, rival, upload_id, 10_000, data[10_000:20_000])).status_code == 404
    with statements(runtime) as seen:
        accepted = await _put(client, second_login, upload_id, 10_000, data[10_000:20_000])
    assert accepted.status_code == 200 and "SELECT" in seen, "another token is checked in the database"


async def test_a_revoked_token_is_refused_once_the_pass_lapses(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    async with runtime.database.transaction() as session:
        await session.execute(sa.update(Token).where(Token.token_hash == token_digest(token))  # type: ignore[arg-type]
                              .values(revoked_at=clock.utcnow()))
    monkeypatch.setattr(chunk_gate, "PASS_SECONDS", 0.0)
    refused = await _put(client, token, upload_id, 10_000, data[10_000:20_000])
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


async def test_a_chunk_taken_by_another_process_voids_the_pass(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, bidder, _, token, upload_id, data = await _started(runtime, client, tmp_path)
    # Another server process takes the chunk at 10,000 (the same steps its endpoint runs).
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    piece = data[10_000:20_000]
    await take_chunk_directly(runtime, bidder.actor, upload_id, 10_000, piece)
    # This process's pass still says 10,000; a client repeating that chunk is told where to go on.
    repeated = await _put(client, token, upload_id, 10_000, piece)
    assert repeated.status_code == 409 and "has received 20000" in repeated.json()["detail"]
    assert spool.path(upload_id).read_bytes() == data[:20_000], "the other process's chunk is kept"
    rest = await _put(client, token, upload_id, 20_000, data[20_000:])
    assert rest.status_code == 200 and rest.json()["status"] == "complete"


async def test_a_failed_chunk_leaves_the_next_one_to_the_database(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    wrong = await _put(client, token, upload_id, 10_000, data[10_000:20_000], claimed=hashlib.sha256(b"no").hexdigest())
    assert wrong.status_code == 422
    with statements(runtime) as seen:
        again = await _put(client, token, upload_id, 10_000, data[10_000:20_000])
    assert again.status_code == 200 and "SELECT" in seen

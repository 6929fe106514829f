"""Chunks of one upload in flight together: received in offset order, recorded in order,
and a failed chunk takes the ones after it down with it, never half-stored."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest

from tests.trading.bid_factories import auth
from tests.trading.test_upload_passes import _started
from tests.trading.test_uploads import _put
from trading import upload_lines, uploads
from trading.bid_models import Upload
from web.runtime import Runtime


async def _state(client: httpx.AsyncClient, token: str, upload_id: str) -> dict:
    return (await client.get(f"/uploads/{upload_id}", headers=auth(token))).json()


async def test_two_chunks_sent_together_are_both_taken(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    first, second = await asyncio.gather(_put(client, token, upload_id, 10_000, data[10_000:25_000]),
                                         _put(client, token, upload_id, 25_000, data[25_000:]))
    assert first.status_code == 200 and first.json()["received"] == 25_000, first.text
    assert second.status_code == 200 and second.json()["status"] == "complete", second.text
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    assert spool.path(upload_id).read_bytes() == data
    assert upload_lines._lines == {}, "the line closes with its last chunk"


async def test_a_chunk_arriving_ahead_of_its_turn_waits_for_the_one_before(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    ahead = asyncio.create_task(_put(client, token, upload_id, 25_000, data[25_000:]))
    await asyncio.sleep(0.2)
    assert not ahead.done(), "it waits for the chunk at 10,000"
    before = await _put(client, token, upload_id, 10_000, data[10_000:25_000])
    assert before.status_code == 200, before.text
    assert (await ahead).json()["status"] == "complete"


async def test_a_chunk_ahead_with_nothing_before_it_is_told_where_to_resume(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload_lines, "AHEAD_WAIT_SECONDS", 0.1)
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    ahead = await _put(client, token, upload_id, 25_000, data[25_000:])
    assert ahead.status_code == 409 and "offset 10000, not 25000" in ahead.json()["detail"]
    assert (await _state(client, token, upload_id))["received"] == 10_000


async def test_a_failed_chunk_fails_the_one_sent_after_it(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    *_, token, upload_id, data = await _started(runtime, client, tmp_path)
    wrong_hash = hashlib.sha256(b"not this chunk").hexdigest()
    first, second = await asyncio.gather(
        _put(client, token, upload_id, 10_000, data[10_000:25_000], claimed=wrong_hash),
        _put(client, token, upload_id, 25_000, data[25_000:]))
    assert first.status_code == 422 and "X-Chunk-SHA256" in first.json()["detail"]
    assert second.status_code == 409, second.text
    assert (await _state(client, token, upload_id))["received"] == 10_000
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    assert spool.path(upload_id).read_bytes() == data[:10_000], "nothing of either chunk is kept"
    resumed = await _put(client, token, upload_id, 10_000, data[10_000:])
    assert resumed.status_code == 200 and resumed.json()["status"] == "complete"
    async with runtime.database.reader() as session:
        assert (await session.get(Upload, upload_id)).received == len(data)  # type: ignore[union-attr]


async def test_a_tiny_first_chunk_and_the_next_sent_together_are_sniffed_from_the_file(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tests.trading.bid_factories import sealed_envelope
    from tests.trading.test_uploads import _create, _world

    slow_write = uploads.SpoolWriter._write

    def behind(self, batch):  # type: ignore[no-untyped-def]
        time.sleep(0.05)  # the disk is behind: the first bytes reach the file late
        slow_write(self, batch)

    monkeypatch.setattr(uploads.SpoolWriter, "_write", behind)

    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"t" * 30_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    results = await asyncio.gather(*(_put(client, token, upload["id"], start, data[start:end])
                                     for start, end in [(0, 10), (10, 40), (40, len(data))]))
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    assert results[-1].json()["status"] == "complete"

"""A chunk whose XXH3 is right is answered while it is recorded and its last bytes go to the
disk. If the record fails, the next chunk is sent back to where the database says the
upload stands; if the bytes never get there (a failed write, the server stopped), the next
chunk finds the spool file behind the record and the upload rewinds to what the file holds.
Nothing unverified is ever counted, and the upload still completes."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import xxhash

from core.errors import Conflict
from tests.trading.bid_factories import auth, sealed_envelope
from tests.trading.test_uploads import _create, _world
from trading import chunk_gate, upload_lines, uploads
from trading.bid_models import Upload
from web.runtime import Runtime


async def _put(client: httpx.AsyncClient, token: str, upload_id: str, offset: int, chunk: bytes) -> httpx.Response:
    """A chunk as the bidder client sends it: its XXH3-128, known good as soon as it is in."""
    return await client.put(f"/uploads/{upload_id}", params={"offset": offset}, content=chunk,
                            headers={**auth(token), "x-chunk-xxh3-128": xxhash.xxh3_128_hexdigest(chunk)})


async def _received(runtime: Runtime, upload_id: str) -> int:
    async with runtime.database.reader() as session:
        return (await session.get(Upload, upload_id)).received  # type: ignore[union-attr]


async def _upload(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"w" * 60_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    return token, upload["id"], data, spool.path(upload["id"])


class HeldWrites:
    """The spool file's writes wait until released (the disk is behind); from the
    ``fail_from``-th write on they fail (the disk gave up)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_from: int | None = None) -> None:
        self.release = threading.Event()
        self.writes = 0
        self.fail_from = fail_from
        real = uploads.SpoolWriter._write

        def write(writer, batch):  # type: ignore[no-untyped-def]
            self.release.wait(10)
            self.writes += 1
            if self.fail_from is not None and self.writes >= self.fail_from:
                raise OSError(5, "Input/output error")
            real(writer, batch)

        monkeypatch.setattr(uploads.SpoolWriter, "_write", write)


class HeldRecords:
    """Recording a chunk's progress waits until released (the database is slow); with
    ``fail`` set, the first record fails instead (the database refused it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.release = asyncio.Event()
        self.fail = fail
        self.recorded = 0

        def held(real):  # type: ignore[no-untyped-def]
            async def record(*args):  # type: ignore[no-untyped-def]
                await self.release.wait()
                if self.fail:
                    self.fail = False
                    raise ConnectionError("the database went away")
                self.recorded += 1
                return await real(*args)
            return record

        # PostgreSQL records progress on the driver connection, SQLite through the session.
        monkeypatch.setattr(uploads, "record_progress", held(uploads.record_progress))
        monkeypatch.setattr(uploads, "record_chunk", held(uploads.record_chunk))


async def test_a_good_chunk_is_answered_before_it_is_recorded_and_its_bytes_are_on_the_disk(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, path = await _upload(runtime, client, tmp_path)
    disk, database = HeldWrites(monkeypatch), HeldRecords(monkeypatch)
    first = await asyncio.wait_for(_put(client, token, upload_id, 0, data[:20_000]), 5)
    assert first.status_code == 200 and first.json()["received"] == 20_000, first.text
    assert await _received(runtime, upload_id) == 0, "the record is still on its way"
    assert path.stat().st_size == 0, "the bytes are still on their way"

    asked = asyncio.create_task(client.get(f"/uploads/{upload_id}", headers=auth(token)))
    await asyncio.sleep(0.1)
    assert not asked.done(), "where the upload stands is told once the answered chunk is recorded"
    database.release.set()
    disk.release.set()
    assert (await asked).json()["received"] == 20_000
    await upload_lines.quiet()
    assert database.recorded == 1 and await _received(runtime, upload_id) == 20_000
    assert path.read_bytes() == data[:20_000]
    assert upload_lines._lines == {}, "the line closes once the chunk is recorded and its bytes are down"
    rest = await _put(client, token, upload_id, 20_000, data[20_000:])
    assert rest.status_code == 200 and rest.json()["status"] == "complete", rest.text


async def test_the_spool_file_stays_locked_until_the_answered_chunk_is_recorded(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, _ = await _upload(runtime, client, tmp_path)
    database = HeldRecords(monkeypatch)
    assert (await _put(client, token, upload_id, 0, data[:20_000])).status_code == 200
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    with pytest.raises(Conflict, match="being received"):  # another process would wait for it
        with spool.locked(upload_id):
            pass
    database.release.set()
    await upload_lines.quiet()
    with spool.locked(upload_id):
        pass


async def test_a_chunk_joining_the_line_as_the_last_answered_chunk_lands_finds_it_open(tmp_path: Path) -> None:
    spool = uploads.UploadSpool(tmp_path)
    upload_id = "ab" * 16
    spool.create(upload_id)
    behind: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with upload_lines.joined(spool, upload_id) as first_line:
        first_line.finish_behind(behind, first_line.received(10))
    assert not first_line.closed, "its answered chunk is still being recorded"
    behind.set_result(None)
    await asyncio.sleep(0)  # the answered chunk lands; the next chunk arrives right after
    async with upload_lines.joined(spool, upload_id) as line:
        for _ in range(5):
            await asyncio.sleep(0)
        assert not line.closed and not line.file.closed, "the line the chunk joined is not closed under it"
        line.file.write(b"x")
    await upload_lines.quiet()
    assert upload_lines._lines == {}


async def test_a_record_failing_after_the_answer_sends_the_next_chunk_back_to_where_the_upload_stands(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, path = await _upload(runtime, client, tmp_path)
    database = HeldRecords(monkeypatch, fail=True)
    first = await _put(client, token, upload_id, 0, data[:20_000])
    assert first.status_code == 200 and first.json()["received"] == 20_000, "answered before the record"
    database.release.set()
    await upload_lines.quiet()
    assert await _received(runtime, upload_id) == 0, "the record failed"

    second = await _put(client, token, upload_id, 20_000, data[20_000:40_000])
    assert second.status_code == 409 and "send the chunk at offset 0" in second.json()["detail"], second.text
    asked = await client.get(f"/uploads/{upload_id}", headers=auth(token))
    assert asked.json()["received"] == 0
    resumed = await _put(client, token, upload_id, 0, data)
    assert resumed.status_code == 200 and resumed.json()["status"] == "complete", resumed.text
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_a_write_failing_after_the_answer_rewinds_the_upload_to_what_the_file_holds(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, path = await _upload(runtime, client, tmp_path)
    first = await _put(client, token, upload_id, 0, data[:20_000])
    assert first.status_code == 200, first.text
    await upload_lines.quiet()
    disk = HeldWrites(monkeypatch, fail_from=1)
    second = await _put(client, token, upload_id, 20_000, data[20_000:40_000])
    assert second.status_code == 200 and second.json()["received"] == 40_000, "answered before the write"
    disk.release.set()
    await upload_lines.quiet()
    monkeypatch.undo()
    assert path.read_bytes() == data[:20_000], "the failed chunk's bytes are cut away"

    third = await _put(client, token, upload_id, 40_000, data[40_000:])
    assert third.status_code == 409, third.text
    assert "lost the last 20000 bytes" in third.json()["detail"] and "offset 20000" in third.json()["detail"]
    assert await _received(runtime, upload_id) == 20_000, "rewound to the spool file"
    resumed = await _put(client, token, upload_id, 20_000, data[20_000:])
    assert resumed.status_code == 200 and resumed.json()["status"] == "complete", resumed.text
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_a_spool_file_found_short_after_a_stop_rewinds_the_upload(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    token, upload_id, data, path = await _upload(runtime, client, tmp_path)
    for start, end in [(0, 20_000), (20_000, 40_000)]:
        assert (await _put(client, token, upload_id, start, data[start:end])).status_code == 200
    await upload_lines.quiet()
    # The server stopped after recording the second chunk, with part of it not yet written.
    with path.open("r+b") as file:
        file.truncate(28_672)
    chunk_gate.void(upload_id)  # a new process: no pass
    refused = await _put(client, token, upload_id, 40_000, data[40_000:])
    assert refused.status_code == 409 and "offset 28672" in refused.json()["detail"], refused.text
    assert await _received(runtime, upload_id) == 28_672
    resumed = await _put(client, token, upload_id, 28_672, data[28_672:])
    assert resumed.status_code == 200 and resumed.json()["status"] == "complete", resumed.text


async def test_a_chunk_reaching_a_process_waits_while_another_holds_the_spool_file(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, _ = await _upload(runtime, client, tmp_path)
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)

    async def hold_briefly() -> None:  # another process finishing its chunk's writes
        with spool.locked(upload_id):
            await asyncio.sleep(0.3)

    holder = asyncio.create_task(hold_briefly())
    await asyncio.sleep(0.05)
    waited = await _put(client, token, upload_id, 0, data[:20_000])
    await holder
    assert waited.status_code == 200, waited.text
    await upload_lines.quiet()  # this process's line lets go of the file once the bytes are down

    monkeypatch.setattr(upload_lines, "LOCK_WAIT_SECONDS", 0.2)
    with spool.locked(upload_id):  # another client sending the same upload, for longer
        chunk_gate.void(upload_id)
        refused = await _put(client, token, upload_id, 20_000, data[20_000:40_000])
    assert refused.status_code == 409 and "being received" in refused.json()["detail"], refused.text
    assert await _received(runtime, upload_id) == 20_000


# What follows is PostgreSQL's alone (SQLite has one kind of commit and no server connection).
ON_POSTGRES = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                      indirect=True)


@ON_POSTGRES
async def test_progress_commits_apart_and_completion_durably(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token, upload_id, data, _ = await _upload(runtime, client, tmp_path)
    relaxed: list[int] = []
    record_progress = uploads.record_progress

    async def progress(driver, upload_id, offset, received):  # type: ignore[no-untyped-def]
        relaxed.append(received)
        assert await driver.fetchval("SHOW synchronous_commit") == "off"
        return await record_progress(driver, upload_id, offset, received)

    monkeypatch.setattr(uploads, "record_progress", progress)
    durable: list[str] = []

    def note(*args):  # type: ignore[no-untyped-def]
        durable.append(args[2].split()[0].upper())

    engine = runtime.database.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        assert (await _put(client, token, upload_id, 0, data[:20_000])).status_code == 200
        await upload_lines.quiet()  # the chunk was answered ahead of its record
        assert relaxed == [20_000] and "UPDATE" not in durable, "progress short of completion: the relaxed pool"
        done = await _put(client, token, upload_id, 20_000, data[20_000:])
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert done.json()["status"] == "complete"
    assert relaxed == [20_000] and durable.count("UPDATE") == 1, "the completing chunk is recorded durably"
    async with runtime.database.engine.connect() as connection:
        assert await connection.scalar(sa.text("SHOW synchronous_commit")) == "on"


@ON_POSTGRES
async def test_progress_is_recorded_after_the_database_dropped_the_connection(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    token, upload_id, data, _ = await _upload(runtime, client, tmp_path)
    assert (await _put(client, token, upload_id, 0, data[:20_000])).status_code == 200
    await upload_lines.quiet()
    async with runtime.database.transaction() as session:  # e.g. the database restarted
        await session.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    second = await _put(client, token, upload_id, 20_000, data[20_000:40_000])
    assert second.status_code == 200 and second.json()["received"] == 40_000, second.text
    await upload_lines.quiet()
    assert await _received(runtime, upload_id) == 40_000

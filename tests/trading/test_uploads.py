"""Resumable envelope uploads: chunks verified by hash, resumption, refusals that leave nothing."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import xxhash
from starlette.requests import ClientDisconnect

from core import clock
from supervision.ledger.models import LedgerEntry
from tests.trading.bid_factories import (
    auth,
    file_envelope,
    prepare_runtime,
    sealed_envelope,
    token_for,
)
from tests.trading.factories import make_bidder, open_lot, trusted_ca
from trading import upload_lines, uploads
from trading.bid_models import Upload
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


async def _create(client: httpx.AsyncClient, token: str, lot_id: int, size: int, sha256: str) -> httpx.Response:
    return await client.post(f"/lots/{lot_id}/uploads", json={"size": size, "sha256": sha256}, headers=auth(token))


async def _put(client: httpx.AsyncClient, token: str, upload_id: str, offset: int, chunk: bytes,
               claimed: str | None = None) -> httpx.Response:
    return await client.put(f"/uploads/{upload_id}", params={"offset": offset}, content=chunk,
                            headers={**auth(token), "x-chunk-sha256": claimed or hashlib.sha256(chunk).hexdigest()})


def _sha256_claim(data: bytes) -> list[uploads.ChunkDigest]:
    return [uploads.ChunkDigest(uploads.CHUNK_HASHES["sha256"], hashlib.sha256(data).hexdigest())]


def _spool_files(runtime: Runtime) -> list[Path]:
    directory = runtime.settings.resolved_upload_dir
    return sorted(directory.glob("*.part")) if directory.is_dir() else []


async def _uploads_and_entries(runtime: Runtime) -> tuple[int, int]:
    async with runtime.database.reader() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Upload))
        entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    return int(count or 0), int(entries or 0)


async def test_chunks_resume_at_the_offset_the_server_tells(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"x" * 50_000)
    data = envelope.path.read_bytes()
    before = await _uploads_and_entries(runtime)
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    assert upload["received"] == 0 and upload["status"] == "receiving"
    assert await _uploads_and_entries(runtime) == (before[0] + 1, before[1]), "uploads are not ledger entries"
    assert (await _put(client, token, upload["id"], 0, data[:20_000])).json()["received"] == 20_000
    wrong = await _put(client, token, upload["id"], 10_000, data[10_000:30_000])
    assert wrong.status_code == 409 and "offset 20000, not 10000" in wrong.json()["detail"]
    state = (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).json()
    assert state["received"] == 20_000
    done = await _put(client, token, upload["id"], 20_000, data[20_000:])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete" and done.json()["received"] == envelope.size
    more = await _put(client, token, upload["id"], envelope.size, b"z")
    assert more.status_code == 409 and "complete" in more.json()["detail"]


async def test_a_chunk_with_a_wrong_hash_is_discarded(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"y" * 30_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    await _put(client, token, upload["id"], 0, data[:10_000])
    corrupted = data[10_000:19_999] + bytes([data[19_999] ^ 0xFF])  # always a different byte
    response = await _put(client, token, upload["id"], 10_000, corrupted, hashlib.sha256(data[10_000:20_000]).hexdigest())
    assert response.status_code == 422
    problem = response.json()
    assert "SHA-256" in problem["detail"] and "offset 10000" in problem["detail"]
    assert problem["errors"][0]["pointer"] == "header.X-Chunk-SHA256"
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).json()["received"] == 10_000
    assert _spool_files(runtime)[0].stat().st_size == 10_000, "nothing beyond the verified bytes"
    assert (await _put(client, token, upload["id"], 10_000, data[10_000:])).json()["status"] == "complete"


async def test_a_chunk_checked_by_xxh3_with_a_wrong_hash_is_discarded(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"v" * 30_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()

    async def put(offset: int, chunk: bytes, claimed: str) -> httpx.Response:
        return await client.put(f"/uploads/{upload['id']}", params={"offset": offset}, content=chunk,
                                headers={**auth(token), "X-Chunk-XXH3-128": claimed})

    first = await put(0, data[:10_000], xxhash.xxh3_128_hexdigest(data[:10_000]))
    assert first.json()["received"] == 10_000, first.text
    corrupted = data[10_000:19_999] + bytes([data[19_999] ^ 0xFF])
    response = await put(10_000, corrupted, xxhash.xxh3_128_hexdigest(data[10_000:20_000]))
    assert response.status_code == 422
    problem = response.json()
    assert "XXH3-128" in problem["detail"] and "offset 10000" in problem["detail"]
    assert problem["errors"][0]["pointer"] == "header.X-Chunk-XXH3-128"
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).json()["received"] == 10_000
    await upload_lines.quiet()  # the first chunk was answered ahead of its record and write
    assert _spool_files(runtime)[0].stat().st_size == 10_000, "nothing beyond the verified bytes"
    assert (await put(10_000, data[10_000:], xxhash.xxh3_128_hexdigest(data[10_000:]))).json()["status"] == "complete"


async def test_chunk_hash_headers_are_required_well_formed_and_all_checked(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"u" * 20_000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()

    async def put(headers: dict[str, str]) -> httpx.Response:
        return await client.put(f"/uploads/{upload['id']}", params={"offset": 0}, content=data[:5_000],
                                headers={**auth(token), **headers})

    missing = await put({})
    assert missing.status_code == 422
    assert "X-Chunk-XXH3-128 or X-Chunk-SHA256" in missing.json()["detail"]
    short = await put({"X-Chunk-XXH3-128": xxhash.xxh3_128_hexdigest(data[:5_000])[:31]})
    assert short.status_code == 422 and short.json()["errors"][0]["pointer"] == "header.X-Chunk-XXH3-128"
    not_hex = await put({"X-Chunk-SHA256": "g" * 64})
    assert not_hex.status_code == 422 and not_hex.json()["errors"][0]["pointer"] == "header.X-Chunk-SHA256"
    # Both given: both are checked, and one wrong one refuses the chunk.
    one_wrong = await put({"X-Chunk-SHA256": hashlib.sha256(data[:5_000]).hexdigest(),
                           "X-Chunk-XXH3-128": xxhash.xxh3_128_hexdigest(data[1:5_001])})
    assert one_wrong.status_code == 422 and one_wrong.json()["errors"][0]["pointer"] == "header.X-Chunk-XXH3-128"
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).json()["received"] == 0
    both_right = await put({"X-Chunk-SHA256": hashlib.sha256(data[:5_000]).hexdigest(),
                            "X-Chunk-XXH3-128": xxhash.xxh3_128_hexdigest(data[:5_000])})
    assert both_right.json()["received"] == 5_000, both_right.text


async def test_a_cut_off_chunk_leaves_the_verified_bytes_only(runtime: Runtime, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"w" * 3_000_000)
    data = envelope.path.read_bytes()
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    async with runtime.database.transaction() as session:
        from trading.bid_schemas import UploadCreate

        upload = await uploads.create_upload(session, bidder.actor, lot.lot.id,
                                             UploadCreate(size=envelope.size, sha256=envelope.sha256),
                                             max_bytes=runtime.settings.max_bid_bytes, spool=spool)
    upload_id = upload.id

    async def dropped():  # type: ignore[no-untyped-def]
        for start in range(0, 2_500_000, 65536):
            yield data[start:start + 65536]
        raise ClientDisconnect()

    with spool.locked(upload_id) as file:
        async with runtime.database.transaction() as session:
            target = await uploads.prepare_chunk(session, bidder.actor, upload_id, 0, 0)
        with pytest.raises(ClientDisconnect):
            await uploads.receive_chunk(file, target, dropped(), claimed=_sha256_claim(data),
                                        content_length=len(data))
    assert spool.path(upload_id).stat().st_size == 0
    async with runtime.database.reader() as session:
        assert (await session.get(Upload, upload_id)).received == 0  # type: ignore[union-attr]

    assert (await take_chunk_directly(runtime, bidder.actor, upload_id, 0, data)).status == "complete"


async def take_chunk_directly(runtime: Runtime, actor, upload_id: str, offset: int, piece: bytes) -> Upload:  # type: ignore[no-untyped-def]
    """The steps the chunk endpoint runs, without HTTP (as another server process would)."""
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)

    async def body():  # type: ignore[no-untyped-def]
        yield piece

    with spool.locked(upload_id) as file:
        async with runtime.database.transaction() as session:
            target = await uploads.prepare_chunk(session, actor, upload_id, offset, offset)
        received = await uploads.receive_chunk(file, target, body(), claimed=_sha256_claim(piece),
                                               content_length=len(piece))
        async with runtime.database.transaction() as session:
            return await uploads.record_chunk(session, upload_id, offset, received)


async def _refused_upload(runtime: Runtime, client: httpx.AsyncClient, token: str, lot_id: int, data: bytes,
                          *words: str, declared: str | None = None) -> dict:
    before = await _uploads_and_entries(runtime)
    upload = (await _create(client, token, lot_id, len(data), declared or hashlib.sha256(data).hexdigest())).json()
    response = await _put(client, token, upload["id"], 0, data)
    assert response.status_code == 422, response.text
    problem = response.json()
    for word in words:
        assert word in problem["detail"], problem
    assert await _uploads_and_entries(runtime) == before, "the refused upload is forgotten"
    assert _spool_files(runtime) == []
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).status_code == 404
    return problem


async def test_an_unencrypted_file_is_refused_at_once(runtime: Runtime, client: httpx.AsyncClient) -> None:
    ca, bidder, lot, token = await _world(runtime)
    pdf = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 100
    problem = await _refused_upload(runtime, client, token, lot.lot.id, pdf, "not a sealed envelope", "PDF",
                                    "unencrypted file is refused")
    assert problem["type"] == "/problems/envelope-refused"
    await _refused_upload(runtime, client, token, lot.lot.id, "投标报价：一千万元整\n".encode() * 20, "plain text")
    await _refused_upload(runtime, client, token, lot.lot.id, bytes(range(256)) * 4, "not a sealed envelope")


async def test_a_malformed_envelope_is_refused(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot, b"v" * 5000)
    data = envelope.path.read_bytes()
    await _refused_upload(runtime, client, token, lot.lot.id, data[:-40], "malformed envelope", "discarded")
    await _refused_upload(runtime, client, token, lot.lot.id, data + b"\x00\x00", "discarded")
    await _refused_upload(runtime, client, token, lot.lot.id, data, "SHA-256", "not the declared",
                          declared="0" * 64)


async def test_an_envelope_the_opening_key_cannot_open_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from ca_interop.envelopes import seal

    ca, bidder, lot, token = await _world(runtime)
    plain = tmp_path / "bid.zip"
    plain.write_bytes(b"u" * 1000)
    seal(plain, [bidder.encryption.cert], tmp_path / "bid.p7m")
    data = file_envelope(tmp_path / "bid.p7m").path.read_bytes()
    await _refused_upload(runtime, client, token, lot.lot.id, data, "not sealed to", "opening certificate")


async def test_an_oversized_file_is_refused(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    limit = runtime.settings.max_bid_bytes
    before = await _uploads_and_entries(runtime)
    response = await _create(client, token, lot.lot.id, limit + 1, "0" * 64)
    assert response.status_code == 422
    assert f"the largest accepted is {limit} bytes" in response.json()["detail"]
    assert response.json()["errors"][0]["pointer"] == "$.size"
    assert await _uploads_and_entries(runtime) == before
    envelope = sealed_envelope(tmp_path, bidder, lot, b"t" * 4000)
    data = envelope.path.read_bytes()
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    over = await _put(client, token, upload["id"], 0, data + b"extra")
    assert over.status_code == 422 and "beyond the declared size" in over.json()["detail"]
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).json()["received"] == 0
    assert _spool_files(runtime)[0].stat().st_size == 0
    assert (await _put(client, token, upload["id"], 0, data)).json()["status"] == "complete"


async def test_uploads_are_their_owners_and_end_at_the_deadline(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ca, bidder, lot, token = await _world(runtime)
    async with runtime.database.transaction() as session:
        rival = await token_for(session, await make_bidder(session, ca, "Rival"))
    envelope = sealed_envelope(tmp_path, bidder, lot)
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(rival))).status_code == 404
    stolen = await _put(client, rival, upload["id"], 0, envelope.path.read_bytes())
    assert stolen.status_code == 404
    assert (await client.get("/uploads/nothing-like-an-id", headers=auth(token))).status_code == 404
    deadline = lot.lot.bid_deadline
    assert deadline is not None
    with clock.travel(to=deadline + timedelta(seconds=1)):
        late = await _put(client, token, upload["id"], 0, envelope.path.read_bytes())
        assert late.status_code == 409 and "deadline" in late.json()["detail"]
        refused = await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)
        assert refused.status_code == 409 and refused.json()["rule"] == "bid_deadline"


async def test_abandoned_uploads_are_purged(runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot)
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    await _put(client, token, upload["id"], 0, envelope.path.read_bytes()[:100])
    spool = uploads.UploadSpool(runtime.settings.resolved_upload_dir)
    stray = spool.directory / f"{'a' * 32}.part"
    stray.write_bytes(b"left by a crash")
    async with runtime.database.transaction() as session:
        assert await uploads.purge_abandoned_uploads(session, timedelta(hours=1), spool=spool) == 0
    assert len(_spool_files(runtime)) == 2
    import os
    import time

    os.utime(stray, (time.time() - 7200, time.time() - 7200))
    with clock.travel(by=timedelta(hours=2)):
        async with runtime.database.transaction() as session:
            assert await uploads.purge_abandoned_uploads(session, timedelta(hours=1), spool=spool) == 1
    assert _spool_files(runtime) == []
    assert (await client.get(f"/uploads/{upload['id']}", headers=auth(token))).status_code == 404


async def test_an_unknown_upload_tells_a_stranger_nothing(runtime: Runtime, client: httpx.AsyncClient) -> None:
    ca, bidder, lot, token = await _world(runtime)
    anonymous = await client.put(f"/uploads/{'b' * 32}", params={"offset": 0}, content=b"x",
                                 headers={"x-chunk-sha256": hashlib.sha256(b"x").hexdigest()})
    assert anonymous.status_code == 401
    unknown = await _put(client, token, "b" * 32, 0, b"x")
    assert unknown.status_code == 404
    no_offset = await client.put(f"/uploads/{'b' * 32}", content=b"x", headers={**auth(token), "x-chunk-sha256": "z"})
    assert no_offset.status_code == 422 and "offset" in no_offset.json()["detail"]


async def test_the_hourly_job_purges_abandoned_uploads(runtime: Runtime, client: httpx.AsyncClient,
                                                      tmp_path: Path) -> None:
    from core.tasks import close_worker_loop, create_celery_app
    from trading.tasks import purge_uploads

    ca, bidder, lot, token = await _world(runtime)
    envelope = sealed_envelope(tmp_path, bidder, lot)
    upload = (await _create(client, token, lot.lot.id, envelope.size, envelope.sha256)).json()
    await _put(client, token, upload["id"], 0, envelope.path.read_bytes()[:100])
    app = create_celery_app(runtime.settings)  # this process acting as the worker
    try:
        assert app.conf.beat_schedule["trading.purge_abandoned_uploads"]["schedule"] == 3600
        assert purge_uploads() == 0  # touched just now
        with clock.travel(by=timedelta(days=2)):
            assert purge_uploads() == 1
    finally:
        close_worker_loop()
        app.close()
    assert _spool_files(runtime) == []

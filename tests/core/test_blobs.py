"""Tests for core.blobs: content addressing, atomicity on failure, traversal, memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import pytest

from core.blobs import (
    BlobDigestMismatch,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobId,
    UnsafeBlobPath,
    validate_digest,
)

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def small_batch_store(tmp_path: Path) -> BlobStore:
    """Tiny write batches, so a failure midway happens after real writes to the temp file."""
    return BlobStore(tmp_path / "blobs", write_batch_bytes=1024)


async def agen(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


def stored_files(store: BlobStore) -> list[Path]:
    if not store.root.exists():
        return []
    return sorted(p for p in store.root.rglob("*") if not p.is_dir())


def temp_files(store: BlobStore) -> list[Path]:
    return list(store.tmp_dir.iterdir()) if store.tmp_dir.exists() else []


def assert_nothing_left(store: BlobStore) -> None:
    assert stored_files(store) == []
    assert temp_files(store) == []


# --------------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_round_trip_stream(store: BlobStore) -> None:
    parts = [b"tender ", b"document ", b"", bytearray(b"body"), memoryview(b"!")]
    data = b"tender document body!"
    info = await store.put_stream(agen(parts))  # type: ignore[arg-type]
    assert info == BlobInfo(sha256=sha(data), size=len(data))
    assert store.exists(info.sha256)
    assert store.size(info.sha256) == len(data)
    with store.open(info.sha256) as reader:
        assert reader.read() == data
    streamed = [c async for c in store.iter_chunks(info.sha256, chunk_size=5)]
    assert b"".join(streamed) == data
    assert max(len(c) for c in streamed) <= 5


@pytest.mark.asyncio
async def test_layout_and_lazy_root(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "lazy" / "blobs")
    assert not store.root.exists()
    assert not store.exists(sha(b"x"))
    assert not store.root.exists()  # reads do not create the root
    info = await store.put_bytes(b"x")
    d = info.sha256
    assert store.path_for(d) == store.root / d[:2] / d[2:4] / d
    assert stored_files(store) == [store.path_for(d)]
    assert temp_files(store) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("data", [b"", b"a", os.urandom(3 * MiB + 17)])
async def test_digest_matches_hashlib(store: BlobStore, data: bytes) -> None:
    info = await store.put_bytes(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert store.path_for(info.sha256).read_bytes() == data
    assert await store.verify(info.sha256)


@pytest.mark.asyncio
async def test_dedupe(store: BlobStore) -> None:
    first = await store.put_bytes(b"same bid file")
    second = await store.put_stream(agen([b"same ", b"bid ", b"file"]))
    assert first == second
    assert stored_files(store) == [store.path_for(first.sha256)]
    assert temp_files(store) == []


@pytest.mark.asyncio
async def test_uppercase_digest_is_normalised(store: BlobStore) -> None:
    info = await store.put_bytes(b"report", expected_sha256=sha(b"report").upper())
    upper = info.sha256.upper()
    assert store.path_for(upper) == store.path_for(info.sha256)
    assert store.exists(upper)
    assert store.size(upper) == 6
    assert await store.verify(upper)
    assert validate_digest(upper) == info.sha256


def test_put_file(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "bid.pdf"
    source.write_bytes(os.urandom(MiB + 3))
    info = store.put_file(source, expected_sha256=sha(source.read_bytes()))
    assert info == BlobInfo(sha(source.read_bytes()), MiB + 3)
    assert store.path_for(info.sha256).read_bytes() == source.read_bytes()
    assert temp_files(store) == []


def test_put_file_failures_leave_nothing(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "bid.pdf"
    source.write_bytes(b"z" * 5000)
    with pytest.raises(BlobTooLarge):
        store.put_file(source, max_bytes=4999)
    with pytest.raises(BlobDigestMismatch):
        store.put_file(source, expected_sha256="0" * 64)
    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "missing")
    assert_nothing_left(store)


@pytest.mark.asyncio
async def test_verify_detects_corruption(store: BlobStore) -> None:
    info = await store.put_bytes(b"original")
    store.path_for(info.sha256).write_bytes(b"tampered")
    assert not await store.verify(info.sha256)


@pytest.mark.asyncio
async def test_missing_blob(store: BlobStore) -> None:
    missing = sha(b"never stored")
    assert not store.exists(missing)
    with pytest.raises(BlobNotFound, match=missing):
        store.size(missing)
    with pytest.raises(BlobNotFound):
        store.open(missing)
    with pytest.raises(BlobNotFound):
        store.delete(missing)
    store.delete(missing, missing_ok=True)
    with pytest.raises(BlobNotFound):
        await store.verify(missing)
    with pytest.raises(BlobNotFound):
        [c async for c in store.iter_chunks(missing)]
    assert issubclass(BlobNotFound, KeyError)
    assert str(BlobNotFound(missing)) == f"blob {missing} not found"


@pytest.mark.asyncio
async def test_delete(store: BlobStore) -> None:
    info = await store.put_bytes(b"to be removed")
    store.delete(info.sha256)
    assert not store.exists(info.sha256)
    assert stored_files(store) == []


def test_cleanup_tmp(store: BlobStore) -> None:
    store.tmp_dir.mkdir(parents=True)
    old, fresh = store.tmp_dir / "upload-old.part", store.tmp_dir / "upload-new.part"
    old.write_bytes(b"crashed")
    fresh.write_bytes(b"in flight")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert store.cleanup_tmp(older_than_seconds=3600) == 1
    assert temp_files(store) == [fresh]


# --------------------------------------------------------------------------- failures


@pytest.mark.asyncio
async def test_expected_sha256_mismatch_leaves_nothing(small_batch_store: BlobStore) -> None:
    store = small_batch_store
    wrong = sha(b"something else")
    with pytest.raises(BlobDigestMismatch) as caught:
        await store.put_stream(agen([b"q" * 4096] * 4), expected_sha256=wrong)
    assert wrong in str(caught.value)
    assert sha(b"q" * 4096 * 4) in str(caught.value)
    assert_nothing_left(store)


@pytest.mark.asyncio
async def test_iterator_raising_midway_leaves_nothing(small_batch_store: BlobStore) -> None:
    store = small_batch_store
    seen_temp: list[Path] = []

    async def failing() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000
        seen_temp.extend(temp_files(store))
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(failing())
    assert seen_temp, "a temp file should have existed before the failure"
    assert_nothing_left(store)


@pytest.mark.asyncio
async def test_max_bytes(small_batch_store: BlobStore) -> None:
    store = small_batch_store
    with pytest.raises(BlobTooLarge) as caught:
        await store.put_stream(agen([b"y" * 1000] * 10), max_bytes=5500)
    assert caught.value.max_bytes == 5500
    assert "5500" in str(caught.value)
    assert_nothing_left(store)
    info = await store.put_stream(agen([b"y" * 1000] * 5), max_bytes=5000)  # exactly at limit
    assert info.size == 5000


@pytest.mark.asyncio
async def test_non_bytes_chunk_rejected(store: BlobStore) -> None:
    with pytest.raises(TypeError, match="str"):
        await store.put_stream(agen(["text"]))  # type: ignore[list-item]
    assert_nothing_left(store)


@pytest.mark.asyncio
async def test_cancellation_midway_leaves_nothing(small_batch_store: BlobStore) -> None:
    store = small_batch_store
    stalled = asyncio.Event()

    async def slow_upload() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"c" * 4096
        stalled.set()
        await asyncio.Event().wait()  # the client stops sending
        yield b"never"

    task = asyncio.create_task(store.put_stream(slow_upload()))
    await stalled.wait()
    assert temp_files(store), "data should be in a temp file by now"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_nothing_left(store)


@pytest.mark.asyncio
async def test_cancellation_at_any_point_leaves_nothing(tmp_path: Path) -> None:
    """Cancel after varying loop ticks and wall-clock delays, to hit the temp-file open,
    writes running in worker threads, the commit and the iterator itself. No temp file may
    survive, and no partial blob: a cancel that lands during the atomic commit may leave
    the complete blob (it could be shared with other uploads, so it is never deleted)."""
    store = BlobStore(tmp_path / "blobs", write_batch_bytes=64 * 1024)
    data = os.urandom(64 * 1024)
    complete = store.path_for(sha(data * 16))
    waits: list[Callable[[], Awaitable[None]]] = [
        *(_ticks(n) for n in range(0, 40, 3)),
        *(_delay(0.0002 * 1.6**k) for k in range(14)),
    ]
    outcomes: list[str] = []
    for wait in waits:
        task = asyncio.create_task(store.put_stream(agen([data] * 16)))
        await wait()
        task.cancel()
        try:
            info = await task
        except asyncio.CancelledError:
            outcomes.append("cancelled")
        else:
            outcomes.append("stored")
            assert info == BlobInfo(complete.name, 16 * len(data))
        assert temp_files(store) == []
        assert stored_files(store) in ([], [complete])
        if complete.exists():
            assert await store.verify(complete.name)
            store.delete(complete.name)
    assert "cancelled" in outcomes


def _ticks(n: int) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    return wait


def _delay(seconds: float) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        await asyncio.sleep(seconds)

    return wait


@pytest.mark.asyncio
async def test_cancelled_reader_closes_file(store: BlobStore) -> None:
    info = await store.put_bytes(os.urandom(4 * MiB))
    chunks = store.iter_chunks(info.sha256, chunk_size=MiB)
    first = await chunks.__anext__()
    assert len(first) == MiB
    await chunks.aclose()  # finally-block closes the reader; no ResourceWarning


# --------------------------------------------------------------------------- traversal

BAD_IDS: list[object] = [
    "../../etc/passwd",
    "",
    "a" * 63,
    "a" * 65,
    "g" * 64,
    "/etc/passwd",
    "/" + "a" * 63,
    "a" * 63 + "\x00",
    "\x00" * 64,
    "a" * 63 + "\n",
    "a" * 64 + "\n",
    " " + "a" * 63,
    "a" * 32 + "/" + "a" * 31,
    "ab/cd/" + "a" * 58,
    "..",
    ".",
    "C:\\" + "a" * 61,
    "\\\\server\\share" + "a" * 50,
    "0x" + "a" * 62,
    "\u0660" * 64,  # ARABIC-INDIC DIGIT ZERO: str.isdigit() is True
    "\uff11" * 64,  # FULLWIDTH DIGIT ONE
    "\uff41" * 64,  # FULLWIDTH LATIN SMALL A
    "\u212a" * 64,  # KELVIN SIGN lowercases to ASCII "k"
    "a" * 63 + "\u00e9",
    "%2e%2e%2f" + "a" * 55,
    None,
    42,
    b"a" * 64,
    Path("a" * 64),
]

SyncCall = Callable[[BlobStore, object], object]
AsyncCall = Callable[[BlobStore, object], Awaitable[object]]

SYNC_CALLS: dict[str, SyncCall] = {
    "path_for": lambda s, d: s.path_for(d),  # type: ignore[arg-type]
    "exists": lambda s, d: s.exists(d),  # type: ignore[arg-type]
    "size": lambda s, d: s.size(d),  # type: ignore[arg-type]
    "open": lambda s, d: s.open(d),  # type: ignore[arg-type]
    "delete": lambda s, d: s.delete(d, missing_ok=True),  # type: ignore[arg-type]
    "validate_digest": lambda s, d: validate_digest(d),
}


async def _drain(store: BlobStore, digest: object) -> list[bytes]:
    return [c async for c in store.iter_chunks(digest)]  # type: ignore[arg-type]


ASYNC_CALLS: dict[str, AsyncCall] = {
    "verify": lambda s, d: s.verify(d),  # type: ignore[arg-type]
    "iter_chunks": _drain,
    "put_bytes(expected)": lambda s, d: s.put_bytes(b"x", expected_sha256=d),  # type: ignore[arg-type]
    "put_stream(expected)": lambda s, d: s.put_stream(agen([b"x"]), expected_sha256=d),  # type: ignore[arg-type]
}


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", BAD_IDS, ids=[repr(b)[:30] for b in BAD_IDS])
async def test_traversal_and_malformed_ids_rejected(store: BlobStore, bad: object) -> None:
    for name, call in SYNC_CALLS.items():
        with pytest.raises(InvalidBlobId) as caught:
            call(store, bad)
        assert repr(bad)[:20] in str(caught.value), name
        assert caught.value.value == bad
    for name, acall in ASYNC_CALLS.items():
        if bad is None and name.startswith("put_"):
            continue  # expected_sha256=None legitimately means "no expectation"
        with pytest.raises(InvalidBlobId):
            await acall(store, bad)
    assert isinstance(InvalidBlobId(bad), ValueError)
    assert not store.root.exists()  # rejected before touching the filesystem


def test_long_bad_id_message_is_truncated() -> None:
    with pytest.raises(InvalidBlobId) as caught:
        validate_digest("x" * 10_000)
    assert len(str(caught.value)) < 300


@pytest.mark.asyncio
async def test_symlinked_fanout_dir_is_refused(store: BlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    digest = sha(b"secret plans")
    store.root.mkdir(parents=True)
    (store.root / digest[:2]).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeBlobPath):
        store.path_for(digest)
    with pytest.raises(UnsafeBlobPath):
        store.exists(digest)
    with pytest.raises(UnsafeBlobPath):
        await store.put_bytes(b"secret plans")
    assert list(outside.rglob("*")) == []
    assert temp_files(store) == []


@pytest.mark.asyncio
async def test_symlinked_blob_file_is_refused(store: BlobStore, tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_bytes(b"root:x:0:0")
    digest = sha(b"anything")
    path = store.root / digest[:2] / digest[2:4] / digest
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(UnsafeBlobPath):
        store.open(digest)


# --------------------------------------------------------------------------- scale


@pytest.mark.asyncio
async def test_streaming_memory_is_bounded(store: BlobStore) -> None:
    """~300 MB in 64 KiB chunks (typical HTTP body pieces) must not be held in memory."""
    total_mib, piece = 300, 64 * 1024
    block = os.urandom(MiB)

    async def generated() -> AsyncIterator[bytes]:
        for _ in range(total_mib):
            for offset in range(0, MiB, piece):
                yield block[offset : offset + piece]  # slicing copies: a fresh chunk each time

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        started = time.perf_counter()
        info = await store.put_stream(generated())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        expected = hashlib.sha256()
        for _ in range(total_mib):
            expected.update(block)
        assert info == BlobInfo(expected.hexdigest(), total_mib * MiB)
        assert peak < 8 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
        assert elapsed < 15, f"took {elapsed:.1f}s"
    finally:
        store.delete(info.sha256)  # do not leave 300 MB in pytest's tmp dirs


@pytest.mark.asyncio
async def test_concurrent_puts_of_same_content(small_batch_store: BlobStore) -> None:
    store = small_batch_store
    data = os.urandom(200_000)
    pieces = [data[i : i + 7000] for i in range(0, len(data), 7000)]
    results = await asyncio.gather(*(store.put_stream(agen(pieces)) for _ in range(4)))
    assert all(r == BlobInfo(sha(data), len(data)) for r in results)
    assert stored_files(store) == [store.path_for(sha(data))]
    assert temp_files(store) == []
    assert await store.verify(sha(data))


@pytest.mark.asyncio
async def test_concurrent_puts_of_different_content(store: BlobStore) -> None:
    blobs = [os.urandom(10_000) for _ in range(8)]
    results = await asyncio.gather(*(store.put_stream(agen([b[:5000], b[5000:]])) for b in blobs))
    assert {r.sha256 for r in results} == {sha(b) for b in blobs}
    assert len(stored_files(store)) == 8

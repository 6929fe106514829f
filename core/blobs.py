"""Content-addressed blob store for bid files, tender documents and reports.

A blob is named by the SHA-256 of its bytes. That gives deduplication for free, lets
any stored file be re-verified later (tamper evidence matters for procurement records)
and means file names never come from user input, which closes path traversal at the
source. Layout::

    root/ab/cd/abcd...ef   full 64-char lowercase hex digest; two fan-out levels keep
                           directories small even with millions of blobs
    root/tmp/              uploads in flight; same filesystem, so ``os.replace`` is atomic

Files can be several GB: writes stream through a temp file in bounded batches on worker
threads, so neither memory nor the event loop is tied to the file size. A file whose
SHA-256 the caller has already verified (a completed bid upload) is adopted instead:
renamed into place, never read again, copied only when it lies on another filesystem.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, ParamSpec, Protocol, TypeVar

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_WRITE_BATCH",
    "BlobDigestMismatch",
    "BlobInfo",
    "BlobNotFound",
    "BlobSizeMismatch",
    "BlobStore",
    "BlobStoreError",
    "BlobTooLarge",
    "InvalidBlobId",
    "UnsafeBlobPath",
    "validate_digest",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

DEFAULT_CHUNK_SIZE: Final = 1 << 20
"""Read size for streaming out: big enough to amortise a thread hop, small enough to be cheap."""

DEFAULT_WRITE_BATCH: Final = 1 << 20
"""Bytes buffered before one thread hop writes them; bounds memory per upload."""

TMP_DIR_NAME: Final = "tmp"
_DIGEST_RE: Final = re.compile(r"[0-9a-f]{64}")
_REPR_LIMIT: Final = 80


# --------------------------------------------------------------------------- errors


class BlobStoreError(Exception):
    """Base of every blob-store failure, so callers can catch them in one place."""


class InvalidBlobId(BlobStoreError, ValueError):
    """A digest argument is not exactly 64 hex characters.

    Raised before any filesystem access, so an untrusted id (URL, form field) can never
    name a path outside the store.
    """

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"invalid blob id {_short_repr(value)}: expected exactly 64 hexadecimal "
            "characters (a SHA-256 digest)"
        )


class UnsafeBlobPath(BlobStoreError):
    """A well-formed digest resolved outside the root (e.g. a symlinked fan-out dir).

    Not a ValueError: the id was fine, the store on disk is not, which is a server-side
    problem an operator must look at rather than a bad request.
    """

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        super().__init__(
            f"blob path {str(path)!r} resolves outside the store root {str(root)!r}; refusing "
            "to use it (is a fan-out directory a symlink?)"
        )


class BlobNotFound(BlobStoreError, KeyError):
    """No blob with this digest is stored. A KeyError because the store is a mapping."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(sha256)

    def __str__(self) -> str:  # KeyError would print only the quoted key
        return f"blob {self.sha256} not found"


class BlobTooLarge(BlobStoreError):
    """An upload exceeded ``max_bytes``; it was aborted before more was written."""

    def __init__(self, max_bytes: int, received: int) -> None:
        self.max_bytes = max_bytes
        self.received = received
        super().__init__(
            f"blob too large: received at least {received} bytes, the limit is {max_bytes} bytes"
        )


class BlobDigestMismatch(BlobStoreError):
    """The uploaded bytes do not hash to the digest the caller announced."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"blob content does not match the expected SHA-256: expected {expected}, got {actual}"
        )


class BlobSizeMismatch(BlobStoreError):
    """A file offered for adoption is not the size its caller announced: it is left where it is."""

    def __init__(self, path: Path, expected: int, actual: int) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(f"{str(path)!r} is {actual} bytes, not the announced {expected}; not adopted")


def _short_repr(value: object) -> str:
    """repr() capped in length: the bad value may be attacker-sized."""
    text = repr(value)
    if len(text) <= _REPR_LIMIT:
        return text
    return f"{text[:_REPR_LIMIT]}... ({len(text)} chars)"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a stored blob is: its lowercase hex SHA-256 and its size in bytes."""

    sha256: str
    size: int


def validate_digest(value: object) -> str:
    """Return the canonical lowercase form of a SHA-256 hex digest or raise InvalidBlobId.

    The digest becomes a path component, so only ASCII hex passes. ASCII is checked
    *before* lowercasing because ``str.lower`` is Unicode-aware; ``fullmatch`` (not ``$``)
    refuses a trailing newline.
    """
    if not isinstance(value, str) or not value.isascii():
        raise InvalidBlobId(value)
    canonical = value.lower()
    if _DIGEST_RE.fullmatch(canonical) is None:
        raise InvalidBlobId(value)
    return canonical


def _validate_limit(max_bytes: int | None) -> None:
    if max_bytes is not None and max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes!r}")


def _check_size(received: int, max_bytes: int | None) -> None:
    if max_bytes is not None and received > max_bytes:
        raise BlobTooLarge(max_bytes, received)


def _check_expected(info: BlobInfo, expected: str | None) -> None:
    if expected is not None and info.sha256 != expected:
        raise BlobDigestMismatch(expected, info.sha256)


def _as_bytes(chunk: object) -> bytes:
    """Accept bytes-likes, copying mutable ones: a producer may reuse its buffer after yielding."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"blob chunks must be bytes, got {type(chunk).__name__}")


# --------------------------------------------------------------------------- threads


async def _settle(future: asyncio.Future[_T]) -> _T:
    """Await ``future``; if cancelled, wait for it to finish before re-raising.

    asyncio cannot stop a running thread. Propagating the cancellation at once would let
    cleanup close or unlink a file a worker is still writing to (or a recycled fd).
    """
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _wait_despite_cancellation(future)
        raise


async def _wait_despite_cancellation(future: asyncio.Future[_T]) -> None:
    """Block until ``future`` is done, absorbing repeated cancels; the caller re-raises one."""
    while not future.done():
        try:
            await asyncio.wait({future})
        except asyncio.CancelledError:
            continue
    if not future.cancelled():
        future.exception()  # mark retrieved: we are propagating the cancellation instead


async def _to_thread_settled(func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``asyncio.to_thread`` whose cancellation never outruns the worker thread."""
    return await _settle(asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs)))


def _close_if_opened(future: asyncio.Future[BinaryIO]) -> None:
    """Close a file an abandoned (cancelled) open produced, instead of leaking the fd."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()


# --------------------------------------------------------------------------- filesystem


def _fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or mkdir in it survives a crash (POSIX only)."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """``mkdir -p`` that fsyncs each parent it changes, so new fan-out dirs are durable."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:  # a concurrent put created it first
        return
    _fsync_dir(path.parent)


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


def _hash_chunk(reader: BinaryIO, hasher: _Hasher, size: int) -> int:
    """Read and hash one chunk in a worker thread; returns the bytes read (0 at EOF)."""
    chunk = reader.read(size)
    hasher.update(chunk)
    return len(chunk)


class _TempUpload:
    """A temp file being filled and hashed. Every method blocks: run them in a thread.

    One object serves the async and the sync entry points, and ``discard`` is the single
    idempotent cleanup for every failure path, including a half-finished ``open``.
    """

    def __init__(self, tmp_dir: Path) -> None:
        self._tmp_dir = tmp_dir
        self._path: Path | None = None
        self._file: BinaryIO | None = None
        self._hasher = hashlib.sha256()
        self.size = 0

    def open(self) -> None:
        _ensure_dir(self._tmp_dir)
        fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="upload-", suffix=".part")
        self._path = Path(name)
        try:
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise

    def write(self, chunks: Sequence[bytes]) -> None:
        file = self._require_open()
        for chunk in chunks:
            file.write(chunk)
            self._hasher.update(chunk)
            self.size += len(chunk)

    def info(self) -> BlobInfo:
        return BlobInfo(sha256=self._hasher.hexdigest(), size=self.size)

    def commit(self, final: Path) -> None:
        """Make the data durable and atomically visible at ``final``; dedupe if present."""
        file = self._require_open()
        if final.exists():
            self.discard()
            return
        file.flush()
        os.fsync(file.fileno())
        file.close()
        _ensure_dir(final.parent)
        os.replace(self._require_path(), final)
        self._path = None
        _fsync_dir(final.parent)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    def _require_open(self) -> BinaryIO:
        if self._file is None or self._file.closed:
            raise RuntimeError("temp upload is not open")
        return self._file

    def _require_path(self) -> Path:
        if self._path is None:
            raise RuntimeError("temp upload has no file")
        return self._path


# --------------------------------------------------------------------------- store


class BlobStore:
    """Content-addressed files under ``root``; the root is created on first write.

    Every method taking a digest validates it (:func:`validate_digest`) and checks the
    resolved path stays under the root, so ids from requests can be passed straight in.
    """

    def __init__(self, root: Path, *, write_batch_bytes: int = DEFAULT_WRITE_BATCH) -> None:
        if write_batch_bytes <= 0:
            raise ValueError(f"write_batch_bytes must be > 0, got {write_batch_bytes!r}")
        self._root = Path(root).absolute()  # absolute: immune to later chdir
        self._write_batch = write_batch_bytes

    def __repr__(self) -> str:
        return f"BlobStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def tmp_dir(self) -> Path:
        return self._root / TMP_DIR_NAME

    # ----------------------------------------------------------------- locating

    def path_for(self, sha256: str) -> Path:
        """Where the blob lives (or would live): ``root/ab/cd/<digest>``."""
        digest = validate_digest(sha256)
        path = self._root / digest[:2] / digest[2:4] / digest
        self._check_inside_root(path)
        return path

    def _check_inside_root(self, path: Path) -> None:
        """Defence in depth: the digest is safe, but a symlink on disk might not be."""
        root = self._root.resolve()
        resolved = path.resolve()
        if resolved == root or not resolved.is_relative_to(root):
            raise UnsafeBlobPath(path, root)

    # ----------------------------------------------------------------- reading

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        path = self.path_for(sha256)
        try:
            return path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(path.name) from None

    def open(self, sha256: str) -> BinaryIO:
        """Open the blob for binary reading (blocking); the caller closes it."""
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(path.name) from None

    async def iter_chunks(
        self, sha256: str, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """Stream the blob without blocking the loop. Errors surface on the first iteration.

        Typed as a generator so a caller that stops early can ``aclose()`` it and release
        the file handle at once instead of at garbage collection.
        """
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {chunk_size!r}")
        reader = await self._open_async(sha256)
        try:
            while chunk := await _to_thread_settled(reader.read, chunk_size):
                yield chunk
        finally:
            reader.close()

    async def verify(self, sha256: str) -> bool:
        """Re-hash the stored file: detects bit rot or tampering since it was written."""
        digest = validate_digest(sha256)
        hasher = hashlib.sha256()
        reader = await self._open_async(digest)
        try:
            while await _to_thread_settled(_hash_chunk, reader, hasher, DEFAULT_CHUNK_SIZE):
                pass
        finally:
            reader.close()
        return hasher.hexdigest() == digest

    async def _open_async(self, sha256: str) -> BinaryIO:
        future = asyncio.ensure_future(asyncio.to_thread(self.open, sha256))
        try:
            return await _settle(future)
        except asyncio.CancelledError:
            _close_if_opened(future)
            raise

    # ----------------------------------------------------------------- writing

    async def put_stream(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store a stream of chunks; on any failure or cancellation nothing is left behind.

        Memory is bounded by ``write_batch_bytes`` plus one chunk. ``max_bytes`` is checked
        before data is written, ``expected_sha256`` after the last chunk. A cancellation
        that lands during the final atomic commit still propagates, but the complete blob
        may already be in place; it is kept, since dedupe means it may belong to others too.
        """
        expected = None if expected_sha256 is None else validate_digest(expected_sha256)
        _validate_limit(max_bytes)
        upload = _TempUpload(self.tmp_dir)
        try:
            await _to_thread_settled(upload.open)
            await self._fill(upload, chunks, max_bytes)
            info = upload.info()
            _check_expected(info, expected)
            await _to_thread_settled(self._commit, upload, info.sha256)
        except BaseException:
            await _to_thread_settled(upload.discard)
            raise
        return info

    async def _fill(
        self, upload: _TempUpload, chunks: AsyncIterable[bytes], max_bytes: int | None
    ) -> None:
        """Buffer chunks into batches: one thread hop per small HTTP chunk would cost more
        than the write itself, and a batch bounds memory regardless of file size."""
        batch: list[bytes] = []
        pending = received = 0
        async for raw in chunks:
            chunk = _as_bytes(raw)
            received += len(chunk)
            _check_size(received, max_bytes)
            batch.append(chunk)
            pending += len(chunk)
            if pending >= self._write_batch:
                await _to_thread_settled(upload.write, batch)
                batch, pending = [], 0
        if batch:
            await _to_thread_settled(upload.write, batch)

    async def put_bytes(
        self,
        data: bytes,
        *,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store an in-memory value (small documents, generated reports)."""
        return await self.put_stream(
            _single_chunk(data), expected_sha256=expected_sha256, max_bytes=max_bytes
        )

    def put_file(
        self,
        source: Path,
        *,
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Blocking import of a local file (CLI tools, migrations, Celery workers)."""
        expected = None if expected_sha256 is None else validate_digest(expected_sha256)
        _validate_limit(max_bytes)
        upload = _TempUpload(self.tmp_dir)
        try:
            upload.open()
            self._copy_file(upload, Path(source), max_bytes)
            info = upload.info()
            _check_expected(info, expected)
            self._commit(upload, info.sha256)
        except BaseException:
            upload.discard()
            raise
        return info

    def _copy_file(self, upload: _TempUpload, source: Path, max_bytes: int | None) -> None:
        with open(source, "rb") as reader:
            while chunk := reader.read(self._write_batch):
                _check_size(upload.size + len(chunk), max_bytes)
                upload.write([chunk])

    def _commit(self, upload: _TempUpload, sha256: str) -> None:
        upload.commit(self.path_for(sha256))

    def adopt_file(self, source: Path, sha256: str, size: int) -> BlobInfo:
        """Move ``source``, whose bytes the caller has already hashed to ``sha256``, into the
        store without reading it (blocking). The digest is trusted: that is the point, a
        multi-GB file is not hashed twice; the size is checked as a cheap guard against a
        wrong file. When the blob is already stored, ``source`` is removed. A source on
        another filesystem (EXDEV) is copied through :meth:`put_file`, hashed and checked
        on the way, then removed.
        """
        digest = validate_digest(sha256)
        source = Path(source)
        final = self.path_for(digest)
        with open(source, "rb") as reader:
            actual = os.fstat(reader.fileno()).st_size
            if actual != size:
                raise BlobSizeMismatch(source, size, actual)
            if not final.exists():
                os.fsync(reader.fileno())  # durable before it is visible, as put_file's blobs are
        if final.exists():
            source.unlink()
            return BlobInfo(sha256=digest, size=size)
        _ensure_dir(final.parent)
        try:
            os.replace(source, final)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            info = self.put_file(source, expected_sha256=digest)
            source.unlink()
            return info
        _fsync_dir(final.parent)
        return BlobInfo(sha256=digest, size=size)

    def release_file(self, sha256: str, destination: Path) -> None:
        """Move a blob out of the store to ``destination`` (blocking): undoes :meth:`adopt_file`
        when what the blob was adopted for fails, so the file is where it was before. The
        same caution as :meth:`delete` applies: check nothing else refers to the blob."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise BlobNotFound(path.name)
        destination = Path(destination)
        try:
            os.replace(path, destination)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            shutil.copyfile(path, destination)
            path.unlink()

    # ----------------------------------------------------------------- admin

    def delete(self, sha256: str, *, missing_ok: bool = False) -> None:
        """Remove a blob (tests, retention jobs). Content addressing means any other
        record pointing at the same bytes loses them too: check references first."""
        path = self.path_for(sha256)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            if not missing_ok:
                raise BlobNotFound(path.name) from None

    def cleanup_tmp(self, *, older_than_seconds: float = 24 * 3600) -> int:
        """Delete temp files a crashed process left behind; returns how many.

        Only files older than the threshold go, so uploads still in flight are safe.
        """
        if not self.tmp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.tmp_dir.iterdir():
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed


async def _single_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data

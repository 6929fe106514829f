"""Resumable, streaming uploads of sealed envelopes.

A bidder announces the envelope (size, SHA-256), then sends it in chunks, each with its own
SHA-256, at the offset the server says it has received. Bytes go straight to a spool file
(never whole in memory); a chunk whose hash is wrong, or that is cut off by a dropped
connection, is cut away again, so ``received`` always counts verified bytes and the file
holds nothing beyond them. The first bytes are checked as soon as they arrive: anything
that is not a sealed envelope is refused at once (the law requires it) and the upload
discarded. The last chunk completes the upload: the whole file must hash to the declared
SHA-256 and be a well-formed envelope sealed to the lot's opening certificate. Submitting
(``trading.bids``) then moves it into the blob store.

One chunk of an upload is received at a time: the spool file's lock is held from before
the offset is checked until the new offset is recorded. Uploads are not ledger entries:
they are transport, and nothing of them remains unless they become a bid.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
import xxhash
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.envelopes import EnvelopeError, check_envelope, why_not_sealed
from ca_interop.envelopes._envelope import SNIFF_SIZE
from ca_interop.opening_keys import OpeningKeyRecord
from core import clock
from core.actors import Actor, Role
from core.database import after_commit
from core.direct_io import AlignedAppender
from core.errors import Conflict, FieldError, InvalidInput, NotFound, RuleViolation
from core.usecases import use_case
from trading.bid_models import Upload
from trading.bid_schemas import UploadCreate
from trading.bid_states import UploadStatus
from trading.chunk_writer import ChunkPipeline
from trading.models import Lot
from trading.projects import refuse_if_sold_by_competition
from trading.states import LotStatus

RUNNING_HASHES_KEPT = 4096


class UploadSpool:
    """The directory of unfinished uploads: one ``<id>.part`` file each (ids are ours)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, upload_id: str) -> Path:
        if len(upload_id) != 32 or any(c not in "0123456789abcdef" for c in upload_id):
            raise NotFound(f"upload {upload_id!r} does not exist")
        return self.directory / f"{upload_id}.part"

    def create(self, upload_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(upload_id), os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)

    def remove(self, upload_id: str) -> None:
        self.path(upload_id).unlink(missing_ok=True)
        _running_hashes.pop(upload_id, None)

    @contextlib.contextmanager
    def locked(self, upload_id: str) -> Iterator[BinaryIO]:
        """The spool file open for writing, locked against any other chunk of this upload
        (in this process or another); refused at once when a chunk is already arriving."""
        try:
            file = open(self.path(upload_id), "r+b")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"upload {upload_id} does not exist") from None
        try:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict("another chunk of this upload is being received; wait for it, then ask "
                               "GET /uploads/{id} where to resume") from None
            yield file
        finally:
            file.close()


# A running SHA-256 of each upload's verified bytes, so completion need not read the whole
# file again. Only a cache: a miss (another process took the previous chunk, a restart)
# means the file is hashed at completion.
_running_hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()


def _remember_hash(upload_id: str, offset: int, hasher: Any) -> None:
    _running_hashes[upload_id] = (offset, hasher)
    _running_hashes.move_to_end(upload_id)
    while len(_running_hashes) > RUNNING_HASHES_KEPT:
        _running_hashes.popitem(last=False)


def _running_hash_at(upload_id: str, offset: int) -> Any | None:
    if offset == 0:
        return hashlib.sha256()
    cached = _running_hashes.get(upload_id)
    return cached[1].copy() if cached and cached[0] == offset else None


# --- creating and reading -----------------------------------------------------------------


def check_lot_accepts_bids(lot: Lot | LotForChunk) -> None:
    """The lot is open for bids and its deadline (by the server clock) has not come."""
    if lot.status != LotStatus.BIDDING:
        raise RuleViolation(f"lot {lot.code} does not accept bids: it is {lot.status}", rule="lot_accepts_bids")
    now = clock.utcnow()
    if lot.bid_deadline is None or now >= lot.bid_deadline:
        deadline = clock.rfc3339(lot.bid_deadline) if lot.bid_deadline else "not set"
        late = f", {(now - lot.bid_deadline).total_seconds():.3f} seconds ago" if lot.bid_deadline else ""
        raise RuleViolation(
            f"the bid deadline of lot {lot.code} has passed (deadline {deadline}{late}, server time "
            f"{clock.rfc3339(now)}): bids, replacements and withdrawals are no longer accepted",
            rule="bid_deadline")


async def load_lot(session: AsyncSession, lot_id: int) -> Lot:
    lot = await session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"lot {lot_id} does not exist")
    return lot


@use_case("trading.create_upload", {Role.BIDDER})
async def create_upload(
    session: AsyncSession, actor: Actor, lot_id: int, data: UploadCreate, *, max_bytes: int, spool: UploadSpool
) -> Upload:
    """Announce an envelope of ``data.size`` bytes for ``lot_id``; chunks follow."""
    from trading.parties import bidding_refusal

    if actor.party_id is None:
        raise RuleViolation("only a bidder acting for a party can upload a bid", rule="bidder_party")
    lot = await load_lot(session, lot_id)
    check_lot_accepts_bids(lot)
    await refuse_if_sold_by_competition(session, lot, "a sealed bid")
    if data.size > max_bytes:
        raise InvalidInput(f"the envelope is {data.size} bytes; the largest accepted is {max_bytes} bytes",
                           [FieldError("$.size", f"over the limit of {max_bytes} bytes")])
    refusal = await bidding_refusal(session, actor.party_id, on=clock.utcnow().date(), lot=lot)
    if refusal:
        raise RuleViolation(f"this party may not bid: {refusal}", rule="bidder_eligible")
    now = clock.utcnow()
    upload = Upload(id=secrets.token_hex(16), user_id=actor.user_id, party_id=actor.party_id,  # type: ignore[arg-type]
                    lot_id=lot_id, declared_size=data.size, declared_sha256=data.sha256, received=0,
                    status=UploadStatus.RECEIVING, created_at=now, updated_at=now)
    session.add(upload)
    await session.flush()

    async def make_spool_file() -> None:
        await asyncio.to_thread(spool.create, upload.id)

    after_commit(session, make_spool_file)
    return upload


@use_case("trading.read_upload", {Role.BIDDER})
async def read_upload(session: AsyncSession, actor: Actor, upload_id: str) -> Upload:
    """An upload, to its owner only: anyone else learns nothing, not even that it exists."""
    upload = await session.get(Upload, upload_id)
    if upload is None or upload.user_id != actor.user_id:
        raise NotFound(f"upload {upload_id} does not exist")
    return upload


# --- receiving a chunk --------------------------------------------------------------------


@dataclass(frozen=True)
class LotForChunk:
    """The lot columns a chunk's checks need."""

    id: int
    code: str
    status: str
    bid_deadline: Any
    opening_certificate_fingerprint: str | None


@dataclass(frozen=True)
class ChunkTarget:
    """What receiving one chunk needs to know, read before the body is."""

    upload_id: str
    offset: int
    declared_size: int
    declared_sha256: str
    opening_certificate_der: bytes | None
    lot: LotForChunk


@dataclass(frozen=True)
class ChunkHash:
    """A way a client may state what one chunk hashes to.

    The whole file is always checked against its declared SHA-256 at completion; the chunk
    hash only has to catch a chunk damaged or cut on the way, so that the client resends
    that chunk and not the file. XXH3-128 does that at memory speed; SHA-256 is accepted
    as well, for clients that have only that at hand."""

    name: str
    label: str  # as people write it
    header: str
    hex_digits: int
    new: Callable[[], Any]
    inline: bool  # cheap enough to run in the writing lane instead of a thread of its own


CHUNK_HASHES: dict[str, ChunkHash] = {
    hash_.name: hash_ for hash_ in (
        ChunkHash("xxh3-128", "XXH3-128", "X-Chunk-XXH3-128", 32, xxhash.xxh3_128, inline=True),
        ChunkHash("sha256", "SHA-256", "X-Chunk-SHA256", 64, hashlib.sha256, inline=False),
    )
}


@dataclass(frozen=True)
class ChunkDigest:
    """The digest a client claims for a chunk, and by which hash."""

    hash: ChunkHash
    hex: str


@use_case("trading.upload_chunk", {Role.BIDDER})
async def prepare_chunk(session: AsyncSession, actor: Actor, upload_id: str, offset: int, spooled: int) -> ChunkTarget:
    """Check a chunk may be received at ``offset`` (the spool lock is already held and the
    file holds ``spooled`` bytes); the body is read only after this."""
    # One round trip for the upload and the lot columns the checks need (the lot row also
    # carries its opening-key record, the custodians' shares: too much to read per chunk).
    upload = (await session.execute(
        sa.select(Upload.user_id, Upload.status, Upload.received, Upload.declared_size, Upload.declared_sha256,
                  Lot.id, Lot.code, Lot.status.label("lot_status"), Lot.bid_deadline,
                  Lot.opening_certificate_fingerprint)
        .join(Lot, Lot.id == Upload.lot_id).where(Upload.id == upload_id))).one_or_none()
    if upload is None or upload.user_id != actor.user_id:
        raise NotFound(f"upload {upload_id} does not exist")
    if upload.status != UploadStatus.RECEIVING:
        raise Conflict(f"upload {upload_id} is {upload.status}: it takes no more chunks")
    lot = LotForChunk(upload.id, upload.code, upload.lot_status, upload.bid_deadline,
                       upload.opening_certificate_fingerprint)
    check_lot_accepts_bids(lot)  # type: ignore[arg-type]
    if spooled < upload.received:  # bytes recorded but lost from the disk (a crash)
        raise Conflict(f"the spool of upload {upload_id} lost bytes the server had recorded; "
                       "start a new upload")
    if offset != upload.received:
        raise Conflict(f"this upload has received {upload.received} bytes: send the chunk at offset "
                       f"{upload.received}, not {offset}")
    certificate = await _opening_certificate(session, lot.id, lot.opening_certificate_fingerprint)
    return ChunkTarget(upload_id, offset, upload.declared_size, upload.declared_sha256, certificate, lot)


async def _opening_certificate(session: AsyncSession, lot_id: int, fingerprint: str | None) -> bytes | None:
    """The DER of the lot's opening certificate, read and parsed once per lot and certificate."""
    if fingerprint is None:
        return None
    key = (lot_id, fingerprint)
    if key not in _opening_certificates:
        record = await session.scalar(sa.select(Lot.opening_key).where(Lot.id == lot_id))
        if not record:
            return None
        _opening_certificates[key] = OpeningKeyRecord.from_dict(record).certificate_der
        while len(_opening_certificates) > RUNNING_HASHES_KEPT:
            _opening_certificates.pop(next(iter(_opening_certificates)))
    return _opening_certificates[key]


_opening_certificates: dict[tuple[int, str], bytes] = {}


class _ChunkWriter:
    """Writes and hashes a chunk's bytes off the event loop (see :mod:`trading.chunk_writer`):
    the direct write, with the cheap chunk hash riding along, the file's running SHA-256
    and a chunk SHA-256 each run in a lane of their own, side by side."""

    def __init__(self, file: BinaryIO, target: ChunkTarget, claimed: list[ChunkDigest]) -> None:
        self.file = file
        self.target = target
        self.chunk_hashes = [(digest, digest.hash.new()) for digest in claimed]
        self.file_hash = _running_hash_at(target.upload_id, target.offset)
        self.written = 0
        file.flush()
        file.truncate(target.offset)  # bytes of a chunk that was never recorded
        # The bytes go to the disk past the page cache: a large envelope is not read again
        # until the opening (see core.direct_io).
        self.appender = AlignedAppender(Path(file.name), file.fileno(), target.offset)
        lanes: list[Callable[[memoryview], Any]] = [self._write]
        lanes += [hasher.update for digest, hasher in self.chunk_hashes if not digest.hash.inline]
        if self.file_hash is not None:
            lanes.append(self.file_hash.update)
        self.pipeline = ChunkPipeline(lanes)

    async def add(self, piece: bytes) -> None:
        await self.pipeline.add(piece)

    def _write(self, block: memoryview) -> None:
        self.appender.write(block, aligned_memory=True)  # batches are pooled, page-aligned buffers
        for digest, hasher in self.chunk_hashes:
            if digest.hash.inline:
                hasher.update(block)

    async def finish(self) -> None:
        """Every byte of the chunk written to the file (the staged ones too)."""
        await self.pipeline.finish(last_step=self.appender.close)

    async def close(self, *, failed: bool) -> None:
        """Wait for the lanes (even after a failure: a thread cannot be stopped midway),
        give the buffers back, and on failure forget everything this chunk wrote."""
        await self.pipeline.close()
        if failed:
            await asyncio.to_thread(self._cut_back)

    def _cut_back(self) -> None:
        self.appender.discard()
        self.file.flush()
        self.file.truncate(self.target.offset)


async def receive_chunk(
    file: BinaryIO, target: ChunkTarget, body: AsyncIterable[bytes], *, claimed: list[ChunkDigest],
    content_length: int | None,
) -> int:
    """Stream one chunk into the locked spool ``file``; return the new ``received``.

    Any failure (wrong hash, beyond the declared size, not an envelope, the client gone)
    cuts the file back to ``target.offset`` before the error leaves. Refusals that end the
    upload (not sealed) raise :class:`EnvelopeRefused`.
    """
    room = target.declared_size - target.offset
    if content_length is not None and content_length > room:
        raise _beyond(target, target.offset + content_length)
    sniffing = target.offset < SNIFF_SIZE  # the first bytes are still to be looked at
    head = await asyncio.to_thread(_read_head, file, target.offset) if sniffing else b""
    writer = _ChunkWriter(file, target, claimed)
    try:
        async for piece in body:
            if not piece:
                continue
            writer.written += len(piece)
            if writer.written > room:
                raise _beyond(target, target.offset + writer.written)
            if sniffing and len(head) < SNIFF_SIZE:
                head = _check_head(head + piece, target)
            await writer.add(piece)
        if writer.written == 0:
            raise InvalidInput("the chunk is empty", [FieldError("body", "no bytes")])
        if sniffing and len(head) < SNIFF_SIZE and target.offset + writer.written == target.declared_size:
            _check_head(head, target, final=True)
        await writer.finish()
        _check_chunk_hashes(writer)
        received = target.offset + writer.written
        if received == target.declared_size:
            await asyncio.to_thread(_check_complete, file, writer, target)
    except BaseException:
        await writer.close(failed=True)
        raise
    await writer.close(failed=False)
    file.flush()  # nothing written through it: no trip to a thread
    if writer.file_hash is not None and received < target.declared_size:
        _remember_hash(target.upload_id, received, writer.file_hash)
    return received


class EnvelopeRefused(InvalidInput):
    """The upload is not a sealed envelope we accept; it is discarded, start a new one."""

    code = "envelope-refused"
    title = "Not a sealed envelope"


def _beyond(target: ChunkTarget, end: int) -> InvalidInput:
    return InvalidInput(
        f"the chunk would end at byte {end}, beyond the declared size of {target.declared_size} bytes; "
        f"the chunk was discarded (received stays {target.offset})",
        [FieldError("body", "beyond the declared size")])


def _read_head(file: BinaryIO, offset: int) -> bytes:
    file.seek(0)
    head = file.read(offset)
    file.seek(offset)
    return head


def _check_head(head: bytes, target: ChunkTarget, *, final: bool = False) -> bytes:
    """Refuse as soon as the first bytes show the file is not a sealed envelope."""
    if len(head) >= SNIFF_SIZE or final:
        problem = why_not_sealed(head[:SNIFF_SIZE])
        if problem is not None:
            raise EnvelopeRefused(f"{problem}; the upload was discarded",
                                  [FieldError("body", "not a sealed envelope")])
    return head[:SNIFF_SIZE] if len(head) >= SNIFF_SIZE else head


def _check_chunk_hashes(writer: _ChunkWriter) -> None:
    for claimed, hasher in writer.chunk_hashes:
        actual = hasher.hexdigest()
        if actual != claimed.hex:
            raise InvalidInput(
                f"the chunk's {claimed.hash.label} is {actual}, but {claimed.hash.header} says {claimed.hex}: "
                f"the chunk was discarded; send it again at offset {writer.target.offset}",
                [FieldError(f"header.{claimed.hash.header}", "does not match the chunk")])


def _check_complete(file: BinaryIO, writer: _ChunkWriter, target: ChunkTarget) -> None:
    """The whole file: its SHA-256 is the declared one and it is an envelope we accept."""
    file.flush()
    if writer.file_hash is not None:
        digest = writer.file_hash.hexdigest()
    else:
        digest = _hash_file(file)
    if digest != target.declared_sha256:
        raise EnvelopeRefused(
            f"the uploaded file's SHA-256 is {digest}, not the declared {target.declared_sha256}; "
            "the upload was discarded", [FieldError("$.sha256", "does not match the uploaded bytes")])
    file.seek(0)
    required = [target.opening_certificate_der] if target.opening_certificate_der else []
    try:
        check_envelope(file, required_recipients=required)
    except InvalidInput as error:
        raise EnvelopeRefused(f"{error.detail}; the upload was discarded", error.errors) from None
    except EnvelopeError as error:  # NotARecipient above all
        raise EnvelopeRefused(
            f"{error.detail}: the envelope must be sealed to the lot's opening certificate "
            "(and your own encryption certificate); the upload was discarded",
            [FieldError("body", "not sealed to the lot's opening certificate")]) from None


def _hash_file(file: BinaryIO) -> str:
    file.seek(0)
    hasher = hashlib.sha256()
    while block := file.read(1 << 20):
        hasher.update(block)
    return hasher.hexdigest()


async def record_chunk(session: AsyncSession, upload_id: str, offset: int, received: int) -> Upload:
    """Record the chunk that took ``upload_id`` from ``offset`` to ``received`` bytes.

    One statement: the row changes only if it still stands at ``offset``."""
    completed = sa.case((Upload.declared_size == received, UploadStatus.COMPLETE.value),  # type: ignore[arg-type]
                        else_=Upload.status)
    # populate_existing: an Upload this session already holds takes the new values too.
    upload = await session.scalar(
        sa.update(Upload).where(Upload.id == upload_id, Upload.received == offset)  # type: ignore[arg-type]
        .values(received=received, status=completed, updated_at=clock.utcnow())
        .returning(Upload), execution_options={"populate_existing": True})
    if upload is None:
        raise Conflict(f"upload {upload_id} changed while the chunk was received; ask where to resume")
    if upload.status == UploadStatus.COMPLETE:
        _running_hashes.pop(upload_id, None)
    return upload


async def discard_upload(session: AsyncSession, upload_id: str, spool: UploadSpool) -> None:
    """Forget a refused upload: its row now, its spool file once that is committed."""
    await session.execute(sa.delete(Upload).where(Upload.id == upload_id))  # type: ignore[arg-type]

    async def remove_file() -> None:
        await asyncio.to_thread(spool.remove, upload_id)

    after_commit(session, remove_file)


# --- housekeeping -------------------------------------------------------------------------


async def purge_abandoned_uploads(session: AsyncSession, older_than: timedelta, *, spool: UploadSpool) -> int:
    """Delete uploads untouched for ``older_than`` (their rows and spool files) and spool
    files no upload row names; returns how many uploads were removed.

    Meant for a periodic job (e.g. hourly, ``older_than`` a day): an upload a bidder gave up
    on, or completed but never submitted, must not hold disk space for ever.
    """
    cutoff = clock.utcnow() - older_than
    stale = list((await session.scalars(sa.select(Upload.id).where(Upload.updated_at < cutoff))).all())
    if stale:
        await session.execute(sa.delete(Upload).where(Upload.id.in_(stale)))  # type: ignore[union-attr,arg-type]
    known = set((await session.scalars(sa.select(Upload.id))).all())

    def sweep() -> None:
        for upload_id in stale:
            spool.remove(upload_id)
        if not spool.directory.is_dir():
            return
        for entry in spool.directory.glob("*.part"):
            if entry.stem not in known and entry.stat().st_mtime < cutoff.timestamp():
                entry.unlink(missing_ok=True)

    async def sweep_after_commit() -> None:
        await asyncio.to_thread(sweep)

    after_commit(session, sweep_after_commit)
    return len(stale)

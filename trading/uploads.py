"""Resumable, streaming uploads of sealed envelopes.

A bidder announces the envelope (size, SHA-256), then sends it in chunks, each with its own
hash (XXH3-128 or SHA-256), at the offset the server says it has received. Bytes go
straight to a spool file (never whole in memory); a chunk whose hash is wrong, or that is
cut off by a dropped connection, is cut away again, so ``received`` only ever counts
verified bytes. The first bytes are checked as soon as they arrive: anything
that is not a sealed envelope is refused at once (the law requires it) and the upload
discarded. The last chunk completes the upload: the whole file must hash to the declared
SHA-256 and be a well-formed envelope sealed to the lot's opening certificate. Submitting
(``trading.bids``) then moves it into the blob store.

Chunks of one upload are received one at a time and recorded in order: in one process they
queue on the upload's line (``trading.upload_lines``), which holds the spool file's lock
while any of them is in flight, so that the next chunk may arrive while the previous one is
written and recorded; a chunk reaching another process meanwhile waits a moment for the
lock, then is refused. A chunk whose hash is known good when its body is in is answered
at once, and recorded while its last bytes are still on their way to the disk
(``PendingChunk``); should they never get there, the spool file is found behind the record
and the upload rewinds to what it holds (``SpoolBehind``). The next chunk under a pass
(``trading.chunk_gate``) skips the database checks for a moment.
Uploads are not ledger entries: they are transport, and nothing of them remains unless they
become a bid.
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import sqlalchemy as sa
import xxhash
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ca_interop.envelopes import EnvelopeError, check_envelope, why_not_sealed
from ca_interop.envelopes._envelope import SNIFF_SIZE
from ca_interop.opening_keys import OpeningKeyRecord
from core import clock
from core.actors import Actor, Role
from core.database import Database, after_commit
from core.direct_io import AlignedAppender
from core.errors import Conflict, FieldError, InvalidInput, NotFound, RuleViolation
from core.usecases import use_case
from trading.bid_models import Upload
from trading.bid_schemas import UploadCreate
from trading.bid_states import UploadStatus
from trading.chunk_writer import Batch, ChunkFeed, LaneWork, SpoolPipeline
from trading.models import Lot
from trading.projects import refuse_if_sold_by_competition
from trading.states import LotStatus

if TYPE_CHECKING:
    from trading.upload_lines import UploadLine

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
        (in this process or another); refused at once when it is locked already (see
        :func:`trading.upload_lines.joined` for the wait around it)."""
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
    created_at: datetime  # the upload's, for an answer given before the chunk is recorded


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
    inline: bool  # cheap enough to run on the event loop as the bytes arrive


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
                  Upload.created_at, Lot.id, Lot.code, Lot.status.label("lot_status"), Lot.bid_deadline,
                  Lot.opening_certificate_fingerprint)
        .join(Lot, Lot.id == Upload.lot_id).where(Upload.id == upload_id))).one_or_none()
    if upload is None or upload.user_id != actor.user_id:
        raise NotFound(f"upload {upload_id} does not exist")
    if upload.status != UploadStatus.RECEIVING:
        raise Conflict(f"upload {upload_id} is {upload.status}: it takes no more chunks")
    lot = LotForChunk(upload.id, upload.code, upload.lot_status, upload.bid_deadline,
                       upload.opening_certificate_fingerprint)
    check_lot_accepts_bids(lot)  # type: ignore[arg-type]
    if spooled < upload.received:
        raise SpoolBehind(upload_id, upload.received, spooled)
    if offset != upload.received:
        raise Conflict(f"this upload has received {upload.received} bytes: send the chunk at offset "
                       f"{upload.received}, not {offset}")
    certificate = await _opening_certificate(session, lot.id, lot.opening_certificate_fingerprint)
    return ChunkTarget(upload_id, offset, upload.declared_size, upload.declared_sha256, certificate, lot,
                       upload.created_at)


class SpoolBehind(Conflict):
    """The spool file holds fewer bytes than were recorded: the server stopped after it
    recorded a chunk and before that chunk's last bytes reached the disk (a chunk may be
    recorded while they are on their way, see :class:`PendingChunk`). Every byte the file
    does hold was verified, so the upload goes on from there: :func:`rewind_to_spool`."""

    def __init__(self, upload_id: str, recorded: int, spooled: int) -> None:
        super().__init__(f"upload {upload_id} lost the last {recorded - spooled} bytes it had recorded (the server "
                         f"stopped while writing them): it now stands at {spooled} bytes; send the chunk at "
                         f"offset {spooled}")
        self.upload_id, self.recorded, self.spooled = upload_id, recorded, spooled


# record_chunk's statement for a chunk that does not complete the upload, for the database
# driver (asyncpg) itself: it runs once per chunk, on every upload's critical path, and the
# ORM session around it cost three times the statement.
_RECORD_PROGRESS = (f"UPDATE {Upload.__tablename__} SET received = $3, updated_at = $4 "
                    "WHERE id = $1 AND received = $2 AND declared_size > $3 RETURNING *")


async def record_received(database: Database, upload_id: str, offset: int, received: int, *,
                          durable: bool) -> Upload:
    """Record that a chunk took ``upload_id`` from ``offset`` to ``received`` bytes.

    Progress short of completion (``durable=False``) is one statement on PostgreSQL's driver
    connection that does not wait for the log flush: if the database lost it in a crash,
    ``received`` would stand a little behind the spool file, which is cut back to it at the
    next chunk (the client asks where to resume). The chunk that completes the upload is
    recorded durably: the bid is submitted on the strength of it."""

    async def record() -> Upload:
        if not durable and database.is_postgres:
            async with database.relaxed_driver_connection() as driver:
                return await record_progress(driver, upload_id, offset, received)
        async with database.single_statement() as session:
            return await record_chunk(session, upload_id, offset, received)

    return await database.retry_dropped(record)  # the statements are conditional: safe to repeat


async def record_progress(driver: Any, upload_id: str, offset: int, received: int) -> Upload:
    """:func:`record_chunk` for a chunk short of completion, on an asyncpg connection."""
    row = await driver.fetchrow(_RECORD_PROGRESS, upload_id, offset, received, clock.utcnow())
    if row is None:
        raise _changed_meanwhile(upload_id)
    return Upload(**dict(row))


def _changed_meanwhile(upload_id: str) -> Conflict:
    return Conflict(f"upload {upload_id} changed while the chunk was received; ask where to resume")


async def rewind_to_spool(session: AsyncSession, behind: SpoolBehind) -> None:
    """Set the upload back to what its spool file holds (the file's bytes are all verified,
    and the whole file is checked against its SHA-256 at completion in any case)."""
    table = Upload.__table__  # type: ignore[attr-defined]
    await session.execute(
        table.update().where(table.c.id == behind.upload_id, table.c.received == behind.recorded,
                             table.c.status == UploadStatus.RECEIVING.value)
        .values(received=behind.spooled, updated_at=clock.utcnow()))
    _running_hashes.pop(behind.upload_id, None)


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


class SpoolWriter:
    """Appends an upload's chunks to its spool file from ``offset`` on, hashing as it goes,
    for as long as its line in this process lasts (see :mod:`trading.chunk_writer`): the
    direct write, the file's running SHA-256 and a chunk SHA-256 each run in a lane of their
    own (the cheap chunk hash runs on the loop as the bytes arrive).

    A chunk that fails spoils the writer (its bytes, and any after it, are not verified):
    closing it cuts the file back to where the first failed chunk began."""

    def __init__(self, file: BinaryIO, upload_id: str, offset: int) -> None:
        self.file = file
        self.end = offset  # bytes handed to the lanes, counted from the file's start
        self.cut_back_to: int | None = None
        file.flush()
        spooled = os.fstat(file.fileno()).st_size
        if spooled < offset:  # the bytes of a recorded chunk never reached the disk
            raise SpoolBehind(upload_id, offset, spooled)
        file.truncate(offset)  # bytes of a chunk that was never recorded
        # The bytes go to the disk past the page cache: a large envelope is not read again
        # until the opening (see core.direct_io).
        self.appender = AlignedAppender(Path(file.name), file.fileno(), offset)
        self.file_hash = _running_hash_at(upload_id, offset)
        lanes: list[LaneWork] = [self._write]
        if self.file_hash is not None:
            lanes.append(lambda batch: self.file_hash.update(batch.view))
        self.pipeline = SpoolPipeline(lanes)

    @property
    def healthy(self) -> bool:
        return self.cut_back_to is None

    def spoil(self, offset: int) -> None:
        """A chunk starting at ``offset`` failed."""
        self.cut_back_to = offset if self.cut_back_to is None else min(self.cut_back_to, offset)

    def _write(self, batch: Batch) -> None:
        self.appender.write(batch.view, aligned_memory=True)  # batches are pooled, page-aligned buffers

    async def aclose(self) -> None:
        """Wait for the lanes, give the buffers back and, if spoiled, cut the file back."""
        await self.pipeline.idle()
        self.pipeline.close()
        self.appender.discard()  # every chunk that ended put its last block in the file
        if self.cut_back_to is not None:
            await asyncio.to_thread(self._cut_back, self.cut_back_to)

    def _cut_back(self, offset: int) -> None:
        self.file.flush()
        self.file.truncate(offset)


@dataclass
class PendingChunk:
    """A chunk whose body is in, on its way through the lanes.

    :meth:`verified` waits for the lanes and says whether the chunk is good. When every
    hash the client claimed ran on the loop and the chunk does not complete the upload,
    the verdict is at hand as soon as the body is in (:attr:`judged_early`): the chunk may
    then be answered at once, and recorded while its last bytes are still on their way to
    the disk (:meth:`written`; see :meth:`trading.upload_lines.UploadLine.finish_behind`)."""

    writer: SpoolWriter
    target: ChunkTarget
    feed: ChunkFeed
    chunk_hashes: list[tuple[ChunkDigest, Any]]
    hash_at_end: list[Any]  # the file's running SHA-256 once this chunk is through, if kept
    end: int  # where the chunk ends in the file
    _through: bool = False  # the lanes have passed all of it
    _hashes_good: bool = False

    @property
    def completes(self) -> bool:
        return self.end == self.target.declared_size

    @property
    def judged_early(self) -> bool:
        return not self.completes and all(digest.hash.inline for digest, _ in self.chunk_hashes)

    def check_hashes(self) -> None:
        """Raise (and spoil the writer) if a claimed hash computed so far is wrong."""
        try:
            _check_chunk_hashes(self.chunk_hashes, self.target.offset)
        except BaseException:
            self.writer.spoil(self.target.offset)
            raise
        self._hashes_good = True
        self._keep_running_hash()

    async def written(self) -> int:
        """Wait until the lanes are through the chunk (written and hashed); return the new
        ``received``. Raise (and spoil the writer) if a lane failed."""
        try:
            await self.feed.done()
        except BaseException:
            self.writer.spoil(self.target.offset)
            raise
        self._through = True
        self._keep_running_hash()
        self.writer.pipeline.release_spare()
        return self.end

    def _keep_running_hash(self) -> None:
        """Once the chunk is both through the lanes and found good (in either order), the
        next chunk's writer may go on from the file's running SHA-256."""
        if self._through and self._hashes_good and self.hash_at_end and not self.completes:
            _remember_hash(self.target.upload_id, self.end, self.hash_at_end[0])

    async def verified(self) -> int:
        """Wait until the chunk is written and hashed; return the new ``received``. Raise
        (and spoil the writer) if a hash is wrong or the completed file is refused."""
        await self.written()
        self.check_hashes()
        if self.completes:
            digest = self.hash_at_end[0].hexdigest() if self.hash_at_end else None
            try:
                await asyncio.to_thread(_check_complete, self.writer.file, digest, self.target)
            except BaseException:
                self.writer.spoil(self.target.offset)
                raise
        return self.end


async def take_chunk_body(
    writer: SpoolWriter, target: ChunkTarget, body: AsyncIterable[bytes], *, claimed: list[ChunkDigest],
    content_length: int | None,
) -> PendingChunk:
    """Read one chunk's body into ``writer`` (which stands at ``target.offset``); the bytes
    may still be on their way to the disk when this returns. Any failure spoils the writer
    (closing it cuts the file back). Refusals that end the upload (not sealed) raise
    :class:`EnvelopeRefused`."""
    room = target.declared_size - target.offset
    if content_length is not None and content_length > room:
        raise _beyond(target, target.offset + content_length)
    sniffing = target.offset < SNIFF_SIZE  # the first bytes are still to be looked at
    chunk_hashes = [(digest, digest.hash.new()) for digest in claimed]
    own_lanes: list[LaneWork] = [lambda batch, hasher=hasher: hasher.update(batch.view)
                                 for digest, hasher in chunk_hashes if not digest.hash.inline]
    on_the_loop = [hasher for digest, hasher in chunk_hashes if digest.hash.inline]
    feed = writer.pipeline.feed(own_lanes)
    written = 0
    try:
        head = b""
        if sniffing and target.offset:  # the envelope's first bytes came in an earlier chunk
            await writer.pipeline.idle()  # which may still be on its way to the file
            head = await asyncio.to_thread(_read_head, writer.file, target.offset)
        async for piece in body:
            if not piece:
                continue
            written += len(piece)
            if written > room:
                raise _beyond(target, target.offset + written)
            if sniffing and len(head) < SNIFF_SIZE:
                head = _check_head(head + piece, target)
            for hasher in on_the_loop:
                hasher.update(piece)
            await feed.add(piece)
        if written == 0:
            raise InvalidInput("the chunk is empty", [FieldError("body", "no bytes")])
        if sniffing and len(head) < SNIFF_SIZE and target.offset + written == target.declared_size:
            _check_head(head, target, final=True)
    except BaseException:
        feed.abandon()
        writer.spoil(target.offset)
        raise
    hash_at_end: list[Any] = []
    steps = {0: writer.appender.checkpoint}
    if writer.file_hash is not None:
        steps[1] = lambda: hash_at_end.append(writer.file_hash.copy())
    feed.end(steps)
    writer.end = target.offset + written
    return PendingChunk(writer, target, feed, chunk_hashes, hash_at_end, writer.end)


async def writer_for(line: UploadLine, target: ChunkTarget) -> SpoolWriter:
    """The line's writer if it stands where the chunk starts and no chunk spoiled it; else
    the old one is closed (cutting a spoiled file back) and a new one starts there."""
    writer: SpoolWriter | None = line.writer
    if writer is not None and writer.healthy and writer.end == target.offset:
        return writer
    line.writer = None
    if writer is not None:
        await writer.aclose()
    line.writer = SpoolWriter(line.file, target.upload_id, target.offset)
    return line.writer


def spooled_size(line: UploadLine) -> int:
    """How far the spool file goes (or will, once the lanes are through): the writer knows
    while it is sound; otherwise the file says."""
    writer: SpoolWriter | None = line.writer
    if writer is not None and writer.healthy:
        return writer.end
    return os.fstat(line.file.fileno()).st_size


async def receive_chunk(
    file: BinaryIO, target: ChunkTarget, body: AsyncIterable[bytes], *, claimed: list[ChunkDigest],
    content_length: int | None,
) -> int:
    """Stream one chunk, alone, into the locked spool ``file``; return the new ``received``.

    Any failure (wrong hash, beyond the declared size, not an envelope, the client gone)
    cuts the file back to ``target.offset`` before the error leaves."""
    writer = SpoolWriter(file, target.upload_id, target.offset)
    try:
        pending = await take_chunk_body(writer, target, body, claimed=claimed, content_length=content_length)
        return await pending.verified()
    finally:
        await writer.aclose()


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
    file.flush()  # forget what the file object read before: a failed chunk's bytes, say
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


def _check_chunk_hashes(chunk_hashes: list[tuple[ChunkDigest, Any]], offset: int) -> None:
    for claimed, hasher in chunk_hashes:
        actual = hasher.hexdigest()
        if actual != claimed.hex:
            raise InvalidInput(
                f"the chunk's {claimed.hash.label} is {actual}, but {claimed.hash.header} says {claimed.hex}: "
                f"the chunk was discarded; send it again at offset {offset}",
                [FieldError(f"header.{claimed.hash.header}", "does not match the chunk")])


def _check_complete(file: BinaryIO, digest: str | None, target: ChunkTarget) -> None:
    """The whole file: its SHA-256 is the declared one and it is an envelope we accept."""
    file.flush()
    if digest is None:
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

    One statement: the row changes only if it still stands at ``offset``. A Core statement,
    not the ORM's bulk update: this runs for every chunk, and the ORM's bookkeeping cost
    more than the statement."""
    table = Upload.__table__  # type: ignore[attr-defined]
    completed = sa.case((table.c.declared_size == received, UploadStatus.COMPLETE.value), else_=table.c.status)
    row = (await session.execute(
        table.update().where(table.c.id == upload_id, table.c.received == offset)
        .values(received=received, status=completed, updated_at=clock.utcnow())
        .returning(*table.c))).one_or_none()
    if row is None:
        raise _changed_meanwhile(upload_id)
    values = dict(row._mapping)
    held = session.sync_session.identity_map.get(identity_key(Upload, upload_id))
    if held is not None:  # an Upload this session already holds takes the new values too
        for name in ("received", "status", "updated_at"):
            set_committed_value(held, name, values[name])
    if values["status"] == UploadStatus.COMPLETE:
        _running_hashes.pop(upload_id, None)
    return held if held is not None else Upload(**values)


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

"""The chunks of one upload that are in flight together in this process.

A client may send the next chunk before the answer to the previous one has come back (on a
second connection), so that its bytes travel while the server records the previous chunk.
Bytes must still reach the spool file in order and progress be recorded in order, so the
chunks of an upload that reach this process queue on the upload's *line*:

- one chunk receives at a time, the lowest offset first; a chunk whose offset is beyond
  where the line stands waits up to :data:`AHEAD_WAIT_SECONDS` for the chunks before it;
- the next chunk may start receiving as soon as the previous one's body is in, while that
  one is still being written, hashed and recorded;
- a chunk records its progress only after the previous one has recorded its own and its
  bytes are on the disk; if that failed, this one fails too (and the client asks where to
  resume).

A chunk known good as soon as its body is in (its hash ran as the bytes arrived) is
answered at once; its record and its last bytes follow behind the answer
(:meth:`UploadLine.finish_behind`), in the same order.

The line keeps the spool file's writer between its chunks, so that the next chunk's bytes
queue behind the previous chunk's in the same lanes (see :mod:`trading.chunk_writer`). It
holds the spool file open and locked (:meth:`UploadSpool.locked`) from the first of its
chunks until the last one leaves, is recorded and has its bytes on the disk. A chunk of the same
upload reaching another process meanwhile waits for the lock (up to
:data:`LOCK_WAIT_SECONDS`) and is refused if it stays locked: two clients sending one
upload, say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, BinaryIO

from core.errors import Conflict
from trading import chunk_gate

if TYPE_CHECKING:
    from trading.uploads import UploadSpool

log = logging.getLogger("bidhall.uploads")

AHEAD_WAIT_SECONDS = 2.0
LOCK_WAIT_SECONDS = 2.0  # for a spool file locked by another process's line
LOCK_POLL_SECONDS = 0.005


class UploadLine:
    """One upload's chunks in this process; see the module's docstring."""

    def __init__(self, upload_id: str, file: BinaryIO, release: contextlib.ExitStack) -> None:
        self.upload_id = upload_id
        self.file = file
        self._release = release
        self._users = 0
        self.closed = False
        self._changed = asyncio.Condition()
        self._receiving = False
        self._waiting: list[int] = []  # offsets of the chunks waiting for their turn
        self.position: int | None = None  # where the next chunk starts, once known here
        self.writer: Any = None  # the spool file's writer (trading.uploads.SpoolWriter), kept between chunks
        self._last_record: asyncio.Future[bool] | None = None  # True once recorded and written
        self._behind: set[asyncio.Future[Any]] = set()  # answered chunks still recording or writing

    @contextlib.asynccontextmanager
    async def turn_to_receive(self, offset: int) -> AsyncIterator[None]:
        """Wait until the chunk at ``offset`` may receive, and hold that turn."""
        loop = asyncio.get_running_loop()
        give_up_waiting_at = loop.time() + AHEAD_WAIT_SECONDS
        async with self._changed:
            self._waiting.append(offset)
            try:
                while not self._my_turn(offset, loop.time() >= give_up_waiting_at):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), max(give_up_waiting_at - loop.time(), 0.01))
            finally:
                self._waiting.remove(offset)
            self._receiving = True
        try:
            yield
        finally:
            async with self._changed:
                self._receiving = False
                self._changed.notify_all()

    def _my_turn(self, offset: int, waited_enough: bool) -> bool:
        if self._receiving or offset != min(self._waiting):
            return False
        ahead = self.position is not None and offset > self.position
        return not ahead or waited_enough

    def received(self, position: int) -> RecordSlot:
        """Note that a chunk's bytes are in, up to ``position`` (call while holding the turn);
        the chunk records its progress in the slot returned (see :class:`RecordSlot`)."""
        self.position = position
        previous = self._last_record
        mine = self._last_record = asyncio.get_running_loop().create_future()
        return RecordSlot(self.upload_id, previous, mine)

    async def settled(self) -> None:
        """Wait until every chunk that received here has recorded (or failed to)."""
        if self._last_record is not None:
            await asyncio.shield(self._last_record)

    def lost_track(self) -> None:
        """A chunk failed: where the line stands is for the database to say again."""
        self.position = None

    def finish_behind(self, work: Awaitable[Any], slot: RecordSlot) -> None:
        """An answered chunk is still to be recorded and its last bytes to reach the disk
        (``work``, which waits for the slot's turn). Its slot settles once both are done.
        If either fails, the chunks after it fail, and the line loses track: the next chunk
        asks the database where the upload stands, and the spool file is cut back to that
        (or, should the file be the one behind, :class:`trading.uploads.SpoolBehind`
        rewinds the record)."""
        task = asyncio.ensure_future(work)
        self._behind.add(task)

        def landed(task: asyncio.Future[Any]) -> None:
            self._behind.discard(task)
            failure = None if task.cancelled() else task.exception()
            if task.cancelled() or failure is not None:
                log.warning("upload %s: an answered chunk was not recorded or written (%s); the next "
                            "chunk is sent back to where the upload stands", self.upload_id,
                            failure or "cancelled")
                slot.abandon()
                self.lost_track()
                chunk_gate.void(self.upload_id)
            else:
                slot.settle()
            # The line's last chunk has left: closed now (not in a task that starts later,
            # by which time a new chunk may have joined the line).
            if not self._behind and self._users == 0 and _closing(self):
                _keep_until_done(asyncio.ensure_future(_closed(self)))

        task.add_done_callback(landed)  # before _keep_until_done's: quiet() must see the close
        _keep_until_done(task)

    async def answers_recorded(self) -> None:
        """Wait until every chunk answered so far is recorded (or failed to be) and written."""
        while self._behind:
            await asyncio.gather(*list(self._behind), return_exceptions=True)


class RecordSlot:
    """A chunk's place in the order in which the line's chunks record their progress.

    A chunk waits for its :meth:`turn`, records, and calls :meth:`settle` once its bytes are
    also known to be on the disk (the record may run while the last of them are still on
    their way); the next chunk's turn comes only then. Whatever fails, the chunk must
    :meth:`abandon` its slot, which fails the turns after it."""

    def __init__(self, upload_id: str, previous: asyncio.Future[bool] | None, mine: asyncio.Future[bool]) -> None:
        self.upload_id = upload_id
        self._previous = previous
        self._mine = mine

    async def turn(self) -> None:
        """Wait until the chunk before has settled; refused if it failed."""
        if self._previous is not None and not await asyncio.shield(self._previous):
            raise Conflict(f"the chunk before this one of upload {self.upload_id} was not recorded; "
                           "ask GET /uploads/{id} where to resume")

    def settle(self) -> None:
        """The chunk is recorded and its bytes are written."""
        self._mine.set_result(True)

    def abandon(self) -> None:
        """The chunk failed: the chunks after it must not record either."""
        if not self._mine.done():
            self._mine.set_result(False)


_lines: dict[str, UploadLine] = {}
_background: set[asyncio.Future[Any]] = set()


async def quiet() -> None:
    """Wait until every answered chunk is recorded, its last bytes are on the disk and its
    line is closed (before the process stops)."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


async def answers_recorded(upload_id: str) -> None:
    """Wait until every chunk of the upload this process has answered is recorded (or
    failed to be): a client asking where the upload stands must not hear less than it was
    told. (A question reaching another server process is answered from the database as it
    stands; the worst a client hears there is an offset a moment old, and the chunk it sends
    from there is told where to go on.)"""
    line = _lines.get(upload_id)
    if line is not None:
        await line.answers_recorded()


def _keep_until_done(task: asyncio.Future[Any]) -> None:
    _background.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_background.discard)


@contextlib.asynccontextmanager
async def joined(spool: UploadSpool, upload_id: str) -> AsyncIterator[UploadLine]:
    """The upload's line in this process, opened (spool file locked) by its first chunk and
    closed by its last. Raises as :meth:`UploadSpool.locked` does, once the spool file has
    stayed locked elsewhere for :data:`LOCK_WAIT_SECONDS`."""
    line = await _open_line(spool, upload_id)
    line._users += 1
    try:
        yield line
    finally:
        line._users -= 1
        if line._users == 0 and not line._behind:  # else the last answered chunk closes it
            await _close(line)


async def _open_line(spool: UploadSpool, upload_id: str) -> UploadLine:
    """This process's line of the upload, or a new one once the spool file can be locked.

    The file may be locked by another process's line for a moment after that process
    answered its chunk (its record and last bytes still to come): a chunk of the upload
    waits for it instead of being refused at once. A second client sending the same upload
    at the same time is refused after the wait."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + LOCK_WAIT_SECONDS
    while True:
        line = _lines.get(upload_id)
        if line is not None and not line.closed:
            return line
        try:
            release = contextlib.ExitStack()
            file = release.enter_context(spool.locked(upload_id))
        except Conflict:
            if loop.time() >= give_up_at:
                raise
            await asyncio.sleep(LOCK_POLL_SECONDS)
            continue
        line = _lines[upload_id] = UploadLine(upload_id, file, release)
        line.position = chunk_gate.expected_offset(upload_id)  # where the last chunk here left it
        return line


def _closing(line: UploadLine) -> bool:
    """Take the line out of use at once, so that no chunk joins it from now on; False if it
    was already."""
    if line.closed:
        return False
    line.closed = True
    if _lines.get(line.upload_id) is line:
        del _lines[line.upload_id]
    return True


async def _close(line: UploadLine) -> None:
    if _closing(line):
        await _closed(line)


async def _closed(line: UploadLine) -> None:
    """Close a line already taken out of use: its writer (the lanes drain first), then the
    spool file and its lock."""
    try:
        if line.writer is not None:
            await line.writer.aclose()
    finally:
        line._release.close()

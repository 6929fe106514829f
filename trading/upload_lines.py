"""The chunks of one upload that are in flight together in this process.

A client may send the next chunk before the answer to the previous one has come back (on a
second connection), so that its bytes travel while the server records the previous chunk.
Bytes must still reach the spool file in order and progress be recorded in order, so the
chunks of an upload that reach this process queue on the upload's *line*:

- one chunk receives at a time, the lowest offset first; a chunk whose offset is beyond
  where the line stands waits up to :data:`AHEAD_WAIT_SECONDS` for the chunks before it;
- the next chunk may start receiving as soon as the previous one's bytes are written and
  hashed, while that one's progress is still being recorded;
- a chunk records its progress only after the previous one has recorded its own; if that
  failed, this one fails too (and the client asks where to resume).

The line keeps the spool file's writer between its chunks, so that the next chunk's bytes
queue behind the previous chunk's in the same lanes (see :mod:`trading.chunk_writer`). It
holds the spool file open and locked (:meth:`UploadSpool.locked`) from the first
of its chunks until the last one leaves, so a chunk of the same upload arriving at another
process is still refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from core.errors import Conflict
from trading import chunk_gate

if TYPE_CHECKING:
    from trading.uploads import UploadSpool

AHEAD_WAIT_SECONDS = 2.0
T = TypeVar("T")


class UploadLine:
    """One upload's chunks in this process; see the module's docstring."""

    def __init__(self, upload_id: str, file: BinaryIO, release: contextlib.ExitStack) -> None:
        self.upload_id = upload_id
        self.file = file
        self._release = release
        self._users = 0
        self._changed = asyncio.Condition()
        self._receiving = False
        self._waiting: list[int] = []  # offsets of the chunks waiting for their turn
        self.position: int | None = None  # where the next chunk starts, once known here
        self.writer: Any = None  # the spool file's writer (trading.uploads.SpoolWriter), kept between chunks
        self._last_record: asyncio.Future[bool] | None = None  # True once recorded

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
        the chunk records its progress through the slot returned, which it must also
        :meth:`~RecordSlot.abandon` if it fails before or while recording."""
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


class RecordSlot:
    """A chunk's place in the order in which the line's chunks record their progress."""

    def __init__(self, upload_id: str, previous: asyncio.Future[bool] | None, mine: asyncio.Future[bool]) -> None:
        self.upload_id = upload_id
        self._previous = previous
        self._mine = mine

    async def record(self, record: Callable[[], Awaitable[T]]) -> T:
        """Run ``record`` once the chunk before has recorded; refused if it did not."""
        if self._previous is not None and not await asyncio.shield(self._previous):
            raise Conflict(f"the chunk before this one of upload {self.upload_id} was not recorded; "
                           "ask GET /uploads/{id} where to resume")
        result = await record()
        self._mine.set_result(True)
        return result

    def abandon(self) -> None:
        """The chunk failed: the chunks after it must not record either."""
        if not self._mine.done():
            self._mine.set_result(False)


_lines: dict[str, UploadLine] = {}


@contextlib.asynccontextmanager
async def joined(spool: UploadSpool, upload_id: str) -> AsyncIterator[UploadLine]:
    """The upload's line in this process, opened (spool file locked) by its first chunk and
    closed by its last. Raises as :meth:`UploadSpool.locked` does."""
    line = _lines.get(upload_id)
    if line is None:
        release = contextlib.ExitStack()
        file = release.enter_context(spool.locked(upload_id))
        line = _lines[upload_id] = UploadLine(upload_id, file, release)
        line.position = chunk_gate.expected_offset(upload_id)  # where the last chunk here left it
    line._users += 1
    try:
        yield line
    finally:
        line._users -= 1
        if line._users == 0:
            del _lines[upload_id]
            try:
                if line.writer is not None:
                    await line.writer.aclose()
            finally:
                line._release.close()

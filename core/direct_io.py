"""Writing large files past the page cache (O_DIRECT), where the file system allows it.

A bid envelope of a gigabyte is written once while it is uploaded and not read again until
the opening. Through the page cache every byte first lands in freshly allocated memory
(slow on virtual machines, where the host backs a page only when it is first touched) and
then pushes other, useful pages out. Direct I/O hands the bytes to the disk from one small
aligned buffer instead: faster here, and the bytes are on the device when the write returns.

Direct I/O needs block-aligned offsets, lengths and memory. :class:`AlignedAppender`
keeps one aligned staging buffer, writes whole blocks directly, and writes the unaligned
tail of the last block through the page cache at :meth:`close`, re-reading it at the next
append. Where ``O_DIRECT`` is refused (tmpfs, some network file systems, other systems) it
writes through the page cache as before, so callers need not care.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from pathlib import Path

BLOCK = 4096  # a multiple of every logical block size we meet (512 or 4096)
# Bytes gathered before one direct write; a multiple of BLOCK. An upload's batches are this
# size too: 2 MiB rather than 1 halved the per-batch work (a hand-off to each lane, a wake-up
# of the loop) and took the server from ~2.0 to ~1.6 CPU seconds per GiB received.
STAGING = 1 << 21
SPARE_BUFFERS_KEPT = 24  # 48 MiB

_O_DIRECT = getattr(os, "O_DIRECT", 0)
# Buffers of STAGING bytes are reused: a fresh mapping costs its first touch of every page
# again, and two hundred bidders uploading at once must not each hold a new one per chunk.
_spare_buffers: list[mmap.mmap] = []


def take_buffer() -> mmap.mmap:
    """A page-aligned buffer of STAGING bytes (as direct I/O needs), from the pool if any."""
    try:
        return _spare_buffers.pop()
    except IndexError:
        return mmap.mmap(-1, STAGING)


def give_back(buffer: mmap.mmap) -> None:
    """Return a buffer from :func:`take_buffer`; nothing may still view it."""
    if len(_spare_buffers) < SPARE_BUFFERS_KEPT:
        _spare_buffers.append(buffer)
    else:
        with contextlib.suppress(BufferError):  # still viewed somewhere: the collector frees it
            buffer.close()


def open_direct(path: Path) -> int | None:
    """A write descriptor of ``path`` with O_DIRECT, or None when direct I/O is not possible."""
    if not _O_DIRECT:
        return None
    try:
        return os.open(path, os.O_WRONLY | _O_DIRECT)
    except OSError:  # EINVAL: the file system does not do direct I/O
        return None


class AlignedAppender:
    """Append bytes to the file ``path`` from ``offset`` on, through direct I/O when possible.

    ``buffered`` is a descriptor of the same file opened normally (for reading back the
    partial block before ``offset`` and for writing the final partial block). Call
    :meth:`close` to write what is still staged; without it, staged bytes are lost (which
    is what a failed chunk wants: the caller cuts the file back anyway).
    """

    def __init__(self, path: Path, buffered: int, offset: int) -> None:
        self.buffered = buffered
        self.end = offset
        self._stage_start = offset - offset % BLOCK
        # The start of the block we append into is already in the file: it is written again.
        head = os.pread(buffered, offset - self._stage_start, self._stage_start)
        if len(head) != offset - self._stage_start:
            raise OSError(f"{path} is shorter than the {offset} bytes to append after")
        self.direct = open_direct(path)
        if self.direct is None:
            return
        self._stage = take_buffer()
        self._staged = len(head)
        self._stage[:self._staged] = head

    def write(self, data: bytes | memoryview, *, aligned_memory: bool = False) -> None:
        """Append ``data``. ``aligned_memory``: it starts on a page boundary (a buffer from
        :func:`take_buffer`), so whole blocks of it may go to the disk without staging."""
        view = memoryview(data)
        self.end += len(view)
        if self.direct is None:
            os.pwrite(self.buffered, view, self.end - len(view))
            return
        if aligned_memory and self._staged == 0 and len(view) >= BLOCK:
            view = self._write_unstaged(view)
        while view:
            room = STAGING - self._staged
            taken = view[:room]
            self._stage[self._staged:self._staged + len(taken)] = taken
            self._staged += len(taken)
            view = view[len(taken):]
            if self._staged == STAGING:
                self._write_blocks(STAGING)

    def close(self) -> None:
        """Write the staged bytes: whole blocks directly, the last partial block buffered."""
        if self.direct is None:
            return
        try:
            whole = self._staged - self._staged % BLOCK
            if whole:
                self._write_blocks(whole)
            if self._staged:
                os.pwrite(self.buffered, memoryview(self._stage)[:self._staged], self._stage_start)
        finally:
            self.discard()

    def checkpoint(self) -> None:
        """Put what is staged (a last, partial block) in the file too, through the page
        cache, and keep it staged: appending goes on from there, and the block is written
        again, directly, once it is whole."""
        if self.direct is not None and self._staged:
            os.pwrite(self.buffered, memoryview(self._stage)[:self._staged], self._stage_start)

    def discard(self) -> None:
        """Forget what is staged and release the direct descriptor (a failed chunk)."""
        if self.direct is None:
            return
        os.close(self.direct)
        self.direct = None
        give_back(self._stage)

    def _write_unstaged(self, view: memoryview) -> memoryview:
        """Write the whole blocks of an aligned ``view`` straight from it; the rest is left."""
        whole = len(view) - len(view) % BLOCK
        written = 0
        while written < whole:
            written += os.pwrite(self.direct, view[written:whole], self._stage_start + written)  # type: ignore[arg-type]
        self._stage_start += whole
        return view[whole:]

    def _write_blocks(self, length: int) -> None:
        view = memoryview(self._stage)
        written = 0
        while written < length:
            written += os.pwrite(self.direct, view[written:length], self._stage_start + written)  # type: ignore[arg-type]
        view.release()
        leftover = self._staged - length
        if leftover:
            self._stage.move(0, length, leftover)
        self._stage_start += length
        self._staged = leftover

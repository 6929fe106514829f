"""Hashing and writing a chunk's bytes off the event loop while the next bytes arrive.

The event loop only copies the body's pieces into batch buffers. Each full batch goes to
every *lane* at once: the direct write (with the cheap chunk hash riding along), the file's
running SHA-256 and, when a client sent one, the chunk's SHA-256. A lane works through its
batches in order in a worker thread of its own choosing and never hands back to the loop
between batches; the loop waits only when it has no free buffer left (the disk or the hash
is behind) and at the end of the chunk. Waiting for each batch before starting the next cost
a thread wake-up and a loop wake-up per batch, which on two busy cores was most of the time
a chunk took.

Buffers come from :mod:`core.direct_io`'s pool and are taken only as needed: a slow upload,
whose lanes keep up, holds two; a fast one up to :data:`BUFFERS_PER_CHUNK`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from mmap import mmap
from typing import Any

from core.direct_io import give_back, take_buffer

BUFFERS_PER_CHUNK = 4  # batches of core.direct_io.STAGING bytes one chunk may have in flight
LANE_THREADS = 16  # hashing and direct writes release the GIL; writes wait on the disk

# Lanes of every upload share these threads. Not the loop's default executor: that one is
# sized for short calls, and two hundred bidders' lanes would queue behind each other there.
_lane_threads = ThreadPoolExecutor(max_workers=LANE_THREADS, thread_name_prefix="upload-lane")


@dataclass
class Batch:
    """One buffer's worth of a chunk, on its way through the lanes, or (without a buffer)
    a last step for the first lane to take after every batch."""

    buffer: mmap | None
    view: memoryview
    lanes_left: int
    last_step: Callable[[], Any] | None = None


class Lane:
    """One kind of work (a write, a hash) applied to a chunk's batches strictly in order.

    ``push`` never blocks: a worker thread is started when the lane is idle and works
    through the queue until it is empty. After the first failure the lane only passes
    batches on (so their buffers come back) and keeps the error for :meth:`ChunkPipeline.finish`."""

    def __init__(self, work: Callable[[memoryview], Any], passed: Callable[[Batch], None]) -> None:
        self._work = work
        self._passed = passed
        self._queue: deque[Batch] = deque()
        self._lock = threading.Lock()
        self._running = False
        self.error: BaseException | None = None

    def push(self, batch: Batch) -> None:
        with self._lock:
            self._queue.append(batch)
            if self._running:
                return
            self._running = True
        _lane_threads.submit(self._run)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                batch = self._queue.popleft()
            if self.error is None:
                try:
                    if batch.last_step is not None:
                        batch.last_step()
                    else:
                        self._work(batch.view)
                except BaseException as error:  # noqa: BLE001 - kept and raised on the loop
                    self.error = error
            self._passed(batch)


@dataclass
class _Flow:
    """What the loop and the lane threads share: free buffers, batches in flight, a waiter."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    free: list[mmap] = field(default_factory=list)
    in_flight: int = 0
    waiter: asyncio.Future[None] | None = None


class ChunkPipeline:
    """Feeds a chunk's bytes, batch by batch, to ``lanes`` (functions of a memoryview)."""

    def __init__(self, lanes: list[Callable[[memoryview], Any]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._lanes = [Lane(work, self._batch_passed) for work in lanes]
        self._flow = _Flow()
        self._owned: list[mmap] = []
        self._current: mmap | None = None
        self._filled = 0

    async def add(self, piece: bytes) -> None:
        """Copy ``piece`` into batches, sending each full one down the lanes."""
        view = memoryview(piece)
        while view:
            if self._current is None:
                self._current = await self._free_buffer()
            taken = min(len(view), len(self._current) - self._filled)
            self._current[self._filled:self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == len(self._current):
                self._send()

    async def finish(self, last_step: Callable[[], Any] | None = None) -> None:
        """Send the last, partial batch and wait until every lane has done every batch (and
        the first lane, after them, ``last_step``: no extra trip to a thread); raise the
        first lane's error, if any."""
        self._send()
        if last_step is not None:
            with self._flow.lock:
                self._flow.in_flight += 1
            self._lanes[0].push(Batch(None, memoryview(b""), 1, last_step))
        await self._wait_for(lambda: self._flow.in_flight == 0)
        for lane in self._lanes:
            if lane.error is not None:
                raise lane.error

    async def close(self) -> None:
        """Wait for the lane threads (a thread cannot be stopped midway, and it still reads
        the buffers), then give the buffers back. Safe after any failure."""
        self._current = None
        with contextlib.suppress(BaseException):
            await self._wait_for(lambda: self._flow.in_flight == 0)
        if self._flow.in_flight == 0:
            for buffer in self._owned:
                give_back(buffer)
        self._owned = []

    def _send(self) -> None:
        if self._current is None or not self._filled:
            return
        batch = Batch(self._current, memoryview(self._current)[:self._filled], len(self._lanes))
        self._current, self._filled = None, 0
        with self._flow.lock:
            self._flow.in_flight += 1
        for lane in self._lanes:
            lane.push(batch)

    async def _free_buffer(self) -> mmap:
        while True:
            with self._flow.lock:
                if self._flow.free:
                    return self._flow.free.pop()
            if len(self._owned) < BUFFERS_PER_CHUNK:
                self._owned.append(take_buffer())
                return self._owned[-1]
            await self._wait_for(lambda: bool(self._flow.free))

    async def _wait_for(self, ready: Callable[[], bool]) -> None:
        """Wait (without holding the loop) until ``ready()``, re-checked after each batch."""
        while True:
            with self._flow.lock:
                if ready():
                    return
                waiter = self._flow.waiter = self._loop.create_future()
            await waiter

    def _batch_passed(self, batch: Batch) -> None:
        """Called in a lane thread: the last lane to pass a batch frees its buffer."""
        with self._flow.lock:
            batch.lanes_left -= 1
            if batch.lanes_left:
                return
            batch.view.release()
            if batch.buffer is not None:
                self._flow.free.append(batch.buffer)
            self._flow.in_flight -= 1
            waiter, self._flow.waiter = self._flow.waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

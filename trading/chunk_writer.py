"""Hashing and writing an upload's bytes off the event loop while more bytes arrive.

The event loop only copies the body's pieces into batch buffers. Each full batch goes to
every *lane* at once: the direct write, the file's running SHA-256 and, when a client sent
one, the chunk's SHA-256. A lane works through its
batches in order in a worker thread and never hands back to the loop between batches; the
loop waits only when it has no free buffer left (the disk or the hash is behind) and when a
chunk must know that all of its bytes are through.

The lanes belong to the upload, not to one chunk (:class:`SpoolPipeline`): the next chunk's
batches queue behind the previous chunk's, so the next chunk can be received while the
previous one's last bytes are still being written and hashed. Each chunk follows its own
batches through a :class:`ChunkFeed`.

Buffers come from :mod:`core.direct_io`'s pool and are taken only as needed: a slow upload,
whose lanes keep up, holds two; a fast one up to :data:`BUFFERS_PER_UPLOAD`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from mmap import mmap
from typing import Any

from core.direct_io import give_back, take_buffer

BUFFERS_PER_UPLOAD = 4  # batches of core.direct_io.STAGING bytes (8 MiB) an upload may have in the lanes
LANE_THREADS = 16  # hashing and direct writes release the GIL; writes wait on the disk

# Lanes of every upload share these threads. Not the loop's default executor: that one is
# sized for short calls, and two hundred bidders' lanes would queue behind each other there.
_lane_threads = ThreadPoolExecutor(max_workers=LANE_THREADS, thread_name_prefix="upload-lane")

LaneWork = Callable[["Batch"], Any]


@dataclass
class Batch:
    """One buffer's worth of a chunk on its way through the lanes, or (without a buffer)
    a step for one lane to take after the batches before it."""

    feed: ChunkFeed
    buffer: mmap | None
    view: memoryview
    lanes_left: int
    step: Callable[[], Any] | None = None


class Lane:
    """One kind of work (a write, a hash) applied to batches strictly in order.

    ``push`` never blocks: a worker thread is started when the lane is idle and works
    through the queue until it is empty. After the first failure the lane only passes
    batches on (so that the chunks can end) and keeps the error."""

    def __init__(self, work: LaneWork, passed: Callable[[Batch], None]) -> None:
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
                    if batch.step is not None:
                        batch.step()
                    else:
                        self._work(batch)
                except BaseException as error:  # noqa: BLE001 - kept and raised on the loop
                    self.error = error
            self._passed(batch)


class SpoolPipeline:
    """An upload's lanes (``lanes``: what to do with each batch) and batch buffers."""

    def __init__(self, lanes: Iterable[LaneWork]) -> None:
        self._loop = asyncio.get_running_loop()
        self.lanes = [Lane(work, self._batch_passed) for work in lanes]
        self._lock = threading.Lock()
        self._free: list[mmap] = []
        self._owned: list[mmap] = []
        self._waiters: list[asyncio.Future[None]] = []
        self.in_flight = 0

    def feed(self, own_lanes: Iterable[LaneWork] = ()) -> ChunkFeed:
        """Start a chunk; ``own_lanes`` see this chunk's batches only (a chunk SHA-256)."""
        return ChunkFeed(self, [Lane(work, self._batch_passed) for work in own_lanes])

    def error(self) -> BaseException | None:
        return next((lane.error for lane in self.lanes if lane.error is not None), None)

    async def idle(self) -> None:
        """Wait until the lanes have passed every batch, even if cancelled meanwhile: a
        thread cannot be stopped midway, and what it still writes must not land after the
        caller has cut the file back."""
        cancelled = False
        while True:
            try:
                await self.wait_for(lambda: self.in_flight == 0)
                break
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    def release_spare(self) -> None:
        """Give back the buffers nothing is using while the lanes are empty: an upload
        waiting for its next chunk holds no memory it does not need (two hundred bidders
        uploading at once would hold eight megabytes each)."""
        with self._lock:
            if self.in_flight:
                return
            spare, self._free = self._free, []
            for buffer in spare:
                self._owned.remove(buffer)
            waiters = self._take_waiters()  # a chunk waiting for a buffer may now take a new one
        for buffer in spare:
            give_back(buffer)
        _wake(waiters)

    def close(self) -> None:
        """Give the buffers back (once :meth:`idle`)."""
        if self.in_flight == 0:
            for buffer in self._owned:
                give_back(buffer)
        self._owned, self._free = [], []

    async def free_buffer(self) -> mmap:
        while True:
            with self._lock:
                if self._free:
                    return self._free.pop()
                if len(self._owned) < BUFFERS_PER_UPLOAD:
                    self._owned.append(take_buffer())
                    return self._owned[-1]
            # Either may come first: a batch passing frees a buffer, or release_spare
            # gives the free ones back and so makes room to take a new one.
            await self.wait_for(lambda: bool(self._free) or len(self._owned) < BUFFERS_PER_UPLOAD)

    def put_back(self, buffer: mmap) -> None:
        """A buffer taken with :meth:`free_buffer` and not sent after all."""
        with self._lock:
            self._free.append(buffer)
            waiters = self._take_waiters()
        _wake(waiters)

    def send(self, batch: Batch, lanes: list[Lane]) -> None:
        with self._lock:
            self.in_flight += 1
            batch.feed.in_flight += 1
        for lane in lanes:
            lane.push(batch)

    async def wait_for(self, ready: Callable[[], bool]) -> None:
        """Wait (without holding the loop) until ``ready()``, re-checked after each batch."""
        while True:
            with self._lock:
                if ready():
                    return
                waiter = self._loop.create_future()
                self._waiters.append(waiter)
            await waiter

    def _batch_passed(self, batch: Batch) -> None:
        """Called in a lane thread: the last lane to pass a batch frees its buffer."""
        with self._lock:
            batch.lanes_left -= 1
            if batch.lanes_left:
                return
            batch.view.release()
            if batch.buffer is not None:
                self._free.append(batch.buffer)
            self.in_flight -= 1
            batch.feed.in_flight -= 1
            waiters = self._take_waiters()
        if waiters:
            self._loop.call_soon_threadsafe(_wake, waiters)

    def _take_waiters(self) -> list[asyncio.Future[None]]:
        """Every waiter, to be woken (outside the lock) because what they wait for changed."""
        waiters, self._waiters = self._waiters, []
        return waiters


class ChunkFeed:
    """One chunk's bytes into an upload's pipeline, and the wait for them to be through."""

    def __init__(self, pipeline: SpoolPipeline, own_lanes: list[Lane]) -> None:
        self._pipeline = pipeline
        self._own_lanes = own_lanes
        self._lanes = pipeline.lanes + own_lanes
        self._current: mmap | None = None
        self._filled = 0
        self.in_flight = 0

    async def add(self, piece: bytes) -> None:
        """Copy ``piece`` into batches, sending each full one down the lanes."""
        view = memoryview(piece)
        while view:
            if self._current is None:
                self._current = await self._pipeline.free_buffer()
            taken = min(len(view), len(self._current) - self._filled)
            self._current[self._filled:self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == len(self._current):
                self._send()

    def end(self, steps: dict[int, Callable[[], Any]]) -> None:
        """Send the last, partial batch, then ``steps`` (lane index: step) for the shared
        lanes to take after this chunk's batches."""
        self._send()
        for index, step in steps.items():
            self._pipeline.send(Batch(self, None, memoryview(b""), 1, step), [self._pipeline.lanes[index]])

    async def done(self) -> None:
        """Wait until every lane has passed this chunk's batches and steps; raise the first
        error any lane met (a shared lane's error is the upload's from then on)."""
        self._send()
        await self._pipeline.wait_for(lambda: self.in_flight == 0)
        error = self._pipeline.error() or next((lane.error for lane in self._own_lanes if lane.error), None)
        if error is not None:
            raise error

    def abandon(self) -> None:
        """The chunk failed before its end: the buffer being filled goes back unused."""
        if self._current is not None:
            self._pipeline.put_back(self._current)
            self._current = None

    def _send(self) -> None:
        if self._current is None or not self._filled:
            return
        batch = Batch(self, self._current, memoryview(self._current)[:self._filled], len(self._lanes))
        self._current, self._filled = None, 0
        self._pipeline.send(batch, self._lanes)


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)

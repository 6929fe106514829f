"""The lanes behind an upload: every byte of every chunk reaches every lane, in order,
however the bodies are cut; a chunk learns when its own bytes are through while the next
one is already being fed; a lane's failure surfaces; no buffer is reused while a lane reads it."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from core import direct_io
from trading import chunk_writer
from trading.chunk_writer import Batch, SpoolPipeline


def _pieces(seed: int, total: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces, left = [], total
    while left:
        size = min(left, rng.choice([1, 100, 4096, 65536, 262144, direct_io.STAGING + 3]))
        pieces.append(rng.randbytes(size))
        left -= size
    return pieces


class Recorder:
    """A lane that keeps a copy of what it saw (slowly, if asked)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.seen = bytearray()
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, batch: Batch) -> None:
        time.sleep(self.delay)
        self.threads.add(threading.current_thread().name)
        self.seen += batch.view


class Held(Recorder):
    """A lane that takes nothing until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def __call__(self, batch: Batch) -> None:
        self.release.wait(5)
        super().__call__(batch)


async def _feed(pipeline: SpoolPipeline, pieces: list[bytes], own_lanes: list = ()):  # type: ignore[no-untyped-def]
    feed = pipeline.feed(own_lanes)
    for piece in pieces:
        await feed.add(piece)
    return feed


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_lane_sees_every_chunk_in_order(seed: int) -> None:
    chunks = [_pieces(seed * 10 + n, size) for n, size in enumerate([3 * direct_io.STAGING + 5, 12345, 777])]
    fast, slow = Recorder(), Recorder(delay=0.01)
    pipeline = SpoolPipeline([fast, slow])
    for pieces in chunks:
        feed = await _feed(pipeline, pieces)
        feed.end({})
        await feed.done()
    await pipeline.idle()
    pipeline.close()
    everything = b"".join(b"".join(pieces) for pieces in chunks)
    assert bytes(fast.seen) == bytes(slow.seen) == everything
    assert threading.current_thread().name not in fast.threads | slow.threads, "lanes run off the loop"


async def test_the_next_chunk_is_fed_while_the_one_before_is_still_in_the_lanes() -> None:
    seen = Held()
    pipeline = SpoolPipeline([seen])
    first = await _feed(pipeline, [b"1" * direct_io.STAGING])
    first.end({0: lambda: seen.seen.extend(b"|")})  # a step, after the first chunk's batches
    second = await _feed(pipeline, [b"2" * 1000])  # fed although the first is not through
    second.end({})
    first_done = asyncio.create_task(first.done())
    await asyncio.sleep(0.05)
    assert not first_done.done()
    seen.release.set()
    await asyncio.wait_for(first_done, 5)
    await second.done()
    assert bytes(seen.seen) == b"1" * direct_io.STAGING + b"|" + b"2" * 1000
    await pipeline.idle()
    pipeline.close()


async def test_a_slow_lane_holds_the_body_back_within_the_buffers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_writer, "BUFFERS_PER_UPLOAD", 2)
    taken: list[object] = []
    real_take = chunk_writer.take_buffer
    monkeypatch.setattr(chunk_writer, "take_buffer", lambda: taken.append(1) or real_take())
    slow = Recorder(delay=0.02)
    pipeline = SpoolPipeline([slow])
    data = random.Random(9).randbytes(6 * direct_io.STAGING)
    feed = await _feed(pipeline, [data[start:start + 65536] for start in range(0, len(data), 65536)])
    await feed.done()
    pipeline.close()
    assert bytes(slow.seen) == data
    assert len(taken) == 2, "two buffers, reused, however far the body runs ahead"


async def test_a_failing_lane_fails_its_chunk_and_every_later_one() -> None:
    class Broken(Exception):
        pass

    calls = 0

    def breaks_on_the_second_batch(batch: Batch) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Broken("disk full")

    other = Recorder()
    pipeline = SpoolPipeline([breaks_on_the_second_batch, other])
    data = random.Random(4).randbytes(4 * direct_io.STAGING)
    feed = await _feed(pipeline, [data])
    with pytest.raises(Broken, match="disk full"):
        await feed.done()
    later = await _feed(pipeline, [b"after"])
    with pytest.raises(Broken):
        await later.done()
    await pipeline.idle()
    pipeline.close()
    assert calls == 2, "after its failure the lane only passes batches on"
    assert bytes(other.seen) == data + b"after"


async def test_a_chunk_s_own_lane_sees_that_chunk_only() -> None:
    shared, own = Recorder(), Recorder()
    pipeline = SpoolPipeline([shared])
    first = await _feed(pipeline, [b"a" * 5000], own_lanes=[own])
    await first.done()
    second = await _feed(pipeline, [b"b" * 3000])
    await second.done()
    pipeline.close()
    assert bytes(own.seen) == b"a" * 5000 and bytes(shared.seen) == b"a" * 5000 + b"b" * 3000


async def test_waiting_for_the_lanes_outlasts_a_cancellation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_io, "_spare_buffers", [])
    seen = Held()
    pipeline = SpoolPipeline([seen])
    await _feed(pipeline, [b"z" * direct_io.STAGING])  # one full batch, now in the lane
    idle = asyncio.create_task(pipeline.idle())
    await asyncio.sleep(0.05)
    idle.cancel()
    await asyncio.sleep(0.05)
    assert not idle.done(), "a lane still reads the buffer: the wait goes on"
    seen.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(idle, 5)
    assert bytes(seen.seen) == b"z" * direct_io.STAGING
    pipeline.close()
    assert len(direct_io._spare_buffers) == 1, "the buffer went back to the pool"


async def test_an_idle_upload_gives_its_spare_buffers_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_io, "_spare_buffers", [])
    seen = Held()
    pipeline = SpoolPipeline([seen])
    feed = await _feed(pipeline, [b"s" * (3 * direct_io.STAGING)])
    pipeline.release_spare()
    assert direct_io._spare_buffers == [], "nothing is given back while batches are in the lanes"
    seen.release.set()
    await feed.done()
    pipeline.release_spare()
    assert len(direct_io._spare_buffers) == 3
    pipeline.close()
    assert len(direct_io._spare_buffers) == 3, "nothing given back twice"


async def test_a_chunk_waiting_for_a_buffer_goes_on_when_the_spare_ones_are_given_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The next chunk waits for a buffer; every batch passes and, before that chunk runs
    again, the one before it gives the (now spare) buffers back: it must take a new one,
    not wait for ever for a free one that will never come."""
    monkeypatch.setattr(chunk_writer, "BUFFERS_PER_UPLOAD", 2)
    monkeypatch.setattr(direct_io, "_spare_buffers", [])
    seen = Held()
    pipeline = SpoolPipeline([seen])
    first = await _feed(pipeline, [b"1" * (2 * direct_io.STAGING)])  # both buffers in the lane
    second = pipeline.feed()
    waiting = asyncio.create_task(second.add(b"2" * direct_io.STAGING))
    await asyncio.sleep(0.05)
    assert not waiting.done(), "no buffer free, none to take"
    seen.release.set()
    while pipeline.in_flight:  # the lane passes both batches; the loop is held meanwhile,
        time.sleep(0.001)  # so the waiting chunk is woken only after what follows
    await first.done()
    pipeline.release_spare()
    await asyncio.wait_for(waiting, 5)
    second.end({})
    await second.done()
    assert bytes(seen.seen) == b"1" * (2 * direct_io.STAGING) + b"2" * direct_io.STAGING
    await pipeline.idle()
    pipeline.close()

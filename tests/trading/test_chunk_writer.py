"""The lanes behind an upload chunk: every byte reaches every lane, in order, however the
body is cut; a lane's failure surfaces at the end; no buffer is reused while a lane reads it."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from core import direct_io
from trading import chunk_writer
from trading.chunk_writer import ChunkPipeline


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

    def __call__(self, view: memoryview) -> None:
        time.sleep(self.delay)
        self.threads.add(threading.current_thread().name)
        self.seen += view


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_lane_sees_every_byte_in_order(seed: int) -> None:
    pieces = _pieces(seed, 5 * direct_io.STAGING + 12345)
    fast, slow = Recorder(), Recorder(delay=0.01)
    pipeline = ChunkPipeline([fast, slow])
    for piece in pieces:
        await pipeline.add(piece)
    await pipeline.finish()
    await pipeline.close()
    assert bytes(fast.seen) == bytes(slow.seen) == b"".join(pieces)
    assert threading.current_thread().name not in fast.threads | slow.threads, "lanes run off the loop"


async def test_a_slow_lane_holds_the_body_back_within_the_buffers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_writer, "BUFFERS_PER_CHUNK", 2)
    taken: list[object] = []
    real_take = chunk_writer.take_buffer
    monkeypatch.setattr(chunk_writer, "take_buffer", lambda: taken.append(1) or real_take())
    slow = Recorder(delay=0.02)
    pipeline = ChunkPipeline([slow])
    data = random.Random(9).randbytes(6 * direct_io.STAGING)
    for start in range(0, len(data), 65536):
        await pipeline.add(data[start:start + 65536])
    await pipeline.finish()
    await pipeline.close()
    assert bytes(slow.seen) == data
    assert len(taken) == 2, "two buffers, reused, however far the body runs ahead"


async def test_a_failing_lane_is_raised_at_the_end_and_the_others_finish() -> None:
    class Broken(Exception):
        pass

    calls = 0

    def breaks_on_the_second_batch(view: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Broken("disk full")

    other = Recorder()
    pipeline = ChunkPipeline([breaks_on_the_second_batch, other])
    data = random.Random(4).randbytes(4 * direct_io.STAGING)
    await pipeline.add(data)
    with pytest.raises(Broken, match="disk full"):
        await pipeline.finish()
    await pipeline.close()
    assert calls == 2, "after its failure the lane only passes batches on"
    assert bytes(other.seen) == data


async def test_closing_after_a_failure_waits_for_the_lanes_before_giving_buffers_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_io, "_spare_buffers", [])
    release = threading.Event()
    blocked = Recorder()

    def held(view: memoryview) -> None:
        release.wait(5)
        blocked(view)

    pipeline = ChunkPipeline([held])
    await pipeline.add(b"z" * direct_io.STAGING)  # one full batch, now in the lane
    closing = asyncio.create_task(pipeline.close())
    await asyncio.sleep(0.05)
    assert not closing.done(), "a lane still reads the buffer"
    release.set()
    await asyncio.wait_for(closing, 5)
    assert bytes(blocked.seen) == b"z" * direct_io.STAGING
    assert len(direct_io._spare_buffers) == 1, "the buffer went back to the pool"

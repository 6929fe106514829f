"""The client's chunk loop: chunks in flight together, answers in order, failures after the
requests already sent have ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from web.bidder_client import ChunkReader, send_chunks


class Server:
    """A stand-in for PUT /uploads/{id}: notes what arrives and how much is open at once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.received: dict[int, bytes] = {}
        self.open = self.most_open = 0
        self.fail_at = fail_at
        self.ended: list[int] = []

    async def put(self, offset: int, chunk: bytes, digest: str) -> dict:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await asyncio.sleep(0.01 if offset % 2 else 0.02)  # answers come back out of order
            if offset == self.fail_at:
                raise RuntimeError(f"refused at {offset}")
            self.received[offset] = chunk
            return {"received": offset + len(chunk)}
        finally:
            self.open -= 1
            self.ended.append(offset)


@pytest.mark.parametrize("in_flight", [1, 2, 3])
async def test_every_chunk_is_sent_once_with_at_most_in_flight_open(tmp_path: Path, in_flight: int) -> None:
    path = tmp_path / "envelope"
    path.write_bytes(bytes(range(256)) * 40)  # 10,240 bytes: 10 chunks of 1,000 and one of 240
    server = Server()
    async with ChunkReader(path, 1000) as reader:
        answer = await send_chunks(reader, 2000, 10_240, server.put, in_flight)
    assert answer == {"received": 10_240}
    assert b"".join(server.received[offset] for offset in sorted(server.received)) == path.read_bytes()[2000:]
    assert server.most_open == in_flight


async def test_a_failure_is_raised_once_the_requests_sent_have_ended(tmp_path: Path) -> None:
    path = tmp_path / "envelope"
    path.write_bytes(b"e" * 5000)
    server = Server(fail_at=1000)
    async with ChunkReader(path, 1000) as reader:
        with pytest.raises(RuntimeError, match="refused at 1000"):
            await send_chunks(reader, 0, 5000, server.put, 2)
    assert server.open == 0 and 2000 in server.ended, "the chunk sent after it ended first"
    assert 3000 not in server.ended, "nothing more is sent after a failure"


async def test_a_file_shorter_than_announced_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "envelope"
    path.write_bytes(b"s" * 1500)
    async with ChunkReader(path, 1000) as reader:
        with pytest.raises(ValueError, match="ended at byte 1500"):
            await send_chunks(reader, 0, 4000, Server().put, 2)

"""Appending through direct I/O: the file holds exactly the bytes appended, whatever the
offsets and sizes, and a discarded append leaves what was staged unwritten."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from core import direct_io
from core.direct_io import BLOCK, STAGING, AlignedAppender


def append(path: Path, offset: int, pieces: list[bytes]) -> AlignedAppender:
    fd = os.open(path, os.O_RDWR)
    try:
        appender = AlignedAppender(path, fd, offset)
        for piece in pieces:
            appender.write(piece)
        appender.close()
        return appender
    finally:
        os.close(fd)


@pytest.mark.parametrize("start", [0, 1, BLOCK - 1, BLOCK, BLOCK + 17, STAGING - 3])
def test_appends_from_any_offset_keep_every_byte(tmp_path: Path, start: int) -> None:
    rng = random.Random(start)
    existing = rng.randbytes(start)
    path = tmp_path / "spool.part"
    path.write_bytes(existing)
    pieces = [rng.randbytes(size) for size in (1, BLOCK, 65536, STAGING + 5, 3, 777)]
    appender = append(path, start, pieces)
    assert path.read_bytes() == existing + b"".join(pieces)
    assert appender.end == start + sum(map(len, pieces))


def test_a_second_append_continues_after_an_unaligned_end(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"")
    first, second = os.urandom(BLOCK * 3 + 11), os.urandom(BLOCK + 5)
    append(path, 0, [first])
    append(path, len(first), [second])
    assert path.read_bytes() == first + second


def test_the_page_cache_path_when_direct_io_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_io, "open_direct", lambda path: None)
    path = tmp_path / "spool.part"
    path.write_bytes(b"head")
    data = os.urandom(STAGING + 99)
    appender = append(path, 4, [data])
    assert appender.direct is None
    assert path.read_bytes() == b"head" + data


def test_discarding_writes_nothing_still_staged(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDWR)
    try:
        appender = AlignedAppender(path, fd, 0)
        appender.write(b"x" * 100)
        appender.discard()
    finally:
        os.close(fd)
    assert path.read_bytes() == b""


def test_an_offset_beyond_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(OSError, match="shorter than"):
            AlignedAppender(path, fd, 10)
    finally:
        os.close(fd)


def test_direct_io_is_used_where_the_file_system_allows_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"")
    probe = direct_io.open_direct(path)
    if probe is None:
        pytest.skip("this file system refuses O_DIRECT")
    os.close(probe)
    fd = os.open(path, os.O_RDWR)
    try:
        appender = AlignedAppender(path, fd, 0)
        assert appender.direct is not None
        appender.write(os.urandom(BLOCK * 2))
        appender.close()
    finally:
        os.close(fd)
    assert path.stat().st_size == BLOCK * 2


@pytest.mark.parametrize("start", [0, BLOCK, BLOCK + 17])
def test_pooled_buffers_mixed_with_other_pieces_keep_every_byte(tmp_path: Path, start: int) -> None:
    rng = random.Random(start)
    existing = rng.randbytes(start)
    path = tmp_path / "spool.part"
    path.write_bytes(existing)
    buffers = [direct_io.take_buffer() for _ in range(2)]
    expected = bytearray(existing)
    fd = os.open(path, os.O_RDWR)
    try:
        appender = AlignedAppender(path, fd, start)
        for length, pooled in [(STAGING, True), (BLOCK * 3 + 5, True), (7, False), (STAGING, True),
                               (BLOCK, True), (STAGING - 1, True)]:
            data = rng.randbytes(length)
            expected += data
            if pooled:
                buffer = buffers[len(expected) % 2]
                buffer[:length] = data
                with memoryview(buffer) as view, view[:length] as piece:
                    appender.write(piece, aligned_memory=True)
            else:
                appender.write(data)
        appender.close()
    finally:
        os.close(fd)
        for buffer in buffers:
            direct_io.give_back(buffer)
    assert path.read_bytes() == bytes(expected)


def test_an_aligned_pooled_buffer_goes_to_the_disk_without_staging(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDWR)
    buffer = direct_io.take_buffer()
    try:
        appender = AlignedAppender(path, fd, 0)
        if appender.direct is None:
            pytest.skip("this file system refuses O_DIRECT")
        buffer[:] = os.urandom(STAGING)
        appender.write(memoryview(buffer), aligned_memory=True)
        assert path.stat().st_size == STAGING  # written already, nothing held back for close
        appender.discard()
    finally:
        os.close(fd)
        direct_io.give_back(buffer)
    assert path.read_bytes() == bytes(buffer)


def test_a_checkpoint_puts_the_staged_tail_in_the_file_and_appending_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "spool.part"
    path.write_bytes(b"")
    first, second = os.urandom(BLOCK * 2 + 100), os.urandom(STAGING + 3)
    fd = os.open(path, os.O_RDWR)
    try:
        appender = AlignedAppender(path, fd, 0)
        appender.write(first)
        appender.checkpoint()
        assert path.read_bytes() == first, "the partial block is in the file, not only staged"
        appender.write(second)
        appender.close()
    finally:
        os.close(fd)
    assert path.read_bytes() == first + second

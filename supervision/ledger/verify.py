"""Checking the whole stored ledger: every entry, the tree and every signed head.

Editing, deleting or reordering a stored entry is caught and its index named:
- a deleted entry leaves a gap in the sequence (or a counter larger than the rows);
- an edited entry no longer hashes to its stored leaf hash, or, if that was rewritten too,
  the tree no longer matches the stored nodes and the signed heads;
- a moved entry carries a sequence number (inside its hashed bytes) that is not its place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from supervision.ledger import merkle
from supervision.ledger.heads import head_signature_valid
from supervision.ledger.models import LedgerEntry, LedgerNode, LedgerTreeHead
from supervision.ledger.tree import ledger_size

VERIFY_BATCH = 16_384
SEQ_MARKER = b',"seq":'

entries_table = LedgerEntry.__table__
nodes_table = LedgerNode.__table__


@dataclass
class VerifyReport:
    ok: bool
    size: int
    heads_checked: int = 0
    first_bad_index: int | None = None
    reason: str | None = None
    bytes_hashed: int = 0

    def fail(self, index: int | None, reason: str) -> VerifyReport:
        self.ok = False
        self.first_bad_index = index
        self.reason = reason
        return self


class _RootFolder:
    """The right edge of the tree being rebuilt: TreeBuilder without the bookkeeping that a
    check which only needs roots would throw away (verify hashes every entry, so this loop
    is where its time goes)."""

    __slots__ = ("peaks", "size")

    def __init__(self) -> None:
        self.peaks: list[bytes] = []
        self.size = 0

    def append(self, digest: bytes) -> None:
        index, peaks = self.size, self.peaks
        while index & 1:
            digest = sha256(b"\x01" + peaks.pop() + digest).digest()
            index >>= 1
        peaks.append(digest)
        self.size += 1

    def root(self) -> bytes:
        current = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            current = sha256(b"\x01" + peak + current).digest()
        return current


def as_bytes(value: object) -> bytes:
    """Stored bytes as bytes, whatever a hand edit turned them into (SQLite will happily
    store text in a blob column); the hash comparison then names the entry."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)  # type: ignore[call-overload]


def embedded_seq(leaf: bytes) -> int | None:
    """The top-level ``seq`` of a canonical entry, without parsing the JSON.

    Keys are sorted, so top-level ``seq`` follows ``payload`` and only strings and null
    follow it; inside a JSON string every quote is escaped, so the last ``,"seq":`` in the
    bytes is the top-level one.
    """
    at = leaf.rfind(SEQ_MARKER)
    if at < 0:
        return None
    start = at + len(SEQ_MARKER)
    end = leaf.find(b",", start)
    digits = leaf[start:end]
    return int(digits) if digits.isdigit() else None


async def verify_ledger(session: AsyncSession) -> VerifyReport:
    size = await ledger_size(session)
    heads = list(await session.scalars(sa.select(LedgerTreeHead).order_by(LedgerTreeHead.tree_size)))
    report = VerifyReport(ok=True, size=size)
    for head in heads:
        if not head_signature_valid(head):
            return report.fail(None, f"the signature of the head of size {head.tree_size} does not verify")
        if head.tree_size > size:
            return report.fail(size, f"a signed head covers {head.tree_size} entries but only {size} are counted")
    roots = await _walk_entries(session, size, {head.tree_size for head in heads}, report)
    if not report.ok:
        return report
    for head in heads:
        if roots[head.tree_size] != head.root_hash:
            index = await _locate_tree_mismatch(session, head.tree_size)
            where = f"first differing entry {index}" if index is not None else "entries differ"
            return report.fail(index, f"the root at size {head.tree_size} differs from the signed head ({where})")
        report.heads_checked += 1
    return report


async def _walk_entries(
    session: AsyncSession, size: int, sizes_wanted: set[int], report: VerifyReport
) -> dict[int, bytes]:
    """Hash every entry in order, checking its place; return the roots at the wanted sizes."""
    builder = _RootFolder()
    roots = {0: merkle.EMPTY_ROOT} if 0 in sizes_wanted else {}
    while builder.size < size:
        batch = await _entry_batch(session, builder.size, VERIFY_BATCH)
        if not batch:
            report.fail(builder.size, f"entry {builder.size} is missing (the counter says {size})")
            return roots
        for seq, leaf, stored_hash in batch:
            expected = builder.size
            if seq != expected:
                report.fail(expected, f"entry {expected} is missing")
                return roots
            if type(leaf) is not bytes:
                leaf = as_bytes(leaf)
            digest = sha256(b"\x00" + leaf).digest()
            report.bytes_hashed += len(leaf)
            if digest != stored_hash and digest != as_bytes(stored_hash):
                report.fail(seq, f"entry {seq} does not hash to its stored leaf hash (its bytes were changed)")
                return roots
            if embedded_seq(leaf) != seq:
                report.fail(seq, f"entry {seq} holds the bytes of entry {embedded_seq(leaf)} (entries were moved)")
                return roots
            builder.append(digest)
            if builder.size in sizes_wanted:
                roots[builder.size] = builder.root()
    extra = await session.scalar(sa.select(sa.func.count()).select_from(entries_table).where(entries_table.c.seq >= size))
    if extra:
        report.fail(size, f"{extra} entries lie beyond the counted size {size}")
    return roots


async def _entry_batch(session: AsyncSession, start: int, limit: int) -> list[Any]:
    """``(seq, leaf, leaf_hash)`` rows from ``start`` on, in order.

    On PostgreSQL the rows come straight from asyncpg: building SQLAlchemy rows for every
    entry would cost verify as much as the hashing it exists for.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        return list(await raw.driver_connection.fetch(  # type: ignore[union-attr]
            "SELECT seq, leaf, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2", start, limit))
    rows = await session.execute(
        sa.select(entries_table.c.seq, entries_table.c.leaf, entries_table.c.leaf_hash)
        .where(entries_table.c.seq >= start).order_by(entries_table.c.seq).limit(limit)
    )
    return list(rows.all())


async def _locate_tree_mismatch(session: AsyncSession, size: int) -> int | None:
    """First leaf under the lowest stored node that the entries no longer reproduce."""
    builder = merkle.TreeBuilder()
    start = 0
    while start < size:
        end = min(start + VERIFY_BATCH, size)
        rows = await session.execute(
            sa.select(entries_table.c.leaf).where(entries_table.c.seq >= start, entries_table.c.seq < end)
            .order_by(entries_table.c.seq)
        )
        completed = builder.extend(hashlib.sha256(b"\x00" + as_bytes(leaf)).digest() for (leaf,) in rows)
        stored = await _stored_nodes(session, [(node.level, node.index) for node in completed])
        for node in completed:
            if (node.level, node.index) in stored and stored[(node.level, node.index)] != node.hash:
                return node.index << node.level
        start = end
    return None


async def _stored_nodes(session: AsyncSession, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    for offset in range(0, len(keys), 1000):
        chunk = keys[offset : offset + 1000]
        key = sa.tuple_(nodes_table.c.level, nodes_table.c.idx)
        rows = await session.execute(
            sa.select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash).where(key.in_(chunk))
        )
        found.update({(level, index): as_bytes(value) for level, index, value in rows})
    return found

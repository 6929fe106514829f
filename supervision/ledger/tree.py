"""The ledger's Merkle tree in the database: building nodes, roots and proofs.

Appends only store each entry's leaf hash, so they cost little more than a plain insert.
Interior nodes (complete aligned subtrees) are folded in afterwards by :func:`build_tree`,
whenever a head is signed or a proof asked for; a proof then reads O(log n) stored nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from supervision.ledger import merkle
from supervision.ledger.models import (
    LedgerCounter,
    LedgerEntry,
    LedgerNode,
    LedgerTreeState,
)

BUILD_BATCH = 20_000

entries_table = LedgerEntry.__table__
nodes_table = LedgerNode.__table__
state_table = LedgerTreeState.__table__
counter_table = LedgerCounter.__table__


async def ledger_size(session: AsyncSession) -> int:
    """Entries committed (and, inside a transaction, its own appends)."""
    size = await session.scalar(sa.select(counter_table.c.size).where(counter_table.c.id == 1))
    if size is None:
        raise RuntimeError("the ledger counter row is missing: run `bidhall db upgrade`")
    return int(size)


async def ledger_sizes(session: AsyncSession) -> tuple[int, int]:
    """(entries, entries folded into stored nodes), in one round trip."""
    row = (await session.execute(
        sa.select(counter_table.c.size, state_table.c.built_size)
        .select_from(counter_table.join(state_table, sa.true()))  # two single-row tables
        .where(counter_table.c.id == 1, state_table.c.id == 1)
    )).one_or_none()
    if row is None:
        raise RuntimeError("the ledger counter rows are missing: run `bidhall db upgrade`")
    return int(row[0]), int(row[1])


# One statement with fixed text for any set of nodes: the SQL does not change with the
# number of nodes, so PostgreSQL prepares it once per connection.
_POSTGRES_NODES = sa.text(
    "SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM ledger_entries WHERE seq = ANY(:leaves) "
    "UNION ALL "
    "SELECT n.level, n.idx, n.hash FROM ledger_nodes AS n "
    "JOIN unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS k(level, idx) "
    "ON n.level = k.level AND n.idx = k.idx"
).bindparams(
    sa.bindparam("leaves", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("levels", type_=ARRAY(sa.SmallInteger)),
    sa.bindparam("idxs", type_=ARRAY(sa.BigInteger)),
)


async def fetch_nodes(session: AsyncSession, refs: Sequence[merkle.NodeRef]) -> dict[tuple[int, int], bytes]:
    """Leaf hashes (level 0) and stored interior nodes: one query on PostgreSQL, two elsewhere."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        interior = [ref for ref in refs if ref.level > 0]
        rows = await session.execute(_POSTGRES_NODES, {
            "leaves": [ref.index for ref in refs if ref.level == 0],
            "levels": [ref.level for ref in interior],
            "idxs": [ref.index for ref in interior],
        })
        return {(level, index): bytes(value) for level, index, value in rows}
    found: dict[tuple[int, int], bytes] = {}
    leaves = [ref.index for ref in refs if ref.level == 0]
    interior = [(ref.level, ref.index) for ref in refs if ref.level > 0]
    if leaves:
        rows = await session.execute(
            sa.select(entries_table.c.seq, entries_table.c.leaf_hash).where(entries_table.c.seq.in_(leaves))
        )
        found.update({(0, seq): bytes(value) for seq, value in rows})
    if interior:
        key = sa.tuple_(nodes_table.c.level, nodes_table.c.idx)
        rows = await session.execute(
            sa.select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash).where(key.in_(interior))
        )
        found.update({(level, index): bytes(value) for level, index, value in rows})
    return found


async def build_tree(session: AsyncSession, up_to: int | None = None) -> int:
    """Store every interior node completed by the first ``up_to`` entries (default: all).

    The tree-state row is locked first, so concurrent builders take turns and each node is
    written once. Returns the built size.
    """
    built = await session.scalar(
        sa.update(state_table)
        .where(state_table.c.id == 1)
        .values(built_size=state_table.c.built_size)
        .returning(state_table.c.built_size)
    )
    if built is None:
        raise RuntimeError("the ledger tree-state row is missing: run `bidhall db upgrade`")
    target = await ledger_size(session) if up_to is None else up_to
    if target <= built:
        return int(built)
    builder = await _resume_builder(session, int(built))
    while builder.size < target:
        batch_end = min(builder.size + BUILD_BATCH, target)
        hashes = await _leaf_hashes(session, builder.size, batch_end)
        completed = builder.extend(hashes)
        if completed:
            await session.execute(
                sa.insert(nodes_table),
                [{"level": n.level, "idx": n.index, "hash": n.hash} for n in completed],
            )
    await session.execute(sa.update(state_table).where(state_table.c.id == 1).values(built_size=target))
    return target


async def _resume_builder(session: AsyncSession, built: int) -> merkle.TreeBuilder:
    refs = merkle.peak_refs(built)
    nodes = await fetch_nodes(session, refs)
    return merkle.TreeBuilder.resume(built, [nodes[(ref.level, ref.index)] for ref in refs])


async def _leaf_hashes(session: AsyncSession, start: int, end: int) -> list[bytes]:
    rows = await session.execute(
        sa.select(entries_table.c.seq, entries_table.c.leaf_hash)
        .where(entries_table.c.seq >= start, entries_table.c.seq < end)
        .order_by(entries_table.c.seq)
    )
    hashes: list[bytes] = []
    for expected, (seq, value) in enumerate(rows, start=start):
        if seq != expected:
            raise LedgerCorrupt(expected, f"entry {expected} is missing")
        hashes.append(bytes(value))
    if len(hashes) != end - start:
        raise LedgerCorrupt(start + len(hashes), f"entry {start + len(hashes)} is missing")
    return hashes


class LedgerCorrupt(Exception):
    """The stored ledger does not hold together at ``index``."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


async def _ensure_built(session: AsyncSession, size: int, built: int | None = None) -> None:
    if built is None:
        built = await session.scalar(sa.select(state_table.c.built_size).where(state_table.c.id == 1))
    if built is None or built < size:
        await build_tree(session, size)


async def inclusion_proof_with_root(
    session: AsyncSession, index: int, size: int, built: int | None = None
) -> tuple[bytes, list[bytes], bytes]:
    """(leaf hash, audit path, root) from one fetch of every node they need."""
    await _ensure_built(session, size, built)
    path_plan, root_plan = merkle.plan_inclusion(index, size), merkle.plan_root(size)
    leaf_ref = merkle.NodeRef(0, index)
    nodes = await fetch_nodes(session, list(dict.fromkeys([leaf_ref, *path_plan.refs, *root_plan.refs])))
    return nodes[(0, index)], path_plan.assemble(nodes), root_plan.assemble(nodes)[0]


async def tree_root(session: AsyncSession, size: int) -> bytes:
    await _ensure_built(session, size)
    plan = merkle.plan_root(size)
    hashes = plan.assemble(await fetch_nodes(session, plan.refs))
    return hashes[0] if hashes else merkle.EMPTY_ROOT


async def inclusion_proof(session: AsyncSession, index: int, size: int) -> list[bytes]:
    await _ensure_built(session, size)
    plan = merkle.plan_inclusion(index, size)
    return plan.assemble(await fetch_nodes(session, plan.refs))


async def consistency_proof(session: AsyncSession, first: int, second: int) -> list[bytes]:
    await _ensure_built(session, second)
    plan = merkle.plan_consistency(first, second)
    return plan.assemble(await fetch_nodes(session, plan.refs))

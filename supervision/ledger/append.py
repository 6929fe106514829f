"""Appending to the ledger, inside the caller's transaction.

Every append announces its stream to live followers (``supervision.live``): they are woken
once the transaction commits, and on PostgreSQL other processes learn of it by a NOTIFY
sent once per stream and transaction, carried by the counter's ``UPDATE`` the append runs
anyway (no extra round trip).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.clock import rfc3339, utcnow
from supervision import live
from supervision.ledger.canonical import canonical_bytes, to_json_value
from supervision.ledger.models import LedgerCounter, LedgerEntry

LEAF_PREFIX = b"\x00"


@dataclass(frozen=True)
class AppendedEntry:
    seq: int
    stream: str
    type: str
    leaf: bytes
    leaf_hash: bytes


def build_entry(
    seq: int, stream: str, event_type: str, actor: Actor | None, payload: dict[str, Any], when: str
) -> dict[str, Any]:
    """The JSON object an entry is: everything a reader of the trace needs, nothing else."""
    return {
        "seq": seq,
        "stream": stream,
        "type": event_type,
        "time": when,
        "actor": actor.trace() if actor else None,
        "source": actor.source_address if actor else None,
        "payload": to_json_value(payload),
    }


async def reserve_sequence(session: AsyncSession, *, also: sa.ColumnElement[Any] | None = None) -> int:
    """Take the next sequence number, holding the counter's row lock until commit.

    Concurrent appenders queue here, so numbers follow commit order without gaps; a
    rolled-back transaction gives its number back. ``also`` is an expression evaluated in
    the same statement (the NOTIFY of a new stream).
    """
    counter = LedgerCounter.__table__
    returning = [counter.c.size] if also is None else [counter.c.size, also]
    result = await session.execute(
        sa.update(counter).where(counter.c.id == 1).values(size=counter.c.size + 1).returning(*returning)
    )
    size = result.scalar()
    if size is None:
        raise RuntimeError("the ledger counter row is missing: run `bidhall db upgrade`")
    return int(size) - 1


async def append(
    session: AsyncSession,
    *,
    stream: str,
    event_type: str,
    actor: Actor | None,
    payload: dict[str, Any],
) -> AppendedEntry:
    """Record ``event_type`` on ``stream`` in the session's transaction; its live
    followers are woken once the transaction commits."""
    if not stream or ":" not in stream:
        raise ValueError(f"stream {stream!r} must look like 'kind:id'")
    first_of_stream = live.claim(session, stream)  # woken after commit either way
    seq = await reserve_sequence(session, also=live.notify_clause(session, stream) if first_of_stream else None)
    live.bind_claims(session)
    now = utcnow()
    entry = build_entry(seq, stream, event_type, actor, payload, rfc3339(now))
    leaf = canonical_bytes(entry)
    leaf_hash = hashlib.sha256(LEAF_PREFIX + leaf).digest()
    await session.execute(
        sa.insert(LedgerEntry.__table__).values(
            seq=seq, stream=stream, type=event_type, recorded_at=now, leaf=leaf, leaf_hash=leaf_hash
        )
    )
    return AppendedEntry(seq=seq, stream=stream, type=event_type, leaf=leaf, leaf_hash=leaf_hash)

"""Replay: fold a stream's ledger entries through the reducers its domain registered.

Supervision knows no domain. Each domain registers, at start-up, one :class:`StreamKind`
per stream prefix (``user`` for ``user:7``): how to start, how to apply an entry, and how
to read the same state from the tables, so ``--check`` can compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import rfc3339
from core.errors import InvalidInput, NotFound
from supervision.ledger.models import LedgerEntry

State = dict[str, Any]
Entry = dict[str, Any]
Reducer = Callable[[State | None, Entry], State | None]
CurrentStateLoader = Callable[[AsyncSession, str], Awaitable[State | None]]
StreamLister = Callable[[AsyncSession], Awaitable[list[str]]]


@dataclass(frozen=True)
class StreamKind:
    """How one domain's streams are replayed and checked.

    ``apply(state, entry)`` returns the new state (``None`` before the stream's first
    entry); ``load_current(session, stream)`` reads the state the tables hold now, in the
    same shape; ``list_streams`` names every stream of this kind that the tables imply.
    """

    prefix: str
    apply: Reducer
    load_current: CurrentStateLoader
    list_streams: StreamLister


@dataclass
class StreamRegistry:
    kinds: dict[str, StreamKind] = field(default_factory=dict)

    def register(self, kind: StreamKind) -> None:
        if kind.prefix in self.kinds:
            raise RuntimeError(f"stream kind {kind.prefix!r} registered twice")
        self.kinds[kind.prefix] = kind

    def kind_of(self, stream: str) -> StreamKind:
        prefix, _, ident = stream.partition(":")
        if not ident:
            raise InvalidInput(f"stream {stream!r} must look like 'kind:id', e.g. 'user:7'")
        try:
            return self.kinds[prefix]
        except KeyError:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise NotFound(f"no domain registered streams of kind {prefix!r} (known: {known})") from None


async def stream_entries(
    session: AsyncSession, stream: str, *, until_seq: int | None = None, until_time: datetime | None = None
) -> list[Entry]:
    table = LedgerEntry.__table__
    query = sa.select(table.c.leaf).where(table.c.stream == stream).order_by(table.c.seq)
    if until_seq is not None:
        query = query.where(table.c.seq <= until_seq)
    rows = (await session.execute(query)).scalars().all()
    entries = [json.loads(leaf) for leaf in rows]
    if until_time is not None:
        # Compare on the recorded text, which is what the entry's hash covers.
        limit = rfc3339(until_time)
        entries = [entry for entry in entries if _time_key(entry["time"]) <= _time_key(limit)]
    return entries


def _time_key(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def replay(
    session: AsyncSession,
    registry: StreamRegistry,
    stream: str,
    *,
    until_seq: int | None = None,
    until_time: datetime | None = None,
) -> State | None:
    """The state of ``stream`` after its entries up to a sequence number or moment."""
    kind = registry.kind_of(stream)
    state: State | None = None
    for entry in await stream_entries(session, stream, until_seq=until_seq, until_time=until_time):
        state = kind.apply(state, entry)
    return state


@dataclass(frozen=True)
class ReplayCheck:
    stream: str
    matches: bool
    replayed: State | None
    stored: State | None


async def check_stream(session: AsyncSession, registry: StreamRegistry, stream: str) -> ReplayCheck:
    kind = registry.kind_of(stream)
    replayed = await replay(session, registry, stream)
    stored = await kind.load_current(session, stream)
    return ReplayCheck(stream=stream, matches=replayed == stored, replayed=replayed, stored=stored)


async def check_all(session: AsyncSession, registry: StreamRegistry) -> list[ReplayCheck]:
    """Replay every stream the ledger or the tables know of; the whole-log check."""
    table = LedgerEntry.__table__
    streams = set((await session.execute(sa.select(table.c.stream).distinct())).scalars())
    for kind in registry.kinds.values():
        streams.update(await kind.list_streams(session))
    registered = [s for s in streams if s.partition(":")[0] in registry.kinds]
    return [await check_stream(session, registry, stream) for stream in sorted(registered)]

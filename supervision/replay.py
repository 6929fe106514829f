"""Replay: fold a stream's ledger entries through the reducers its domain registered.

Supervision knows no domain. Each domain registers, at start-up, one :class:`StreamKind`
per stream prefix (``user`` for ``user:7``): how to start, how to apply an entry, and how
to read the same state from the tables, so ``--check`` can compare the two.

Besides the state at a moment, a stream can be read as a timeline: each entry with the
change it made to the replayed state (``state_changes``, JSON-Patch-like operations), so a
reader sees what happened step by step without diffing whole states by hand. Who may
replay what, and the records such reads leave, is ``supervision.replay_access``.
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


# --- a stream's extent and its step-by-step changes ---------------------------------------


@dataclass(frozen=True)
class StreamExtent:
    """Where a stream lies in the ledger: what a moment or sequence number is checked against."""

    first_seq: int
    last_seq: int
    entries: int
    began_at: datetime


async def stream_extent(session: AsyncSession, stream: str) -> StreamExtent | None:
    """The first and last sequence numbers of ``stream`` and when it began (None: no entries)."""
    table = LedgerEntry.__table__
    row = (await session.execute(
        sa.select(sa.func.min(table.c.seq), sa.func.max(table.c.seq), sa.func.count()).where(table.c.stream == stream)
    )).one()
    if row[0] is None:
        return None
    first_leaf = await session.scalar(sa.select(table.c.leaf).where(table.c.seq == row[0]))
    began = _time_key(json.loads(first_leaf)["time"])
    return StreamExtent(first_seq=int(row[0]), last_seq=int(row[1]), entries=int(row[2]), began_at=began)


def state_changes(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """What changed from ``before`` to ``after``, as JSON-Patch-like operations.

    Objects are compared key by key (paths are JSON pointers); anything else (lists,
    numbers, text) is one value, replaced whole: a timeline stays short and readable.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}/{_escape(str(key))}"
            if key not in before:
                changes.append({"op": "add", "path": child, "value": after[key]})
            elif key not in after:
                changes.append({"op": "remove", "path": child, "old": before[key]})
            else:
                changes.extend(state_changes(before[key], after[key], child))
        return changes
    if before is None:
        return [{"op": "add", "path": path or "/", "value": after}]
    if after is None:
        return [{"op": "remove", "path": path or "/", "old": before}]
    return [{"op": "replace", "path": path or "/", "old": before, "value": after}]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class TimelinePage:
    steps: list[dict[str, Any]]
    next_after: int | None


async def timeline(
    session: AsyncSession, registry: StreamRegistry, stream: str, *, after: int = -1, limit: int = 100
) -> TimelinePage:
    """Every entry of ``stream`` after sequence number ``after`` (at most ``limit``): its
    number, time, type, actor and the change it made to the replayed state.

    The state before a page is rebuilt by folding the entries before it, so any page can be
    read on its own; ``next_after`` is the cursor of the following page (None: the last).
    """
    kind = registry.kind_of(stream)
    entries = await stream_entries(session, stream)
    state: State | None = None
    steps: list[dict[str, Any]] = []
    for entry in entries:
        before = state
        state = kind.apply(state, entry)
        if entry["seq"] <= after:
            continue
        if len(steps) == limit:
            return TimelinePage(steps=steps, next_after=steps[-1]["seq"])
        steps.append(_step(entry, before, state))
    return TimelinePage(steps=steps, next_after=None)


def _step(entry: Entry, before: State | None, after: State | None) -> dict[str, Any]:
    return {"seq": entry["seq"], "time": entry["time"], "type": entry["type"], "actor": entry["actor"],
            "changes": state_changes(before, after)}

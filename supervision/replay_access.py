"""Replay for oversight: who may rebuild a stream, and the records such reads leave.

Regulators, auditors and administrators may ask for the state of any stream at a moment
or a sequence number, and for its step-by-step timeline. Auditors and administrators see
everything; a regulator only the streams inside its jurisdiction and industries
(``supervision.scopes``). A regulator asking outside them is refused, and the attempt is
recorded on its own ``oversight:<user_id>`` stream: the use case appends the record and
returns a :class:`Refusal` instead of raising, so the boundary commits the record first and
then answers 403 (raising would roll the record back with everything else).

Some streams are *sealed* while they run: a draw's called experts until it is revealed, an
evaluation session until it is finished. Each domain says which of its streams are sealed
(``register_sealed(kind, predicate)``); every read of a sealed stream by a regulator is
itself recorded on ``oversight:<user_id>``, in the same transaction as the read.
Oversight records live on their own stream rather than on the stream read, so a read
never changes what it reads.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from core.errors import FieldError, InvalidInput, NotFound
from core.usecases import use_case
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.ledger.tree import ledger_size
from supervision.replay import (
    State,
    StreamExtent,
    StreamKind,
    StreamRegistry,
    TimelinePage,
    stream_entries,
    stream_extent,
    timeline,
)
from supervision.scopes import (
    Refusal,
    covers,
    oversight_stream,
    record_oversight_refusal,
    scope_of,
)

OVERSIGHT = frozenset({Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
REPLAY_REFUSED = "supervision.replay_refused"
SEALED_STREAM_READ = "supervision.sealed_stream_read"
MAX_PAGE = 500
# ``kind:id``: a lower-case kind and an id of letters, digits and ``_.-`` (fits the column).
STREAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}:[A-Za-z0-9_.\-]{1,150}")

SealedPredicate = Callable[[AsyncSession, str], Awaitable[bool]]
_SEALED: dict[str, SealedPredicate] = {}


def register_sealed(kind: str, predicate: SealedPredicate) -> None:
    """Declare when the streams ``<kind>:<id>`` are sealed (idempotent per kind)."""
    _SEALED[kind] = predicate


async def is_sealed(session: AsyncSession, stream: str) -> bool:
    predicate = _SEALED.get(stream.partition(":")[0])
    return predicate is not None and await predicate(session, stream)


def check_stream_name(stream: str) -> None:
    if not STREAM_NAME.fullmatch(stream):
        raise InvalidInput(f"stream {stream[:200]!r} is not a stream name: it must look like 'kind:id', "
                           "e.g. 'project:12' or 'draw:3'", [FieldError("stream", "malformed stream name")])


@dataclass(frozen=True)
class StateView:
    stream: str
    at: datetime | None
    seq: int
    state: State | None
    sealed: bool
    began_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "at": rfc3339(self.at) if self.at else None, "seq": self.seq,
                "sealed": self.sealed, "began_at": rfc3339(self.began_at), "state": self.state}


@dataclass(frozen=True)
class TimelineView:
    stream: str
    sealed: bool
    page: TimelinePage

    def to_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "sealed": self.sealed, "steps": self.page.steps,
                "next_after": self.page.next_after}


@use_case("supervision.replay_state", OVERSIGHT)
async def state_at(session: AsyncSession, actor: Actor, registry: StreamRegistry, stream: str, *,
                   at: datetime | None = None, seq: int | None = None) -> StateView | Refusal:
    """The state of ``stream`` as it was at ``at`` or after entry ``seq`` (default: now)."""
    if at is not None and seq is not None:
        raise InvalidInput("ask for a moment (at) or a sequence number (seq), not both",
                           [FieldError("?seq", "given together with ?at")])
    admitted = await _admit(session, actor, registry, stream, asked={"at": at and rfc3339(at), "seq": seq})
    if isinstance(admitted, Refusal):
        return admitted
    extent, sealed = admitted
    if at is not None:
        _check_moment(stream, extent, at)
    if seq is not None:
        await _check_seq(session, stream, extent, seq, name="seq")
    apply, state = registry.kind_of(stream).apply, None
    entries = await stream_entries(session, stream, until_seq=seq, until_time=at)
    for entry in entries:
        state = apply(state, entry)
    await record_sealed_read(session, actor, stream, sealed, "state", {"at": at and rfc3339(at), "seq": seq})
    return StateView(stream=stream, at=at, seq=entries[-1]["seq"], state=state, sealed=sealed,
                     began_at=extent.began_at)


@use_case("supervision.replay_timeline", OVERSIGHT)
async def timeline_page(session: AsyncSession, actor: Actor, registry: StreamRegistry, stream: str, *,
                        after: int = -1, limit: int = 100) -> TimelineView | Refusal:
    """The steps of ``stream`` after entry ``after``: seq, time, type, actor, what changed."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}", [FieldError("?limit", f"got {limit}")])
    admitted = await _admit(session, actor, registry, stream, asked={"after": after, "limit": limit})
    if isinstance(admitted, Refusal):
        return admitted
    extent, sealed = admitted
    if after >= 0:
        await _check_seq(session, stream, extent, after, name="after", allow_before=True)
    page = await timeline(session, registry, stream, after=after, limit=limit)
    await record_sealed_read(session, actor, stream, sealed, "timeline", {"after": after, "limit": limit})
    return TimelineView(stream=stream, sealed=sealed, page=page)


async def _admit(session: AsyncSession, actor: Actor, registry: StreamRegistry, stream: str, *,
                 asked: dict[str, Any]) -> tuple[StreamExtent, bool] | Refusal:
    """Name, kind, jurisdiction (a refusal recorded), then existence: in that order, so a
    regulator learns nothing of a stream outside its jurisdiction, not even that it exists."""
    check_stream_name(stream)
    registry.kind_of(stream)
    refusal = await refuse_outside_jurisdiction(session, actor, stream, asked)
    if refusal is not None:
        return refusal
    extent = await stream_extent(session, stream)
    if extent is None:
        raise NotFound(f"stream {stream} has no entries in the ledger")
    return extent, await is_sealed(session, stream)


async def refuse_outside_jurisdiction(session: AsyncSession, actor: Actor, stream: str,
                                      asked: dict[str, Any]) -> Refusal | None:
    """None if ``actor`` oversees ``stream``; otherwise the attempt is appended to the
    actor's oversight stream and a :class:`Refusal` returned (the caller commits, then refuses)."""
    if covers(actor, await scope_of(session, stream)):
        return None
    await record_oversight_refusal(session, actor, REPLAY_REFUSED,
                                   {"stream": stream, "asked": asked, "reason": "outside jurisdiction"})
    return Refusal(f"stream {stream} lies outside your jurisdiction ({actor.jurisdiction or 'none'}) and "
                   f"industries ({', '.join(sorted(actor.industries)) or 'none'}); the attempt is recorded")


def _check_moment(stream: str, extent: StreamExtent, at: datetime) -> None:
    if at < extent.began_at:
        raise InvalidInput(f"{rfc3339(at)} is before stream {stream} began, at {rfc3339(extent.began_at)}",
                           [FieldError("?at", f"earliest moment is {rfc3339(extent.began_at)}")])
    now = utcnow()
    if at > now:
        raise InvalidInput(f"{rfc3339(at)} is in the future; it is now {rfc3339(now)}",
                           [FieldError("?at", "in the future")])


async def _check_seq(session: AsyncSession, stream: str, extent: StreamExtent, seq: int, *, name: str,
                     allow_before: bool = False) -> None:
    head = await ledger_size(session) - 1
    if seq < 0 or seq > head:
        raise InvalidInput(f"sequence number {seq} is past the head of the ledger, entry {head}",
                           [FieldError(f"?{name}", f"must be from 0 to {head}")])
    if seq < extent.first_seq and not allow_before:
        raise InvalidInput(f"sequence number {seq} is before stream {stream} began, at entry {extent.first_seq} "
                           f"({rfc3339(extent.began_at)})", [FieldError(f"?{name}", f"earliest is {extent.first_seq}")])


async def record_sealed_read(session: AsyncSession, actor: Actor, stream: str, sealed: bool, what: str,
                             asked: dict[str, Any]) -> None:
    """Record a regulator's read of a sealed stream on its oversight stream (others: nothing)."""
    if sealed and Role.REGULATOR in actor.roles:
        await append(session, stream=oversight_stream(actor.user_id), event_type=SEALED_STREAM_READ, actor=actor,
                     payload={"stream": stream, "read": what, "asked": asked})


# --- the oversight streams themselves -------------------------------------------------------


def apply_oversight(state: State | None, entry: dict[str, Any]) -> State | None:
    """``oversight:<user_id>``: how often the user was refused (by any domain: every refusal's
    event type ends in ``_refused``) and which sealed streams it read."""
    state = state or {"user_id": int(entry["stream"].partition(":")[2]), "refused": 0, "sealed_reads": 0,
                      "streams_read": []}
    payload = entry["payload"]
    if entry["type"].endswith("_refused"):  # replay, feed, warnings, complaints, cases: every refusal
        return {**state, "refused": state["refused"] + 1}
    if entry["type"] == SEALED_STREAM_READ:
        streams = sorted(set(state["streams_read"]) | {payload["stream"]})
        return {**state, "sealed_reads": state["sealed_reads"] + 1, "streams_read": streams}
    return state


async def load_oversight(session: AsyncSession, stream: str) -> State | None:
    """These records exist only in the ledger: the stored state is the ledger's own."""
    state: State | None = None
    for entry in await stream_entries(session, stream):
        state = apply_oversight(state, entry)
    return state


async def list_oversight_streams(session: AsyncSession) -> list[str]:
    query = sa.select(LedgerEntry.stream).where(LedgerEntry.stream.like("oversight:%")).distinct()
    return list((await session.scalars(query)).all())


def register(registry: StreamRegistry) -> None:
    """Register the stream kind ``oversight:<user_id>`` (reads and refused attempts)."""
    registry.register(StreamKind("oversight", apply_oversight, load_oversight, list_oversight_streams))

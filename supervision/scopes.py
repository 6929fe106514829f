"""Which region and segment a stream belongs to, and whether a regulator covers it.

Regulators work per jurisdiction (a region code: a province "350000" covers its cities
"3501xx" and counties, a city "350100" its counties) and per industry (the segments they
regulate). Auditors and administrators cover everything. Supervision knows no domain, so
each domain registers how to find the scope of its streams (``register_scope("project",
resolver)``); a stream whose kind has no resolver has no scope and only unrestricted
oversight (auditors, administrators) sees it.

The regulators' live feed (``web.routes_monitor``) narrows the whole ledger with a
:class:`FeedFilter`; :func:`open_feed` checks it against the regulator's jurisdiction and
records an attempt outside it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.database import Database
from core.errors import FieldError, InvalidInput, PermissionDenied
from core.usecases import use_case
from supervision.ledger.append import append


@dataclass(frozen=True)
class Scope:
    region_code: str | None
    segment: str | None
    project_id: int | None = None


Resolver = Callable[[AsyncSession, str], Awaitable[Scope | None]]
_RESOLVERS: dict[str, Resolver] = {}
UNRESTRICTED = frozenset({Role.AUDITOR, Role.ADMIN})


def register_scope(kind: str, resolver: Resolver) -> None:
    """How to find the scope of the streams ``<kind>:<id>`` (idempotent per kind)."""
    _RESOLVERS[kind] = resolver


async def scope_of(session: AsyncSession, stream: str) -> Scope | None:
    kind, _, _ = stream.partition(":")
    resolver = _RESOLVERS.get(kind)
    return None if resolver is None else await resolver(session, stream)


def region_covers(jurisdiction: str | None, region_code: str | None) -> bool:
    """A province code (``xx0000``) covers its first two digits, a city (``xxxx00``) its
    first four, any other code only itself."""
    if not jurisdiction or not region_code:
        return False
    if jurisdiction.endswith("0000"):
        return region_code[:2] == jurisdiction[:2]
    if jurisdiction.endswith("00"):
        return region_code[:4] == jurisdiction[:4]
    return region_code == jurisdiction


def covers(actor: Actor, scope: Scope | None) -> bool:
    """Whether ``actor`` oversees what lies in ``scope``."""
    if actor.has_any(UNRESTRICTED):
        return True
    if not actor.has_any({Role.REGULATOR}) or scope is None:
        return False
    in_region = region_covers(actor.jurisdiction, scope.region_code)
    in_industry = scope.segment is None or scope.segment in actor.industries
    return in_region and in_industry


def region_prefix(jurisdiction: str) -> str:
    """The prefix of the region codes ``jurisdiction`` covers (for queries: ``LIKE prefix%``),
    the same rule as :func:`region_covers`."""
    if jurisdiction.endswith("0000"):
        return jurisdiction[:2]
    if jurisdiction.endswith("00"):
        return jurisdiction[:4]
    return jurisdiction


class ScopeCache:
    """The scopes of the streams one follower (one connection) meets, resolved once each.

    A stream never changes project, so a scope found stays right for the connection's
    life; a stream with no scope yet (a draw before its session) is asked again next time;
    kinds with no resolver cost nothing. Followers meeting a new stream at the same moment
    (fifty regulators woken by one entry) share one query in flight. Bounded, so a long
    connection stays small.
    """

    def __init__(self, database: Database, *, limit: int = 10_000) -> None:
        self._database = database
        self._limit = limit
        self._known: dict[str, Scope] = {}

    async def scope(self, stream: str) -> Scope | None:
        known = self._known.get(stream)
        if known is not None:
            return known
        if stream.partition(":")[0] not in _RESOLVERS:
            return None
        found = await _resolve_once(self._database, stream)
        if found is not None:
            if len(self._known) >= self._limit:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[stream] = found
        return found


_IN_FLIGHT: dict[tuple[int, int, str], asyncio.Task[Scope | None]] = {}


async def _resolve_once(database: Database, stream: str) -> Scope | None:
    """``scope_of(stream)``, one query for every concurrent asker in this process. The query
    runs in its own task, so an asker that leaves does not cancel it for the others."""
    key = (id(database), id(asyncio.get_running_loop()), stream)
    asking = _IN_FLIGHT.get(key)
    if asking is None:
        asking = _IN_FLIGHT[key] = asyncio.ensure_future(_resolve(database, stream))
        asking.add_done_callback(lambda _task: _IN_FLIGHT.pop(key, None))
    return await asyncio.shield(asking)


async def _resolve(database: Database, stream: str) -> Scope | None:
    async with database.reader() as session:
        return await scope_of(session, stream)


# --- the regulators' feed: narrower filters and the attempts outside one's jurisdiction ---------

OVERSIGHT = frozenset({Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
FEED_REFUSED = "supervision.feed_refused"
_REGION = re.compile(r"[0-9]{6}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class FeedFilter:
    """What a follower of the whole ledger narrows it to (each part optional)."""

    region_code: str | None = None
    segment: str | None = None
    stream_kind: str | None = None

    @classmethod
    def parse(cls, region: str | None, segment: str | None, stream_kind: str | None) -> FeedFilter:
        """Check the shape of each part (empty means no filter); a malformed one is bad input."""
        errors: list[FieldError] = []
        if region and not _REGION.fullmatch(region):
            errors.append(FieldError("?region", "a region code is six digits, e.g. 350000 or 350102"))
        if segment and not _NAME.fullmatch(segment):
            errors.append(FieldError("?segment", "a segment is a lower-case name, e.g. construction"))
        if stream_kind and not _NAME.fullmatch(stream_kind):
            errors.append(FieldError("?stream_kind", "a stream kind is a lower-case name, e.g. project, opening"))
        if errors:
            raise InvalidInput("the feed's filters are malformed: " + "; ".join(e.message for e in errors), errors)
        return cls(region or None, segment or None, stream_kind or None)

    def asked(self) -> dict[str, str]:
        return {name: value for name, value in (("region", self.region_code), ("segment", self.segment),
                                                ("stream_kind", self.stream_kind)) if value}

    def needs_scope(self) -> bool:
        return self.region_code is not None or self.segment is not None

    def admits(self, actor: Actor, stream: str, scope: Scope | None) -> bool:
        """Whether an entry of ``stream`` (of ``scope``) goes to ``actor`` through this filter."""
        if self.stream_kind is not None and stream.partition(":")[0] != self.stream_kind:
            return False
        if not covers(actor, scope):
            return False
        if self.region_code is not None and (scope is None or not region_covers(self.region_code, scope.region_code)):
            return False
        return self.segment is None or (scope is not None and scope.segment == self.segment)


@dataclass(frozen=True)
class Refusal:
    """A regulator's request outside its jurisdiction (a feed filter, a replay, an entry):
    recorded, to be refused after commit."""

    detail: str

    def refuse(self) -> NoReturn:
        raise PermissionDenied(self.detail)


def _outside(actor: Actor, wanted: FeedFilter) -> str | None:
    if actor.has_any(UNRESTRICTED):
        return None
    if wanted.region_code is not None and not region_covers(actor.jurisdiction, wanted.region_code):
        return (f"region {wanted.region_code} lies outside your jurisdiction "
                f"({actor.jurisdiction or 'none'}); the attempt is recorded")
    if wanted.segment is not None and wanted.segment not in actor.industries:
        regulated = ", ".join(sorted(actor.industries)) or "none"
        return f"segment {wanted.segment} is not one you regulate ({regulated}); the attempt is recorded"
    return None


@use_case("supervision.follow_feed", OVERSIGHT)
async def open_feed(session: AsyncSession, actor: Actor, wanted: FeedFilter) -> FeedFilter | Refusal:
    """May ``actor`` follow the ledger narrowed by ``wanted``? A regulator asking outside its
    jurisdiction or industries gets a :class:`Refusal` and the attempt is appended to
    ``oversight:<user_id>``; the boundary commits it, then refuses (raising would roll the
    record back)."""
    reason = _outside(actor, wanted)
    if reason is None:
        return wanted
    await record_oversight_refusal(session, actor, FEED_REFUSED, {
        "asked": wanted.asked(), "jurisdiction": actor.jurisdiction, "industries": sorted(actor.industries),
        "reason": reason})
    return Refusal(reason)


# --- the record of what oversight was refused ----------------------------------------------------


def oversight_stream(user_id: int | None) -> str:
    """``oversight:<user_id>``: a user's refused attempts and reads of sealed data."""
    return f"oversight:{user_id}"


async def record_oversight_refusal(session: AsyncSession, actor: Actor, event_type: str,
                                   payload: dict[str, object]) -> None:
    """Append a refused attempt of ``actor`` to its oversight stream (the caller commits it,
    then refuses). Every domain records its refusals here, under an event type ending in
    ``_refused``: that is what the stream's replay counts."""
    if not event_type.endswith("_refused"):
        raise ValueError(f"a refusal's event type ends in _refused, not {event_type!r}")
    await append(session, stream=oversight_stream(actor.user_id), event_type=event_type, actor=actor,
                 payload=payload)

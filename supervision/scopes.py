"""Which region and segment a stream belongs to, and whether a regulator covers it.

Regulators work per jurisdiction (a region code: a province "350000" covers its cities
"3501xx" and counties, a city "350100" its counties) and per industry (the segments they
regulate). Auditors and administrators cover everything. Supervision knows no domain, so
each domain registers how to find the scope of its streams (``register_scope("project",
resolver)``); a stream whose kind has no resolver has no scope and only unrestricted
oversight (auditors, administrators) sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role


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

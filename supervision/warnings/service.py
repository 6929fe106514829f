"""Use cases of early warnings: run the rules, list and read warnings, and handle them.

A warning's life is ``open -> acknowledged -> investigating -> closed`` (a warning may be
closed from any earlier status, with a reason; nothing leaves ``closed``). Each step is a
ledger entry on ``warning:<id>``. Only regulators whose jurisdiction and industries cover
the warning (``supervision.scopes.covers``) may handle it; auditors and administrators
may read every warning. A regulator outside the scope is refused, and the attempt is
recorded: such calls return an :class:`Outcome` whose refusal the boundary raises *after*
committing, so the record of the attempt is kept although the request fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from core.usecases import use_case
from supervision.scopes import UNRESTRICTED, covers
from supervision.warnings import engine, events
from supervision.warnings.models import EarlyWarning
from supervision.warnings.rules import rule_by_code

VIEWERS = frozenset({Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
HANDLERS = frozenset({Role.REGULATOR})
RUNNERS = frozenset({Role.ADMIN})

STATUSES = ("open", "acknowledged", "investigating", "closed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "investigating", "closed"}),
    "acknowledged": frozenset({"investigating", "closed"}),
    "investigating": frozenset({"closed"}),
    "closed": frozenset(),
}
_EVENT_OF = {"acknowledged": events.ACKNOWLEDGED, "investigating": events.INVESTIGATING, "closed": events.CLOSED}
MAX_REASON = 4000


@dataclass(frozen=True)
class Outcome:
    """A warning, or the refusal to raise once the record of the attempt is committed."""

    warning: EarlyWarning | None
    refusal: PermissionDenied | None = None

    def raise_refusal(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def result(self) -> EarlyWarning:
        self.raise_refusal()
        assert self.warning is not None
        return self.warning


@use_case("supervision.run_warning_rules", RUNNERS)
async def run_warning_rules(session: AsyncSession, actor: Actor, *, since: datetime, until: datetime | None = None,
                            blobs: BlobStore | None = None,
                            overrides: Mapping[str, Mapping[str, Any]] | None = None) -> engine.RunReport:
    """Run every registered rule over ``[since, until]`` (the periodic job and the command)."""
    return await engine.run_rules(session, actor, since=since, until=until, blobs=blobs, overrides=overrides)


@use_case("supervision.list_warnings", VIEWERS)
async def list_warnings(session: AsyncSession, actor: Actor, *, rule: str | None = None, status: str | None = None,
                        project_id: int | None = None, limit: int = 100) -> list[EarlyWarning]:
    """The newest warnings the actor oversees, filtered; a regulator sees only their scope."""
    query = sa.select(EarlyWarning).order_by(EarlyWarning.id.desc())  # type: ignore[union-attr]
    if rule is not None:
        if rule_by_code(rule) is None:
            raise InvalidInput(f"no warning rule is called {rule!r}", [FieldError("$.rule", "unknown rule")])
        query = query.where(EarlyWarning.rule_code == rule)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", [FieldError("$.status", "unknown")])
        query = query.where(EarlyWarning.status == status)
    if project_id is not None:
        query = query.where(EarlyWarning.project_id == project_id)
    if not actor.has_any(UNRESTRICTED):
        query = query.where(_region_filter(actor.jurisdiction))
    rows = (await session.scalars(query)).all()
    return [row for row in rows if covers(actor, events.scope_of_row(row))][:limit]


def _region_filter(jurisdiction: str | None) -> sa.ColumnElement[bool]:
    """The SQL side of ``scopes.region_covers`` (the exact check runs on each row after)."""
    if not jurisdiction:
        return sa.false()
    if jurisdiction.endswith("0000"):
        return EarlyWarning.region_code.startswith(jurisdiction[:2])  # type: ignore[union-attr]
    if jurisdiction.endswith("00"):
        return EarlyWarning.region_code.startswith(jurisdiction[:4])  # type: ignore[union-attr]
    return EarlyWarning.region_code == jurisdiction  # type: ignore[return-value]


@use_case("supervision.get_warning", VIEWERS)
async def get_warning(session: AsyncSession, actor: Actor, warning_id: int) -> Outcome:
    """One warning with its evidence (a regulator outside its scope is refused and recorded)."""
    return await _covered(session, actor, warning_id, "read")


@use_case("supervision.acknowledge_warning", HANDLERS)
async def acknowledge_warning(session: AsyncSession, actor: Actor, warning_id: int) -> Outcome:
    return await _move(session, actor, warning_id, "acknowledged", None)


@use_case("supervision.investigate_warning", HANDLERS)
async def investigate_warning(session: AsyncSession, actor: Actor, warning_id: int) -> Outcome:
    return await _move(session, actor, warning_id, "investigating", None)


@use_case("supervision.close_warning", HANDLERS)
async def close_warning(session: AsyncSession, actor: Actor, warning_id: int, reason: str) -> Outcome:
    """Close with a reason (what the investigation found, or why the sign was not one)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"a warning is closed with a reason of 1 to {MAX_REASON} characters",
                           [FieldError("$.reason", "required" if not reason else "too long")])
    return await _move(session, actor, warning_id, "closed", reason)


async def _covered(session: AsyncSession, actor: Actor, warning_id: int, attempted: str,
                   *, lock: bool = False) -> Outcome:
    query = sa.select(EarlyWarning).where(EarlyWarning.id == warning_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"warning {warning_id} does not exist")
    if covers(actor, events.scope_of_row(row)):
        return Outcome(row)
    await events.record_refusal(session, actor, warning_id, attempted)
    return Outcome(None, PermissionDenied(
        f"warning {warning_id} lies outside your jurisdiction or industries; the attempt is recorded"))


async def _move(session: AsyncSession, actor: Actor, warning_id: int, to: str, reason: str | None) -> Outcome:
    outcome = await _covered(session, actor, warning_id, to, lock=True)
    row = outcome.warning
    if row is None:
        return outcome
    if to not in TRANSITIONS[row.status]:
        raise Conflict(f"warning {warning_id} is {row.status}: it cannot become {to}")
    row.status, row.handled_by, row.updated_at = to, actor.user_id, utcnow()
    if reason is not None:
        row.status_reason = reason
    await session.flush()
    await events.record(session, actor, row, _EVENT_OF[to])
    return outcome

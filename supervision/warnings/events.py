"""The ledger side of early warnings: the ``warning:<id>`` streams, their replay, their scope.

Every step of a warning is one entry on its own stream, carrying the warning row as it is
after the step, so replay is a plain merge and the regulators' live feed shows the whole
warning, evidence included, the moment it is raised. A regulator refused because the
warning lies outside their jurisdiction leaves an entry on ``oversight:<user_id>``: the
attempt is part of the trace even though nothing was shown or changed.

The scope of ``warning:<id>`` (for the live feed and the lists) is the region and segment
the rule gave the warning; it is registered with ``supervision.scopes`` on import, as the
rule modules of every domain import this package.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from supervision.ledger.append import append
from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry
from supervision.scopes import Scope, record_oversight_refusal, register_scope
from supervision.warnings.models import EarlyWarning

RAISED = "supervision.warning_raised"
EVIDENCE_UPDATED = "supervision.warning_evidence_updated"
ACKNOWLEDGED = "supervision.warning_acknowledged"
INVESTIGATING = "supervision.warning_investigation_started"
CLOSED = "supervision.warning_closed"
ACCESS_REFUSED = "supervision.warning_access_refused"

_WARNING_EVENTS = (RAISED, EVIDENCE_UPDATED, ACKNOWLEDGED, INVESTIGATING, CLOSED)


def warning_stream(warning_id: int | None) -> str:
    return f"warning:{warning_id}"


def snapshot(row: EarlyWarning) -> dict[str, Any]:
    columns = EarlyWarning.__table__.columns.keys()  # type: ignore[attr-defined]
    return to_json_value({name: getattr(row, name) for name in columns})  # type: ignore[no-any-return]


async def record(session: AsyncSession, actor: Actor | None, row: EarlyWarning, event_type: str,
                 **extra: Any) -> None:
    """Append a step of ``row`` to its stream and wake its followers after the commit."""
    stream = warning_stream(row.id)
    await append(session, stream=stream, event_type=event_type, actor=actor,
                 payload={"warning": snapshot(row), **extra})


async def record_refusal(session: AsyncSession, actor: Actor, warning_id: int, attempted: str) -> None:
    await record_oversight_refusal(session, actor, ACCESS_REFUSED, {
        "warning_id": warning_id, "attempted": attempted,
        "jurisdiction": actor.jurisdiction, "industries": sorted(actor.industries)})


# --- replay -------------------------------------------------------------------------------


def apply_warning(state: State | None, entry: dict[str, Any]) -> State | None:
    if entry["type"] not in _WARNING_EVENTS:
        return state
    previous = (state or {}).get("warning", {})
    return {"warning": {**previous, **entry["payload"]["warning"]}}


async def load_warning_state(session: AsyncSession, stream: str) -> State | None:
    text = stream.partition(":")[2]
    row = await session.get(EarlyWarning, int(text)) if text.isdigit() else None
    return {"warning": snapshot(row)} if row is not None else None


async def list_warning_streams(session: AsyncSession) -> list[str]:
    return [warning_stream(i) for i in (await session.scalars(sa.select(EarlyWarning.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``warning`` stream kind with the replay registry."""
    registry.register(StreamKind("warning", apply_warning, load_warning_state, list_warning_streams))


# --- scope --------------------------------------------------------------------------------


def scope_of_row(row: EarlyWarning) -> Scope:
    return Scope(region_code=row.region_code, segment=row.segment, project_id=row.project_id)


async def resolve_scope(session: AsyncSession, stream: str) -> Scope | None:
    text = stream.partition(":")[2]
    row = await session.get(EarlyWarning, int(text)) if text.isdigit() else None
    return scope_of_row(row) if row is not None else None


def install() -> None:
    """Let ``supervision.scopes`` find the scope of ``warning:<id>`` (idempotent)."""
    register_scope("warning", resolve_scope)


install()

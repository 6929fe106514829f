"""Price-competition events and their replay (stream ``competition:<id>``).

Every entry carries the competition row as it is after the step and the registrations and
quotes the step created or changed, as stored; folding the stream gives the stored
competition exactly. Hidden values (the reserve price, sealed amounts) are never in a
payload before the close: the rows hold only their commitments until the result entry
writes value and salt into them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.actors import Actor
from supervision.ledger.append import AppendedEntry, append
from supervision.replay import State, StreamKind, StreamRegistry
from supervision.scopes import Scope, register_scope
from trading.events import row_snapshot
from trading.models import Lot, Project
from trading.price_bidding_models import PriceCompetition, PriceQuote, PriceRegistration

SET_UP = "trading.competition_set_up"
AMENDED = "trading.competition_amended"  # terms replaced before publication
REGISTERED = "trading.competition_registered"
LIVE_DECLARED = "trading.competition_live_declared"
QUOTED = "trading.competition_quoted"
PHASE_CHANGED = "trading.competition_phase_changed"
CLOSED = "trading.competition_closed"
PAUSED = "trading.competition_paused"  # the lot is suspended: no quote, no close
RESUMED = "trading.competition_resumed"  # the lot takes bids again: the end moves by the time lost
TERMINATED = "trading.competition_terminated"  # the lot was cancelled: the competition ends without a sale

COLLECTIONS: dict[type[SQLModel], str] = {PriceRegistration: "registrations", PriceQuote: "quotes"}

# Columns added after the first entries were written (migration 0019), with the value the
# migration gave existing rows: an older entry's snapshot is read as holding it.
LATER_COLUMNS: dict[str, Any] = {"suspended_at": None, "paused_seconds": 0}


def competition_stream(competition_id: int | None) -> str:
    return f"competition:{competition_id}"


async def record(session: AsyncSession, actor: Actor | None, competition: PriceCompetition, event_type: str,
                 *, rows: list[SQLModel] | tuple[SQLModel, ...] = (), **facts: Any) -> AppendedEntry:
    """Append ``event_type`` with the competition and ``rows`` as stored now (flushed first)."""
    await session.flush()
    changes: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        changes.setdefault(COLLECTIONS[type(row)], []).append(row_snapshot(row))
    return await append(session, stream=competition_stream(competition.id), event_type=event_type, actor=actor,
                        payload={**facts, "competition": row_snapshot(competition), "changes": changes})


def apply_competition(state: State | None, entry: dict[str, Any]) -> State | None:
    payload = entry["payload"]
    if "competition" not in payload:
        return state
    current = state or {"competition": None, **{name: {} for name in COLLECTIONS.values()}}
    updated: State = {**current, "competition": {**LATER_COLUMNS, **payload["competition"]}}
    for collection, rows in payload.get("changes", {}).items():
        updated[collection] = {**updated[collection], **{str(row["id"]): row for row in rows}}
    return updated


async def load_competition_state(session: AsyncSession, stream: str) -> State | None:
    text = stream.partition(":")[2]
    if not text.isdigit():
        return None
    competition = await session.get(PriceCompetition, int(text))
    if competition is None:
        return None
    state: State = {"competition": row_snapshot(competition)}
    for model, collection in COLLECTIONS.items():
        query = sa.select(model).where(model.competition_id == competition.id)  # type: ignore[attr-defined]
        state[collection] = {str(row.id): row_snapshot(row) for row in (await session.scalars(query)).all()}
    return state


async def list_competition_streams(session: AsyncSession) -> list[str]:
    return [competition_stream(i) for i in (await session.scalars(sa.select(PriceCompetition.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``competition`` stream kind with the replay registry."""
    registry.register(StreamKind("competition", apply_competition, load_competition_state, list_competition_streams))


async def competition_scope(session: AsyncSession, stream: str) -> Scope | None:
    """A competition belongs to its lot's project (region and segment), for regulators."""
    text = stream.partition(":")[2]
    if not text.isdigit() or len(text) > 18:
        return None
    row = (await session.execute(
        sa.select(Project.region_code, Project.segment, Project.id).join(Lot, Lot.project_id == Project.id)
        .join(PriceCompetition, PriceCompetition.lot_id == Lot.id).where(PriceCompetition.id == int(text)).limit(1)
    )).first()
    return None if row is None else Scope(region_code=row[0], segment=row[1], project_id=row[2])


def install_scope() -> None:
    register_scope("competition", competition_scope)

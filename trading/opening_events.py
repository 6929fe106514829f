"""Opening events and their replay (stream ``opening:<lot_id>``).

Each entry of an opening's stream carries the rows it created or changed, as stored (the
same snapshots :func:`load_opening_state` reads), so folding the stream gives the stored
opening exactly at every step: started, quorum warning and decision, keys handed over
(accepted or refused), the window closed, custodian shares, bids opened by the fallback,
objections and answers, confirmations, publication. What is never in a payload: content
keys, private keys, key-share values, and bid contents before their opening.

Lot status moves and the failed-tender notice are events of the project's stream
(``trading.projects.change_lot_status``, ``trading.notices.record_notice``); bid status
moves are events of the bids' stream (``trading.bids.set_bid_status``). Every append here
also wakes the live channel's followers once the transaction commits.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from core.actors import Actor
from supervision.ledger.append import AppendedEntry, append
from supervision.replay import State, StreamKind, StreamRegistry
from trading.events import row_snapshot
from trading.models import Objection
from trading.opening_models import (
    CustodianShare,
    DecryptionAttempt,
    Opening,
    OpeningRow,
    RecordConfirmation,
)
from trading.states import ObjectionStage

OPENING_STARTED = "trading.opening_started"
QUORUM_DECIDED = "trading.opening_quorum_decided"
KEY_ACCEPTED = "trading.opening_key_accepted"
KEY_REFUSED = "trading.opening_key_refused"
WINDOW_CLOSED = "trading.opening_window_closed"
SHARE_HANDED = "trading.opening_share_handed"
FALLBACK_OPENED = "trading.opening_fallback_opened"
FALLBACK_FAILED = "trading.opening_fallback_failed"
OBJECTION_RAISED = "trading.opening_objection_raised"
OBJECTION_ANSWERED = "trading.opening_objection_answered"
RECORD_CONFIRMED = "trading.opening_record_confirmed"
RECORD_PUBLISHED = "trading.opening_record_published"

COLLECTIONS = ("rows", "attempts", "shares", "confirmations", "objections")


def opening_stream(lot_id: int | None) -> str:
    return f"opening:{lot_id}"


def share_snapshot(share: CustodianShare) -> dict[str, Any]:
    """A share as the stream knows it: never its value, only whether it is still held."""
    return {**row_snapshot(share, without=("value",)), "held": share.value is not None}


def snapshot(row: SQLModel) -> dict[str, Any]:
    return share_snapshot(row) if isinstance(row, CustodianShare) else row_snapshot(row)


_COLLECTION_OF: dict[type[SQLModel], str] = {
    OpeningRow: "rows", DecryptionAttempt: "attempts", CustodianShare: "shares",
    RecordConfirmation: "confirmations", Objection: "objections",
}


async def record(
    session: AsyncSession,
    actor: Actor | None,
    opening: Opening,
    event_type: str,
    *,
    rows: list[SQLModel] = (),  # type: ignore[assignment]
    **facts: Any,
) -> AppendedEntry:
    """Append ``event_type`` to the opening's stream with the opening and ``rows`` as
    they are now (flushed first, so ids and defaults are there), and wake the followers
    after commit. ``facts`` are what a reader of the trace wants said in words."""
    await session.flush()
    changes: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        changes.setdefault(_COLLECTION_OF[type(row)], []).append(snapshot(row))
    stream = opening_stream(opening.lot_id)
    entry = await append(session, stream=stream, event_type=event_type, actor=actor,
                         payload={**facts, "opening": row_snapshot(opening), "changes": changes})
    return entry


def apply_opening(state: State | None, entry: dict[str, Any]) -> State | None:
    payload = entry["payload"]
    if "opening" not in payload or "changes" not in payload:
        return state
    current = state or {"opening": None, **{name: {} for name in COLLECTIONS}}
    updated: State = {**current, "opening": payload["opening"]}
    for collection, rows in payload["changes"].items():
        updated[collection] = {**updated[collection], **{str(row["id"]): row for row in rows}}
    return updated


async def load_opening_state(session: AsyncSession, stream: str) -> State | None:
    try:
        lot_id = int(stream.partition(":")[2])
    except ValueError:
        return None
    opening = (await session.scalars(sa.select(Opening).where(Opening.lot_id == lot_id))).first()
    if opening is None:
        return None
    state: State = {"opening": row_snapshot(opening)}
    for model, collection in _COLLECTION_OF.items():
        if model is Objection:
            query = sa.select(Objection).where(Objection.lot_id == lot_id, Objection.stage == ObjectionStage.OPENING)
        else:
            query = sa.select(model).where(model.opening_id == opening.id)  # type: ignore[attr-defined]
        state[collection] = {str(row.id): snapshot(row) for row in (await session.scalars(query)).all()}
    return state


async def list_opening_streams(session: AsyncSession) -> list[str]:
    return [opening_stream(lot_id) for lot_id in (await session.scalars(sa.select(Opening.lot_id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``opening`` stream kind with the replay registry."""
    registry.register(StreamKind("opening", apply_opening, load_opening_state, list_opening_streams))

"""The region and segment of the trading streams, for regulators (``supervision.scopes``).

Every trading stream belongs to one project, whose region code and segment decide which
regulators oversee it: ``project:<id>`` and ``archive:<project_id>`` directly,
``opening:<lot_id>`` and ``award:<lot_id>`` through their lot, ``bid:<id>`` and
``bid_bond:<id>`` through their lot too. One query each (a join up to the project).

``credit:<party_id>`` has no scope: a party's credit records follow it across every
region and segment it bids in, so only unrestricted oversight (auditors, administrators)
sees them in the feed, as for identities' own streams.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from supervision.scopes import Scope, register_scope
from trading import complaint_events
from trading.bid_models import Bid, BidBond
from trading.models import Lot, Project


def stream_id(stream: str) -> int | None:
    """The numeric id of ``kind:<id>``, or None when it is not one."""
    text = stream.partition(":")[2]
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _project_scope() -> sa.Select[Any]:
    return sa.select(Project.region_code, Project.segment, Project.id)


async def scope_from(session: AsyncSession, query: sa.Select[Any]) -> Scope | None:
    """The scope of the one project ``query`` selects (region, segment, id), if any."""
    row = (await session.execute(query.limit(1))).first()
    return None if row is None else Scope(region_code=row[0], segment=row[1], project_id=row[2])


async def project_scope(session: AsyncSession, stream: str) -> Scope | None:
    """``project:<id>`` and ``archive:<project_id>``."""
    project_id = stream_id(stream)
    if project_id is None:
        return None
    return await scope_from(session, _project_scope().where(Project.id == project_id))


async def lot_scope(session: AsyncSession, stream: str) -> Scope | None:
    """``opening:<lot_id>`` and ``award:<lot_id>``."""
    lot_id = stream_id(stream)
    if lot_id is None:
        return None
    return await scope_from(session, _project_scope().join(Lot, Lot.project_id == Project.id)
                            .where(Lot.id == lot_id))


async def bid_scope(session: AsyncSession, stream: str) -> Scope | None:
    bid_id = stream_id(stream)
    if bid_id is None:
        return None
    return await scope_from(session, _project_scope().join(Lot, Lot.project_id == Project.id)
                            .join(Bid, Bid.lot_id == Lot.id).where(Bid.id == bid_id))


async def bid_bond_scope(session: AsyncSession, stream: str) -> Scope | None:
    bond_id = stream_id(stream)
    if bond_id is None:
        return None
    return await scope_from(session, _project_scope().join(Lot, Lot.project_id == Project.id)
                            .join(BidBond, BidBond.lot_id == Lot.id).where(BidBond.id == bond_id))


async def no_scope(_session: AsyncSession, _stream: str) -> Scope | None:
    """Party-level streams: no region, no segment."""
    return None


def install() -> None:
    """Register the resolvers of the trading stream kinds."""
    register_scope("project", project_scope)
    register_scope("archive", project_scope)
    register_scope("opening", lot_scope)
    register_scope("award", lot_scope)
    register_scope("bid", bid_scope)
    register_scope("bid_bond", bid_bond_scope)
    register_scope("credit", no_scope)
    complaint_events.install_scopes()  # complaint:<id>, case:<id>

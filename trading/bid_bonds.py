"""Bid bonds (投标保证金): a party records how it secured its bid, centre staff verify it.

One bond per (lot, party), whatever happens to its bids: it is often paid before the bid is
submitted and it outlives a replacement. Until staff verify it the bidder may correct it;
after that it is fixed. Stream ``bid_bond:<id>``.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor, Role
from core.errors import Conflict, NotFound, RuleViolation
from core.usecases import use_case
from supervision.ledger.append import append
from trading import bid_events as events
from trading.bid_models import BidBond
from trading.bid_schemas import BondRecord
from trading.uploads import check_lot_accepts_bids, load_lot

OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
_CENTS = Decimal("0.01")


@use_case("trading.record_bid_bond", {Role.BIDDER})
async def record_bid_bond(session: AsyncSession, actor: Actor, lot_id: int, data: BondRecord) -> BidBond:
    """Record (or, until verified, correct) the party's bond for a lot, before the deadline."""
    if actor.party_id is None:
        raise RuleViolation("only a bidder acting for a party can record a bid bond", rule="bidder_party")
    check_lot_accepts_bids(await load_lot(session, lot_id))
    bond = await session.scalar(sa.select(BidBond).where(BidBond.lot_id == lot_id, BidBond.party_id == actor.party_id))
    if bond is not None and bond.verified:
        raise Conflict(f"the bond of your party for lot {lot_id} was verified on "
                       f"{clock.rfc3339(bond.verified_at)} and can no longer change")  # type: ignore[arg-type]
    if bond is None:
        bond = BidBond(lot_id=lot_id, party_id=actor.party_id, verified=False)  # type: ignore[call-arg]
        session.add(bond)
    bond.form, bond.reference, bond.amount = data.form, data.reference, data.amount.quantize(_CENTS)
    bond.recorded_at = clock.utcnow()
    await session.flush()
    await append(session, stream=events.bond_stream(bond.id), event_type=events.BOND_RECORDED, actor=actor,
                 payload=events.bond_snapshot(bond))
    return bond


@use_case("trading.verify_bid_bond", {Role.CENTER_STAFF})
async def verify_bid_bond(session: AsyncSession, actor: Actor, bond_id: int) -> BidBond:
    """Staff confirm the bond against the bank's or insurer's record."""
    bond = await session.get(BidBond, bond_id)
    if bond is None:
        raise NotFound(f"bid bond {bond_id} does not exist")
    if bond.verified:
        raise Conflict(f"bid bond {bond_id} is already verified")
    bond.verified, bond.verified_by, bond.verified_at = True, actor.user_id, clock.utcnow()
    await session.flush()
    await append(session, stream=events.bond_stream(bond.id), event_type=events.BOND_VERIFIED, actor=actor,
                 payload=events.verify_payload(bond))
    return bond


@use_case("trading.list_bid_bonds", OVERSIGHT | {Role.BIDDER})
async def list_bid_bonds(session: AsyncSession, actor: Actor, lot_id: int) -> list[BidBond]:
    """A lot's bonds for oversight; a bidder sees its own party's."""
    await load_lot(session, lot_id)
    query = sa.select(BidBond).where(BidBond.lot_id == lot_id).order_by(BidBond.id)
    if not actor.has_any(OVERSIGHT):
        query = query.where(BidBond.party_id == (actor.party_id or -1))
    return list(await session.scalars(query))

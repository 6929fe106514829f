"""Price competitions of land and mining rights and state-owned property: registering
bidders, and reading the competition.

A competition is set up per lot (listing, auction, multi-round, sealed quote or Dutch, as
the segment's procedure allows) by the project's tenderer or agency or by centre staff,
before or at publication. Its reserve price is secret: the setup entry records only a
salted SHA-256 commitment, the result reveals price and salt. A bidder registers and is
admitted with a verified bid bond for the lot and no blacklisting or missing
qualification; it gets a random bidder number, the only name other bidders and the public
ever see. The setup is in ``price_bidding_setup``, quotes in ``price_bidding_quotes``, the
close and the result in ``price_bidding_close``, the pause while the lot is suspended in
``price_bidding_suspension``. Stream ``competition:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor, Role
from core.errors import Conflict, NotFound, RuleViolation
from core.usecases import ANY_ROLE, use_case
from identities.models import Party
from trading import price_bidding_close as closing
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading.bid_models import BidBond
from trading.models import Lot
from trading.parties import bidding_refusal
from trading.price_bidding_models import (
    PriceCompetition,
    PriceQuote,
    PriceRegistration,
)
from trading.price_bidding_views import OVERSIGHT, competition_view, sees_names
from trading.states import LotStatus

# Modes whose bidders are fixed when the bidding starts; listing and sealed quotes take registrations until the close.
REGISTER_BEFORE_START = frozenset({rules.AUCTION, rules.MULTI_ROUND, rules.DUTCH})


# --- registration -------------------------------------------------------------------------------


@use_case("trading.register_for_price_competition", {Role.BIDDER})
async def register(session: AsyncSession, actor: Actor, competition_id: int) -> PriceRegistration:
    """Admit the bidder's party with a random bidder number, or refuse saying why."""
    if actor.party_id is None:
        raise RuleViolation("only a bidder acting for a party can register", rule="bidder_party")
    now = clock.utcnow()
    competition = await closing.advance(session, await closing.locked_competition(session, competition_id), now)
    lot = await session.get(Lot, competition.lot_id)
    assert lot is not None
    _check_registration_open(competition, lot, now)
    existing = await _registration_of(session, competition.id, actor.party_id)  # type: ignore[arg-type]
    if existing is not None:
        raise Conflict(f"your party is already registered for competition {competition.id} "
                       f"with bidder number {existing.bidder_number}")
    bond = await _verified_bond(session, lot, actor.party_id)
    refusal = await bidding_refusal(session, actor.party_id, on=clock.to_shanghai(now).date(), lot=lot)
    if refusal:
        raise RuleViolation(f"this party may not bid: {refusal}", rule="bidder_eligible")
    taken = set(await session.scalars(sa.select(PriceRegistration.bidder_number).where(
        PriceRegistration.competition_id == competition.id)))
    registration = PriceRegistration(competition_id=competition.id, party_id=actor.party_id,  # type: ignore[arg-type]
                                     bidder_number=rules.new_bidder_number(taken), bond_id=bond.id,  # type: ignore[arg-type]
                                     wants_live=False, registered_by=actor.user_id, registered_at=now)
    session.add(registration)
    await events.record(session, actor, competition, events.REGISTERED, rows=[registration])
    return registration


def _check_registration_open(competition: PriceCompetition, lot: Lot, now: datetime) -> None:
    if competition.phase == closing.CLOSED:
        raise RuleViolation(f"competition {competition.id} closed at {clock.rfc3339(competition.closed_at)}; "  # type: ignore[arg-type]
                            "registration is over", rule="competition_closed")
    if lot.status == LotStatus.SUSPENDED:
        raise RuleViolation(f"lot {lot.code} is suspended (an objection or a complaint under review): registration "
                            "reopens when it takes bids again", rule="lot_accepts_bids")
    if lot.status != LotStatus.BIDDING:
        raise RuleViolation(f"lot {lot.code} is {lot.status}: registration opens when it is published",
                            rule="lot_accepts_bids")
    if competition.mode in REGISTER_BEFORE_START and now >= competition.starts_at:
        raise RuleViolation(f"registration for this {competition.mode} closed when the bidding started at "
                            f"{clock.rfc3339(competition.starts_at)} (server time {clock.rfc3339(now)})",
                            rule="registration_closed")
    if competition.mode == rules.LISTING and competition.phase == "live":
        raise RuleViolation("the live phase is under way; only bidders registered during the listing take part",
                            rule="registration_closed")


async def _verified_bond(session: AsyncSession, lot: Lot, party_id: int) -> BidBond:
    bond = await session.scalar(sa.select(BidBond).where(BidBond.lot_id == lot.id, BidBond.party_id == party_id))
    if bond is None:
        raise RuleViolation(f"no bid bond of your party is recorded for lot {lot.code}: record it and have centre "
                            "staff verify it before registering", rule="bid_bond_verified")
    if not bond.verified:
        raise RuleViolation(f"the bid bond {bond.reference} of your party for lot {lot.code} is not yet verified by "
                            "centre staff", rule="bid_bond_verified")
    if lot.bid_bond_amount is not None and bond.amount < lot.bid_bond_amount:
        raise RuleViolation(f"the bid bond {bond.amount} is below the {lot.bid_bond_amount} lot {lot.code} requires",
                            rule="bid_bond_verified")
    return bond


async def _registration_of(session: AsyncSession, competition_id: int, party_id: int | None) -> PriceRegistration | None:
    if party_id is None:
        return None
    return await session.scalar(sa.select(PriceRegistration).where(
        PriceRegistration.competition_id == competition_id, PriceRegistration.party_id == party_id))


# --- reads ----------------------------------------------------------------------------------------


async def own_bidder_number(session: AsyncSession, actor: Actor, competition_id: int) -> str | None:
    """The bidder number of the actor's party in this competition, if it registered."""
    registration = await _registration_of(session, competition_id, actor.party_id)
    return registration.bidder_number if registration else None


async def _current(session: AsyncSession, competition_id: int) -> PriceCompetition:
    """The competition with what is due applied (the lazy close)."""
    return await closing.advance(session, await closing.locked_competition(session, competition_id), clock.utcnow())


async def competition_id_of_lot(session: AsyncSession, lot_id: int) -> int:
    found = await session.scalar(sa.select(PriceCompetition.id).where(PriceCompetition.lot_id == lot_id))
    if found is None:
        raise NotFound(f"lot {lot_id} has no price competition")
    return found  # type: ignore[no-any-return]


async def next_step_due(session: AsyncSession, competition_id: int) -> tuple[bool, datetime | None]:
    """(closed, when the next step falls due) as stored, read without applying anything:
    due is None once closed or while the lot is suspended. Lets a follower wait in plain
    reads and take a writing transaction only when something is due."""
    row = (await session.execute(
        sa.select(PriceCompetition.phase, PriceCompetition.ends_at, PriceCompetition.suspended_at)
        .where(PriceCompetition.id == competition_id))).one_or_none()
    if row is None or row.phase == closing.CLOSED:
        return True, None
    return False, None if row.suspended_at is not None else clock.ensure_utc(row.ends_at)


@use_case("trading.read_price_competition", ANY_ROLE)
async def read_competition(session: AsyncSession, actor: Actor, competition_id: int) -> dict[str, Any]:
    """The board: phase, prices, leader's number, end, the quotes one may see; numbers, never names."""
    competition = await _current(session, competition_id)
    registration = await _registration_of(session, competition.id, actor.party_id)  # type: ignore[arg-type]
    quotes = list(await session.scalars(sa.select(PriceQuote).where(
        PriceQuote.competition_id == competition.id).order_by(PriceQuote.id)))
    number = registration.bidder_number if registration else None
    return competition_view(competition, quotes, number, sees_names(actor), clock.utcnow())


@use_case("trading.read_price_competition_bidders", OVERSIGHT)
async def read_bidders(session: AsyncSession, actor: Actor, competition_id: int) -> list[dict[str, Any]]:
    """Who is behind each bidder number: centre staff and regulators only."""
    competition = await _current(session, competition_id)
    rows = (await session.execute(sa.select(PriceRegistration, Party).join(
        Party, Party.id == PriceRegistration.party_id).where(PriceRegistration.competition_id == competition.id)
        .order_by(PriceRegistration.id))).all()
    return [{"registration_id": reg.id, "bidder_number": reg.bidder_number, "party_id": party.id,
             "party_name": party.name, "party_uscc": party.uscc, "wants_live": reg.wants_live,
             "registered_at": reg.registered_at} for reg, party in rows]


@use_case("trading.read_deal_confirmation", OVERSIGHT | {Role.BIDDER, Role.TENDERER, Role.AGENCY})
async def read_deal_confirmation(session: AsyncSession, actor: Actor, competition_id: int) -> dict[str, Any]:
    """The deal confirmation (成交确认书): for the winner, the project's tenderer and agency, and oversight."""
    from trading.price_bidding_deal import deal_confirmation

    competition = await _current(session, competition_id)
    return await deal_confirmation(session, actor, competition)


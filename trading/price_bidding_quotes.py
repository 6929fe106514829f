"""Quoting: listing quotes, the live phase and the auction, rounds, sealed quotes, and
accepting a Dutch price.

Every act first applies what is due by the server clock (``price_bidding_close.advance``)
under the competition's row lock, so a quote one second after the close finds the
competition closed and is refused, and two bidders quoting at once are put in order. A
refused quote stores nothing and records nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor, Role
from core.errors import Conflict, FieldError, InvalidInput, RuleViolation
from core.usecases import use_case
from trading import price_bidding_close as closing
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading import price_bidding_suspension as suspension
from trading.price_bidding_models import (
    PriceCompetition,
    PriceQuote,
    PriceRegistration,
    PriceSecret,
)
from trading.price_bidding_schemas import DutchAccept, LiveDeclaration, QuoteIn

LIVE_PHASES = frozenset({"live"})


async def _admitted(session: AsyncSession, actor: Actor, competition_id: int, now: datetime,
                    doing: str = "quote") -> tuple[PriceCompetition, PriceRegistration]:
    """The competition (with what is due applied) and the actor's admitted registration."""
    if actor.party_id is None:
        raise RuleViolation("only a bidder acting for a party can quote", rule="bidder_party")
    competition = await closing.advance(session, await closing.locked_competition(session, competition_id), now)
    registration = await session.scalar(sa.select(PriceRegistration).where(
        PriceRegistration.competition_id == competition.id, PriceRegistration.party_id == actor.party_id))
    if registration is None:
        raise RuleViolation(f"your party is not registered for competition {competition.id}: register (with a "
                            "verified bid bond) to be admitted before quoting", rule="bidder_admitted")
    _check_open(competition, now)
    suspension.refuse_if_paused(competition, doing)
    return competition, registration


def _check_open(competition: PriceCompetition, now: datetime) -> None:
    if competition.phase == closing.CLOSED and competition.result == suspension.TERMINATED:
        raise RuleViolation(f"competition {competition.id} has ended: {competition.result_reason}; no more quotes",
                            rule="competition_closed")
    if competition.phase == closing.CLOSED:
        closed_at = competition.closed_at or competition.ends_at
        late = (now - closed_at).total_seconds()
        raise RuleViolation(f"competition {competition.id} closed at {clock.rfc3339(closed_at)}; server time "
                            f"{clock.rfc3339(now)} is {late:.3f} seconds later: no more quotes",
                            rule="competition_closed")
    if now < competition.starts_at:
        raise RuleViolation(f"competition {competition.id} starts at {clock.rfc3339(competition.starts_at)}; "
                            f"server time {clock.rfc3339(now)}", rule="competition_not_started")


@use_case("trading.submit_price_quote", {Role.BIDDER})
async def submit_quote(session: AsyncSession, actor: Actor, competition_id: int, data: QuoteIn) -> PriceQuote:
    now = clock.utcnow()
    competition, registration = await _admitted(session, actor, competition_id, now)
    if competition.mode == rules.DUTCH:
        raise RuleViolation("a Dutch competition takes no quotes: accept the current price instead",
                            rule="dutch_accept_only")
    if competition.mode == rules.SEALED_QUOTE:
        return await _sealed_quote(session, actor, competition, registration, data.amount, now)
    await _check_ascending(session, competition, registration, data.amount)
    quote = PriceQuote(competition_id=competition.id, registration_id=registration.id,  # type: ignore[arg-type]
                       bidder_number=registration.bidder_number, phase=competition.phase,
                       round_number=competition.round_number, amount=data.amount.quantize(rules.CENTS),
                       submitted_at=now)
    session.add(quote)
    competition.current_price, competition.leader_number = quote.amount, registration.bidder_number
    competition.leader_registration_id = registration.id
    competition.quote_count += 1
    if competition.phase in LIVE_PHASES:  # anti-sniping: a quote near the end moves it out
        competition.ends_at = max(competition.ends_at, now + timedelta(seconds=competition.countdown_seconds or 0))
    competition.updated_at = now
    await events.record(session, actor, competition, events.QUOTED, rows=[quote])
    return quote


async def _check_ascending(session: AsyncSession, competition: PriceCompetition, registration: PriceRegistration,
                           amount: Decimal) -> None:
    if competition.phase == "live" and competition.mode == rules.LISTING and not registration.wants_live:
        raise RuleViolation(f"bidder number {registration.bidder_number} did not declare before the listing "
                            "closed that it keeps bidding, so it takes no part in the live phase", rule="live_phase")
    if competition.leader_registration_id == registration.id:
        raise Conflict(f"bidder number {registration.bidder_number} already holds the highest quote "
                       f"{competition.current_price}")
    if competition.mode == rules.MULTI_ROUND and await session.scalar(sa.select(PriceQuote.id).where(
            PriceQuote.registration_id == registration.id,
            PriceQuote.round_number == competition.round_number).limit(1)) is not None:
        raise Conflict(f"bidder number {registration.bidder_number} already quoted in round "
                       f"{competition.round_number}; one quote per round")
    _check_amount(competition, amount)


def _check_amount(competition: PriceCompetition, amount: Decimal) -> None:
    minimum = rules.minimum_quote(competition.starting_price, competition.increment, competition.current_price)
    if amount < minimum:
        basis = ("the starting price" if competition.current_price is None
                 else f"the current price {competition.current_price} plus the increment {competition.increment}")
        raise InvalidInput(f"the quote {amount} is below {minimum} ({basis})",
                           [FieldError("$.amount", f"at least {minimum}")])
    if not rules.is_whole_steps(amount, competition.starting_price, competition.increment):
        raise InvalidInput(f"the quote {amount} is not the starting price {competition.starting_price} plus a whole "
                           f"number of increments of {competition.increment}",
                           [FieldError("$.amount", f"starting price + n x {competition.increment}")])


async def _sealed_quote(session: AsyncSession, actor: Actor, competition: PriceCompetition,
                        registration: PriceRegistration, amount: Decimal, now: datetime) -> PriceQuote:
    """One sealed quote per bidder: stored hidden, with a salted commitment in the ledger."""
    earlier = await session.scalar(sa.select(PriceQuote).where(PriceQuote.registration_id == registration.id))
    if earlier is not None:
        raise Conflict(f"bidder number {registration.bidder_number} already submitted its one sealed quote at "
                       f"{clock.rfc3339(earlier.submitted_at)} (commitment {earlier.commitment}); it cannot change")
    if amount < competition.starting_price:
        raise InvalidInput(f"the quote {amount} is below the starting price {competition.starting_price}",
                           [FieldError("$.amount", f"at least {competition.starting_price}")])
    if not rules.is_whole_steps(amount, competition.starting_price, competition.increment):
        raise InvalidInput(f"the quote {amount} is not the starting price {competition.starting_price} plus a whole "
                           f"number of increments of {competition.increment}",
                           [FieldError("$.amount", f"starting price + n x {competition.increment}")])
    salt, amount = rules.new_salt(), amount.quantize(rules.CENTS)
    quote = PriceQuote(competition_id=competition.id, registration_id=registration.id,  # type: ignore[arg-type]
                       bidder_number=registration.bidder_number, phase=competition.phase,
                       commitment=rules.commitment(amount, salt), submitted_at=now)
    session.add(quote)
    await session.flush()
    session.add(PriceSecret(competition_id=competition.id, quote_id=quote.id, amount=amount, salt=salt))  # type: ignore[arg-type]
    competition.quote_count += 1
    competition.updated_at = now
    await events.record(session, actor, competition, events.QUOTED, rows=[quote])
    return _receipt(quote, amount, salt)


def _receipt(quote: PriceQuote, amount: Decimal, salt: str) -> PriceQuote:
    """A detached copy for the bidder's answer with its amount and salt, its receipt: the stored row keeps
    them hidden until the close."""
    return PriceQuote(id=quote.id, competition_id=quote.competition_id, registration_id=quote.registration_id,
                      bidder_number=quote.bidder_number, phase=quote.phase, round_number=quote.round_number,
                      amount=amount, commitment=quote.commitment, salt=salt, submitted_at=quote.submitted_at)


@use_case("trading.declare_live_bidding", {Role.BIDDER})
async def declare_live(session: AsyncSession, actor: Actor, competition_id: int,
                       data: LiveDeclaration) -> PriceRegistration:
    """During the listing, say whether one keeps bidding in a live phase after the close."""
    now = clock.utcnow()
    competition, registration = await _admitted(session, actor, competition_id, now, "declaration to keep bidding")
    if competition.mode != rules.LISTING or competition.phase != "listing":
        raise RuleViolation(f"a declaration to keep bidding is made during a listing period; competition "
                            f"{competition.id} is a {competition.mode} in its {competition.phase} phase",
                            rule="live_declaration")
    registration.wants_live = data.keep_bidding
    await events.record(session, actor, competition, events.LIVE_DECLARED, rows=[registration])
    return registration


@use_case("trading.accept_dutch_price", {Role.BIDDER})
async def accept_dutch(session: AsyncSession, actor: Actor, competition_id: int, data: DutchAccept) -> PriceQuote:
    """The first bidder to accept the Dutch price buys at it; the competition closes there."""
    now = clock.utcnow()
    competition, registration = await _dutch(session, actor, competition_id, now)
    price = rules.dutch_price(competition.starting_price, competition.increment,
                              competition.dutch_floor_price, competition.dutch_interval_seconds,  # type: ignore[arg-type]
                              suspension.running_start(competition), now)
    if data.expected_price is not None and data.expected_price != price:
        raise Conflict(f"the Dutch price is now {price}, not {data.expected_price}: accept again at the new price")
    quote = PriceQuote(competition_id=competition.id, registration_id=registration.id,  # type: ignore[arg-type]
                       bidder_number=registration.bidder_number, phase=competition.phase, amount=price,
                       submitted_at=now)
    session.add(quote)
    competition.current_price, competition.leader_number = price, registration.bidder_number
    competition.leader_registration_id = registration.id
    competition.quote_count += 1
    await events.record(session, actor, competition, events.QUOTED, rows=[quote])
    await closing.close(session, actor, competition, closed_at=now, accepted=quote)
    return quote


async def _dutch(session: AsyncSession, actor: Actor, competition_id: int,
                 now: datetime) -> tuple[PriceCompetition, PriceRegistration]:
    try:
        competition, registration = await _admitted(session, actor, competition_id, now, "Dutch acceptance")
    except RuleViolation as refused:
        competition = await session.get(PriceCompetition, competition_id)
        if competition is not None and competition.mode == rules.DUTCH and competition.winner_number:
            raise Conflict(f"bidder number {competition.winner_number} already accepted the Dutch price "
                           f"{competition.final_price} at {clock.rfc3339(competition.closed_at)}; "  # type: ignore[arg-type]
                           "the competition is closed") from refused
        raise
    if competition.mode != rules.DUTCH:
        raise RuleViolation(f"competition {competition.id} is a {competition.mode}, not a Dutch competition: quote "
                            "instead", rule="dutch_accept_only")
    return competition, registration

"""Time moves a competition on: the listing close (to the live phase or the result), the end
of a round, the sealed period, the countdown, the Dutch clock; then the result.

Nothing waits for a person or a timer to be exact: every read and every act first applies
what is due by the server clock (:func:`advance`, under the competition's row lock), and a
periodic task (``trading.close_due_price_competitions``) does the same for competitions
nobody touches. A step is dated by the moment it was due (``ends_at``), not by when it
happened to be applied, so the result is the same whoever triggers it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor
from core.errors import NotFound
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading import price_bidding_suspension as suspension
from trading.models import Lot, Project
from trading.notices import record_notice
from trading.price_bidding_models import (
    PriceCompetition,
    PriceQuote,
    PriceRegistration,
    PriceSecret,
)
from trading.projects import change_lot_status
from trading.states import LotStatus, NoticeKind

CLOSED = "closed"
CONCLUDED, FAILED = "concluded", "failed"
INITIAL_PHASE = {rules.LISTING: "listing", rules.AUCTION: "live", rules.MULTI_ROUND: "round",
                 rules.SEALED_QUOTE: "sealed", rules.DUTCH: "dutch"}


async def locked_competition(session: AsyncSession, competition_id: int) -> PriceCompetition:
    """The competition row, locked until commit (PostgreSQL; SQLite serialises writers anyway)."""
    query = sa.select(PriceCompetition).where(PriceCompetition.id == competition_id).with_for_update()
    competition = (await session.scalars(query)).first()
    if competition is None:
        raise NotFound(f"price competition {competition_id} does not exist")
    return competition


async def advance(session: AsyncSession, competition: PriceCompetition, now: datetime) -> PriceCompetition:
    """Apply every step due at ``now``, in order (a listing close and the live countdown
    after it may both be due when nobody looked in between). Nothing is due while the lot
    is suspended (``price_bidding_suspension``)."""
    await suspension.keep_in_step(session, competition, now)
    while competition.phase != CLOSED and not suspension.is_paused(competition) and now >= competition.ends_at:
        await _step(session, competition)
    return competition


async def _step(session: AsyncSession, competition: PriceCompetition) -> None:
    due = competition.ends_at
    if competition.phase == "listing" and await _live_bidders(session, competition) >= _live_minimum():
        competition.phase = "live"
        competition.ends_at = due + timedelta(seconds=competition.countdown_seconds or 0)
        competition.updated_at = clock.utcnow()
        await events.record(session, None, competition, events.PHASE_CHANGED, previous="listing", at=due,
                            reason="the listing closed with several bidders still bidding: a live phase follows")
        return
    if competition.phase == "round" and await _round_had_quotes(session, competition):
        competition.round_number = (competition.round_number or 1) + 1
        competition.ends_at = due + timedelta(seconds=competition.round_seconds or 0)
        competition.updated_at = clock.utcnow()
        await events.record(session, None, competition, events.PHASE_CHANGED, previous="round", at=due,
                            reason=f"round {competition.round_number - 1} brought a higher quote: "
                                   f"round {competition.round_number} follows")
        return
    await close(session, None, competition, closed_at=due)


def _live_minimum() -> int:
    return int(rules.limit("live_phase_min_bidders")["value"])


async def _live_bidders(session: AsyncSession, competition: PriceCompetition) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(PriceRegistration).where(
        PriceRegistration.competition_id == competition.id, PriceRegistration.wants_live.is_(True))) or 0)  # type: ignore[attr-defined]


async def _round_had_quotes(session: AsyncSession, competition: PriceCompetition) -> bool:
    return await session.scalar(sa.select(PriceQuote.id).where(
        PriceQuote.competition_id == competition.id, PriceQuote.round_number == competition.round_number).limit(1)) \
        is not None


async def close(session: AsyncSession, actor: Actor | None, competition: PriceCompetition, *, closed_at: datetime,
                accepted: PriceQuote | None = None) -> PriceCompetition:
    """Reveal what was hidden, decide the result, record it. A concluded competition (成交) awards
    its lot with the deal (``price_bidding_deal.award_deal``); a failed one (流拍) fails it and
    publishes the failed-sale notice (:func:`fail_lot`)."""
    revealed = await _reveal(session, competition)
    winner = _sealed_winner(revealed) if competition.mode == rules.SEALED_QUOTE else accepted
    if winner is not None:
        competition.current_price, competition.leader_number = winner.amount, winner.bidder_number
        competition.leader_registration_id = winner.registration_id
    competition.result, competition.result_reason = _result(competition)
    if competition.result == CONCLUDED:
        competition.final_price = competition.current_price
        competition.winner_registration_id = competition.leader_registration_id
        competition.winner_number = competition.leader_number
    competition.phase, competition.closed_at, competition.updated_at = CLOSED, closed_at, clock.utcnow()
    await events.record(session, actor, competition, events.CLOSED, rows=revealed, reason=competition.result_reason)
    if competition.result == CONCLUDED:
        # imported here: the deal module reads this one's constants
        from trading.price_bidding_deal import award_deal

        await award_deal(session, competition)
    if competition.result == FAILED:
        await fail_lot(session, actor, competition)
    return competition


async def fail_lot(session: AsyncSession, actor: Actor | None, competition: PriceCompetition) -> None:
    """Fail the lot of a failed competition and publish the failed-sale notice (流拍公告).

    Both happen only when the lot moves from bidding to failed, which it does once: however
    the close is applied (a read, a quote, the periodic task, the live channel's timer), one
    notice. A lot no longer bidding (cancelled meanwhile) is left as it is, with no notice."""
    lot = await session.get(Lot, competition.lot_id)
    if lot is None or lot.status != LotStatus.BIDDING:
        return
    await change_lot_status(session, actor, lot, LotStatus.FAILED, reason=f"price competition "
                            f"{competition.id} failed (流拍): {competition.result_reason}")
    project = await session.get(Project, lot.project_id)
    assert project is not None
    # Published by the platform (no actor), like the deal: the close decided it, not whoever applied it.
    await record_notice(session, None, project=project, lot=lot, kind=NoticeKind.FAILED,
                        title=f"Failed sale notice (流拍公告): lot {lot.code}",
                        body=failed_sale_text(competition, lot, project),
                        details=failed_sale_details(competition, lot))


def failed_case(competition: PriceCompetition) -> str:
    return "no_valid_quote" if competition.current_price is None else "below_reserve"


def failed_sale_text(competition: PriceCompetition, lot: Lot, project: Project) -> str:
    closed = clock.rfc3339(competition.closed_at)  # type: ignore[arg-type]
    opening = (f"The price competition {competition.id} ({competition.mode}) for lot {lot.code} of {project.title} "
               f"closed at {closed} without a sale (流拍): ")
    if failed_case(competition) == "no_valid_quote":
        return opening + "no valid quote was made. The lot is failed and may be offered again."
    # The reserve is revealed with the result (as the deal confirmation does), with its salt to check it.
    return opening + (f"the highest valid quote {competition.current_price} (bidder number "
                      f"{competition.leader_number}) is below the reserve price {competition.reserve_price}. The "
                      f"reserve was committed at setup as SHA-256 {competition.reserve_commitment}; its salt is "
                      f"{competition.reserve_salt}. The lot is failed and may be offered again.")


def failed_sale_details(competition: PriceCompetition, lot: Lot) -> dict[str, object]:
    return {"lot_code": lot.code, "competition_id": competition.id, "mode": competition.mode,
            "case": failed_case(competition), "reason": competition.result_reason,
            "closed_at": competition.closed_at, "quote_count": competition.quote_count,
            "highest_quote": competition.current_price, "highest_bidder_number": competition.leader_number,
            "reserve_price": competition.reserve_price, "reserve_salt": competition.reserve_salt,
            "reserve_commitment": competition.reserve_commitment}


async def _reveal(session: AsyncSession, competition: PriceCompetition) -> list[PriceQuote]:
    """Copy the hidden values and their salts into the rows; returns the quotes revealed."""
    secrets = list(await session.scalars(sa.select(PriceSecret).where(PriceSecret.competition_id == competition.id)))
    revealed: list[PriceQuote] = []
    for secret in secrets:
        if secret.quote_id is None:
            competition.reserve_price, competition.reserve_salt = secret.amount, secret.salt
            continue
        quote = await session.get(PriceQuote, secret.quote_id)
        if quote is not None and quote.amount is None:
            quote.amount, quote.salt = secret.amount, secret.salt
            revealed.append(quote)
    revealed.sort(key=lambda quote: quote.id or 0)
    return revealed


def _sealed_winner(quotes: list[PriceQuote]) -> PriceQuote | None:
    """The highest sealed quote; at equal amounts the earliest submitted."""
    valid = [quote for quote in quotes if quote.amount is not None]
    if not valid:
        return None
    return min(valid, key=lambda quote: (-quote.amount, quote.submitted_at, quote.id))  # type: ignore[operator]


def _result(competition: PriceCompetition) -> tuple[str, str]:
    price, reserve = competition.current_price, competition.reserve_price
    if price is None:
        return FAILED, "no valid quote was made"
    if reserve is not None and price < reserve:
        return FAILED, f"the highest valid quote {price} is below the reserve price {reserve}"
    reserve_text = "no reserve price" if reserve is None else f"reserve price {reserve}"
    return CONCLUDED, f"concluded at {price} by bidder number {competition.leader_number} ({reserve_text})"


async def close_due_competitions(session: AsyncSession) -> list[int]:
    """Apply what is due to every competition whose current period has ended; returns their ids."""
    now = clock.utcnow()
    due = list(await session.scalars(sa.select(PriceCompetition.id).where(
        PriceCompetition.phase != CLOSED, PriceCompetition.suspended_at.is_(None),  # type: ignore[union-attr]
        PriceCompetition.ends_at <= now).order_by(PriceCompetition.id)))
    for competition_id in due:
        await advance(session, await locked_competition(session, competition_id), now)
    return due

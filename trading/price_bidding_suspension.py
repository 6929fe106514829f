"""A competition paused while its lot is suspended, and its remaining time given back when the
lot resumes.

An objection to the documents, or a regulator handling a complaint, suspends the lot. A
trading centre then stops the bidding: no quote or Dutch acceptance is taken and the end
does not pass. When the lot takes bids again the bidders get back the running time they
lost: the end moves out by it (in whole seconds, rounded up, so nobody loses a fraction),
and the Dutch clock goes on from the price where it stood. Each step is an entry of the
competition's stream (``trading.competition_paused``, ``trading.competition_resumed``).

``follow_lot_move`` is called by ``trading.projects.change_lot_status`` before a lot moves
into or out of ``suspended``, or is cancelled, so pause, resume and termination are dated by
the move itself. A cancelled lot ends its competition without a sale
(``trading.competition_terminated``).
``keep_in_step`` is the safety net of the lazy close for a competition whose lot was
suspended without it being told (a lot suspended before this existed): it pauses such a
competition when found, dated at the latest by its end, and resumes it when the lot is
found bidding again.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor
from core.errors import RuleViolation
from trading import price_bidding_events as events
from trading.models import Lot
from trading.price_bidding_models import PriceCompetition
from trading.states import LotStatus

CLOSED = "closed"  # price_bidding_close.CLOSED (that module imports this one)
TERMINATED = "terminated"  # a result besides concluded and failed: the lot was cancelled


def is_paused(competition: PriceCompetition) -> bool:
    return competition.suspended_at is not None


def refuse_if_paused(competition: PriceCompetition, doing: str) -> None:
    """No quote, acceptance or declaration while the lot is suspended."""
    if competition.suspended_at is None:
        return
    raise RuleViolation(
        f"competition {competition.id} is paused since {clock.rfc3339(competition.suspended_at)}: its lot is "
        f"suspended (an objection or a complaint under review), so no {doing} is taken; the bidding resumes "
        "with its remaining time when the lot takes bids again", rule="competition_suspended")


def running_start(competition: PriceCompetition) -> datetime:
    """The start as the Dutch clock counts it: later by the running time lost to suspensions."""
    return clock.ensure_utc(competition.starts_at) + timedelta(seconds=competition.paused_seconds or 0)


async def follow_lot_move(session: AsyncSession, actor: Actor | None, lot: Lot, target: LotStatus,
                          reason: str) -> None:
    """Before ``lot`` moves to ``target``: pause its running competition when the lot is
    suspended from bidding, resume it when the lot takes bids again.

    What was due before the suspension is applied first, under the competition's lock: a
    competition whose end had passed closes with its result (and awards or fails the lot),
    and the lot's suspension is then refused by the transition table, as for any finished lot."""
    current = LotStatus(lot.status)
    cancelled = target == LotStatus.CANCELLED
    if not cancelled and (LotStatus.SUSPENDED not in (current, target) or LotStatus.BIDDING not in (current, target)):
        return
    competition = await session.scalar(
        sa.select(PriceCompetition).where(PriceCompetition.lot_id == lot.id).with_for_update())
    if competition is None or competition.phase == CLOSED:
        return
    now = clock.utcnow()
    if cancelled:
        await terminate(session, actor, competition, now, reason)
        return
    if target == LotStatus.SUSPENDED:
        # imported here: the close imports this module
        from trading.price_bidding_close import advance

        await advance(session, competition, now)
        if competition.phase != CLOSED and not is_paused(competition):
            await pause(session, actor, competition, now, reason)
    elif is_paused(competition):
        await resume(session, actor, competition, now, reason)


async def terminate(session: AsyncSession, actor: Actor | None, competition: PriceCompetition, at: datetime,
                    reason: str) -> None:
    """The lot is cancelled (终止): the competition ends at once without a sale. Nothing hidden
    is revealed (no result is decided), and whatever was due before is applied first."""
    if not is_paused(competition):
        # imported here: the close imports this module
        from trading.price_bidding_close import advance

        await advance(session, competition, at)
        if competition.phase == CLOSED:
            return
    competition.phase, competition.closed_at, competition.updated_at = CLOSED, at, clock.utcnow()
    competition.result = TERMINATED
    competition.result_reason = f"the lot was cancelled ({reason}): the competition ends without a sale"
    competition.suspended_at = None
    await events.record(session, actor, competition, events.TERMINATED, at=at, reason=competition.result_reason)


async def keep_in_step(session: AsyncSession, competition: PriceCompetition, now: datetime) -> None:
    """Pause or resume a competition whose lot moved without telling it (see the module's note)."""
    if competition.phase == CLOSED:
        return
    lot = await session.get(Lot, competition.lot_id)
    if lot is None:
        return
    if lot.status == LotStatus.SUSPENDED and not is_paused(competition):
        # When it was suspended is not known here; a close that was due cannot be told
        # apart from one the suspension stopped, so the pause is dated by the end at the latest.
        await pause(session, None, competition, min(now, clock.ensure_utc(competition.ends_at)),
                    f"lot {lot.code} found suspended")
    elif lot.status == LotStatus.BIDDING and is_paused(competition):
        await resume(session, None, competition, now, f"lot {lot.code} found taking bids again")


async def pause(session: AsyncSession, actor: Actor | None, competition: PriceCompetition, at: datetime,
                reason: str) -> None:
    competition.suspended_at, competition.updated_at = at, clock.utcnow()
    remaining = max(0.0, (clock.ensure_utc(competition.ends_at) - at).total_seconds())
    await events.record(session, actor, competition, events.PAUSED, at=at, remaining_seconds=math.ceil(remaining),
                        reason=f"the lot is suspended ({reason}): no quote is taken and the end does not pass")


async def resume(session: AsyncSession, actor: Actor | None, competition: PriceCompetition, at: datetime,
                 reason: str) -> None:
    """Give back the running time lost: the end moves out by it, the Dutch clock is held back by it."""
    suspended_at = clock.ensure_utc(competition.suspended_at)  # type: ignore[arg-type]
    lost = lost_seconds(suspended_at, clock.ensure_utc(competition.starts_at), at)
    competition.ends_at = clock.ensure_utc(competition.ends_at) + timedelta(seconds=lost)
    competition.paused_seconds = (competition.paused_seconds or 0) + lost
    competition.suspended_at, competition.updated_at = None, clock.utcnow()
    await events.record(session, actor, competition, events.RESUMED, at=at, suspended_at=suspended_at,
                        moved_by_seconds=lost,
                        reason=f"the lot takes bids again ({reason}): the end moves by {lost} seconds, the time the "
                               f"running competition was suspended, to {clock.rfc3339(competition.ends_at)}")


def lost_seconds(suspended_at: datetime, starts_at: datetime, resumed_at: datetime) -> int:
    """The running time a suspension took, in whole seconds rounded up; none of it before the start."""
    return math.ceil(max(0.0, (resumed_at - max(suspended_at, starts_at)).total_seconds()))

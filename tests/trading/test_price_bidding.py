"""Price competitions at the service level: listing with its live phase, auction with its
countdown, the secret reserve and its reveal, the lazy and periodic close, replay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import clock
from core.database import Database
from core.errors import RuleViolation
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_all
from tests.trading.walk_price_bidding import (
    RESERVE,
    START,
    STEP,
    Scene,
    competition_scene,
)
from trading import (
    price_bidding,
    price_bidding_close,
    price_bidding_quotes,
    price_bidding_rules,
)
from trading.models import Lot
from trading.price_bidding_models import PriceCompetition, PriceQuote
from trading.price_bidding_schemas import LiveDeclaration, QuoteIn
from web.runtime import build_registry


async def quote(database: Database, scene: Scene, bidder: int, amount: Decimal) -> None:
    async with database.transaction() as session:
        await price_bidding_quotes.submit_quote(session, scene.bidders[bidder], scene.id, QuoteIn(amount=amount))


async def board(database: Database, scene: Scene, reader: int | None = None) -> dict:
    async with database.transaction() as session:
        actor = scene.staff if reader is None else scene.bidders[reader]
        return await price_bidding.read_competition(session, actor, scene.id)


async def end_and_last_quote(database: Database, scene: Scene) -> tuple:
    async with database.reader() as session:
        competition = await session.get(PriceCompetition, scene.id)
        last = await session.scalar(sa.select(sa.func.max(PriceQuote.submitted_at)).where(
            PriceQuote.competition_id == scene.id))
    return competition.ends_at, clock.ensure_utc(last)


async def replay_matches(database: Database) -> None:
    async with database.reader() as session:
        checks = [check for check in await check_all(session, build_registry())
                  if check.stream.startswith("competition:")]
    assert checks and all(check.matches for check in checks), [c for c in checks if not c.matches]


async def test_listing_without_live_phase_the_highest_quote_wins(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=3)
    start = scene.competition.starts_at
    with clock.travel(to=start + timedelta(hours=1)):
        await quote(database, scene, 0, START)
        await quote(database, scene, 1, START + 2 * STEP)
        await quote(database, scene, 0, START + 6 * STEP)
        shown = await board(database, scene, reader=1)
        assert shown["current_price"] == str(START + 6 * STEP)
        assert shown["leader_number"] != shown["your_number"] and shown["you_lead"] is False
        assert shown["reserve_price"] is None and shown["reserve_commitment"]
    with clock.travel(to=scene.competition.ends_at + timedelta(seconds=1)):
        shown = await board(database, scene, reader=0)  # the lazy close
    assert shown["phase"] == "closed" and shown["result"] == "concluded"
    assert shown["final_price"] == str(START + 6 * STEP) and shown["you_lead"] is True
    assert shown["winner_number"] == shown["your_number"]
    assert Decimal(shown["reserve_price"]) == RESERVE
    assert price_bidding_rules.verify_commitment(shown["reserve_price"], shown["reserve_salt"],
                                                 shown["reserve_commitment"])
    async with database.reader() as session:
        setup = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"competition:{scene.id}").order_by(LedgerEntry.seq))).first()
    assert str(RESERVE) not in setup.decode()  # the ledger held only the commitment until the result
    assert shown["reserve_commitment"] in setup.decode()
    await replay_matches(database)


async def test_listing_goes_live_when_two_bidders_keep_bidding(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=3)
    listing_end = scene.competition.ends_at
    with clock.travel(to=scene.competition.starts_at + timedelta(hours=1)):
        await quote(database, scene, 0, START)
        for bidder in (0, 1):
            async with database.transaction() as session:
                await price_bidding_quotes.declare_live(session, scene.bidders[bidder], scene.id, LiveDeclaration())
    with clock.travel(to=listing_end + timedelta(seconds=5)):
        shown = await board(database, scene)
        assert shown["phase"] == "live" and shown["ends_at"] == clock.rfc3339(listing_end + timedelta(seconds=300))
        await quote(database, scene, 1, START + STEP)
    live_end, last_quote = await end_and_last_quote(database, scene)
    assert live_end == last_quote + timedelta(seconds=300) > listing_end + timedelta(seconds=300)  # moved out
    with clock.travel(to=live_end - timedelta(seconds=10)):
        with pytest.raises(RuleViolation, match="did not declare"):  # not part of the live phase
            await quote(database, scene, 2, START + 9 * STEP)
        await quote(database, scene, 0, START + 9 * STEP)
    sniped_end, last_quote = await end_and_last_quote(database, scene)
    assert sniped_end == last_quote + timedelta(seconds=300) > live_end  # anti-sniping
    with clock.travel(to=sniped_end + timedelta(seconds=1)):
        async with database.transaction() as session:
            closed = await price_bidding_close.close_due_competitions(session)  # the periodic task's work
    assert closed == [scene.id]
    shown = await board(database, scene, reader=0)
    assert shown["result"] == "concluded" and shown["final_price"] == str(START + 9 * STEP)
    assert shown["closed_at"] == clock.rfc3339(sniped_end)  # dated when due, not when applied
    await replay_matches(database)


async def test_below_the_reserve_the_listing_fails_and_the_lot_with_it(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=2)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        await quote(database, scene, 0, START + STEP)  # 1,010,000 < reserve 1,050,000
    with clock.travel(to=scene.competition.ends_at):
        shown = await board(database, scene)
    assert shown["result"] == "failed" and "below the reserve price" in shown["result_reason"]
    assert shown["winner_number"] is None and Decimal(shown["reserve_price"]) == RESERVE
    async with database.reader() as session:
        assert (await session.get(Lot, scene.lot.id)).status == "failed"
    await replay_matches(database)


async def test_auction_countdown_and_a_quote_one_second_late(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    first_end = scene.competition.ends_at
    with clock.travel(to=first_end - timedelta(seconds=60)):
        await quote(database, scene, 0, START + 5 * STEP)
    async with database.reader() as session:
        end = (await session.get(PriceCompetition, scene.id)).ends_at
    assert end > first_end + timedelta(seconds=200)
    with clock.travel(to=end + timedelta(seconds=1)):
        with pytest.raises(RuleViolation, match=r"closed at .* is 1\.\d+ seconds later: no more quotes"):
            await quote(database, scene, 1, START + 6 * STEP)
        shown = await board(database, scene, reader=1)
    assert shown["result"] == "concluded" and shown["quote_count"] == 1
    await replay_matches(database)


def test_the_periodic_close_is_scheduled() -> None:
    from trading import tasks

    assert tasks.PERIODIC_TASKS["trading.close_due_price_competitions"] <= 60
    assert tasks.close_due_price_competitions.name == "trading.close_due_price_competitions"


async def test_two_bidders_quoting_the_same_price_at_once_are_put_in_order(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=1)):
        outcomes = await asyncio.gather(quote(database, scene, 0, START + STEP), quote(database, scene, 1, START + STEP),
                                        return_exceptions=True)
        shown = await board(database, scene)
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(refused) == 1 and "below 1020000.00" in str(refused[0])
    assert shown["quote_count"] == 1 and shown["current_price"] == str(START + STEP)
    await replay_matches(database)

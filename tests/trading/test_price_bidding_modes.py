"""Online bidding of state property: sealed quotes, the Dutch clock, multi-round ascending."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import clock
from core.database import Database
from core.errors import Conflict
from supervision.ledger.models import LedgerEntry
from tests.trading.test_price_bidding import board, quote, replay_matches
from tests.trading.walk_price_bidding import START, STEP, competition_scene
from trading import price_bidding_quotes, price_bidding_rules
from trading.price_bidding_schemas import DutchAccept, QuoteIn


async def test_sealed_quotes_stay_hidden_until_the_close_then_the_highest_earliest_wins(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "sealed_quote", bidders=3)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        async with database.transaction() as session:
            receipt = await price_bidding_quotes.submit_quote(session, scene.bidders[0], scene.id,
                                                              QuoteIn(amount=START + 8 * STEP))
        assert price_bidding_rules.verify_commitment(receipt.amount, receipt.salt, receipt.commitment)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=2)):
        await quote(database, scene, 1, START + 8 * STEP)  # the same amount, later
        await quote(database, scene, 2, START + 3 * STEP)
        seen_by_1 = await board(database, scene, reader=1)
        with pytest.raises(Conflict, match="already submitted its one sealed quote"):
            await quote(database, scene, 1, START + 9 * STEP)
    assert [q["bidder_number"] for q in seen_by_1["quotes"]] == [seen_by_1["your_number"]]
    assert seen_by_1["current_price"] is None and seen_by_1["leader_number"] is None
    assert seen_by_1["quote_count"] is None  # not even how many quoted
    async with database.reader() as session:
        leaves = b"".join((await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"competition:{scene.id}"))).all())
    assert str(START + 8 * STEP).encode() not in leaves  # only commitments before the close
    with clock.travel(to=scene.competition.ends_at):
        shown = await board(database, scene, reader=0)
    assert shown["result"] == "concluded" and shown["winner_number"] == shown["your_number"]  # tie: earliest
    assert shown["final_price"] == str(START + 8 * STEP)
    for revealed in shown["quotes"]:
        assert price_bidding_rules.verify_commitment(revealed["amount"], revealed["salt"], revealed["commitment"])
    await replay_matches(database)


async def test_dutch_price_descends_and_the_first_to_accept_buys(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=2)
    start = scene.competition.starts_at
    with clock.travel(to=start + timedelta(seconds=125)):  # two whole intervals: 1,200,000 - 2 x 10,000
        shown = await board(database, scene, reader=0)
        assert shown["current_price"] == "1180000.00"
        with pytest.raises(Conflict, match="the Dutch price is now 1180000.00"):
            async with database.transaction() as session:
                await price_bidding_quotes.accept_dutch(session, scene.bidders[0], scene.id,
                                                        DutchAccept(expected_price=Decimal("1190000.00")))
        async with database.transaction() as session:
            accepted = await price_bidding_quotes.accept_dutch(session, scene.bidders[0], scene.id, DutchAccept())
        assert accepted.amount == Decimal("1180000.00")
        with pytest.raises(Conflict, match=f"bidder number {accepted.bidder_number} already accepted"):
            async with database.transaction() as session:
                await price_bidding_quotes.accept_dutch(session, scene.bidders[1], scene.id, DutchAccept())
        shown = await board(database, scene, reader=1)
    assert shown["result"] == "concluded" and shown["final_price"] == "1180000.00"
    assert shown["winner_number"] == accepted.bidder_number != shown["your_number"]
    await replay_matches(database)


async def test_dutch_clock_runs_out_at_the_floor_unaccepted(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=1)
    with clock.travel(to=scene.competition.ends_at - timedelta(seconds=1)):
        assert (await board(database, scene))["current_price"] == "1000000.00"  # the floor
    with clock.travel(to=scene.competition.ends_at):
        shown = await board(database, scene)
    assert shown["result"] == "failed" and shown["result_reason"] == "no valid quote was made"


async def test_multi_round_ends_with_the_first_round_without_a_higher_quote(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "multi_round", bidders=2)
    start = scene.competition.starts_at
    with clock.travel(to=start + timedelta(seconds=30)):
        await quote(database, scene, 0, START + 5 * STEP)
        with pytest.raises(Conflict, match="already holds the highest quote"):
            await quote(database, scene, 0, START + 6 * STEP)
        await quote(database, scene, 1, START + 6 * STEP)
        with pytest.raises(Conflict, match="already quoted in round 1; one quote per round"):
            await quote(database, scene, 0, START + 8 * STEP)
    with clock.travel(to=start + timedelta(seconds=630)):  # round 2
        shown = await board(database, scene)
        assert shown["round_number"] == 2 and shown["phase"] == "round"
        await quote(database, scene, 0, START + 7 * STEP)
    with clock.travel(to=start + timedelta(seconds=1800)):  # round 3 brought nothing: closed at its end
        shown = await board(database, scene)
    assert shown["result"] == "concluded" and shown["final_price"] == str(START + 7 * STEP)
    assert shown["closed_at"] == clock.rfc3339(start + timedelta(seconds=1800))
    await replay_matches(database)

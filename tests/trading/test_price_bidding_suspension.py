"""A competition whose lot is suspended (an objection, a complaint under review) takes no quote
and does not close; when the lot takes bids again its end moves by the running time lost,
the Dutch clock goes on from where it stood, and the close and the award follow as usual."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from core import clock
from core.actors import Role
from core.database import Database
from core.errors import Conflict, RuleViolation
from supervision.ledger.models import LedgerEntry
from tests.factories import actor_of, make_user
from tests.trading.test_price_bidding import board, quote, replay_matches
from tests.trading.walk_price_bidding import START, STEP, Scene, competition_scene
from trading import price_bidding_close, price_bidding_quotes
from trading.award_models import Award
from trading.models import Lot
from trading.price_bidding_events import PAUSED, RESUMED, TERMINATED, competition_stream
from trading.price_bidding_models import PriceCompetition, PriceQuote
from trading.price_bidding_schemas import DutchAccept
from trading.projects import change_lot_status
from trading.states import LotStatus
from web.runtime import Runtime


async def move_lot(database: Database, scene: Scene, target: LotStatus, at: datetime) -> None:
    """A regulator suspends the lot (or lifts the suspension) at ``at``."""
    with clock.travel(to=at):
        async with database.transaction() as session:
            regulator = actor_of(await make_user(session, Role.REGULATOR))
            lot = await session.get(Lot, scene.lot.id)
            await change_lot_status(session, regulator, lot, target, reason="complaint under review"  # type: ignore[arg-type]
                                    if target == LotStatus.SUSPENDED else "complaint decided")


def within_a_second(stored: datetime | None, expected: datetime) -> bool:
    """The test clock keeps running after it travels: a step lands just after the moment aimed at."""
    return stored is not None and timedelta(0) <= clock.ensure_utc(stored) - expected < timedelta(seconds=1)


async def stored_competition(database: Database, scene: Scene) -> PriceCompetition:
    async with database.reader() as session:
        return await session.get(PriceCompetition, scene.id)  # type: ignore[return-value]


async def entries(database: Database, scene: Scene, event_type: str) -> list[dict]:
    async with database.reader() as session:
        leaves = await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == competition_stream(scene.id), LedgerEntry.type == event_type)
            .order_by(LedgerEntry.seq))
        return [json.loads(leaf) for leaf in leaves]


async def quote_count(database: Database, scene: Scene) -> int:
    async with database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(PriceQuote).where(
            PriceQuote.competition_id == scene.id)) or 0)


async def test_a_suspended_auction_neither_quotes_nor_closes_and_gets_its_time_back(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    end = scene.competition.ends_at
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        await quote(database, scene, 0, START + STEP)
    suspended_at = end - timedelta(minutes=4)
    await move_lot(database, scene, LotStatus.SUSPENDED, suspended_at)
    paused = await stored_competition(database, scene)
    assert within_a_second(paused.suspended_at, suspended_at)  # dated by the lot's move

    with clock.travel(to=end + timedelta(hours=2)):  # long after the end: nothing closes
        async with database.transaction() as session:
            assert await price_bidding_close.close_due_competitions(session) == []
        shown = await board(database, scene, reader=1)
        assert shown["phase"] == "live" and shown["result"] is None and shown["suspended_at"]
        with pytest.raises(RuleViolation, match=r"competition \d+ is paused since .*: its lot is suspended") as refused:
            await quote(database, scene, 1, START + 2 * STEP)
    assert refused.value.rule == "competition_suspended"

    resumed_at = end + timedelta(hours=3, seconds=0.25)
    await move_lot(database, scene, LotStatus.BIDDING, resumed_at)
    moved = await stored_competition(database, scene)
    lost = moved.paused_seconds  # the running time suspended, in whole seconds rounded up
    assert 3 * 3600 + 4 * 60 < lost <= 3 * 3600 + 4 * 60 + 2
    assert clock.ensure_utc(moved.ends_at) == end + timedelta(seconds=lost) and moved.suspended_at is None
    [resumed] = await entries(database, scene, RESUMED)
    assert resumed["payload"]["moved_by_seconds"] == lost and f"moves by {lost} seconds" in resumed["payload"]["reason"]
    assert len(await entries(database, scene, PAUSED)) == 1

    with clock.travel(to=resumed_at + timedelta(minutes=1)):  # the remaining 4 minutes run again
        await quote(database, scene, 1, START + 6 * STEP)  # above the reserve
    final_end = (await stored_competition(database, scene)).ends_at
    with clock.travel(to=clock.ensure_utc(final_end) + timedelta(seconds=1)):
        async with database.transaction() as session:
            assert await price_bidding_close.close_due_competitions(session) == [scene.id]
    shown = await board(database, scene, reader=1)
    assert shown["result"] == "concluded" and shown["winner_number"] == shown["your_number"]
    async with database.reader() as session:
        assert (await session.get(Lot, scene.lot.id)).status == LotStatus.AWARDED  # type: ignore[union-attr]
        assert await session.scalar(sa.select(Award.id).where(Award.lot_id == scene.lot.id)) is not None
    await replay_matches(database)


async def test_the_dutch_clock_stands_still_while_suspended(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "dutch", bidders=2)
    start = scene.competition.starts_at
    await move_lot(database, scene, LotStatus.SUSPENDED, start + timedelta(seconds=150))  # two steps down
    before = await quote_count(database, scene)
    with clock.travel(to=start + timedelta(hours=1)):
        shown = await board(database, scene, reader=0)
        assert shown["current_price"] == str(Decimal("1200000.00") - 2 * STEP) and shown["suspended_at"]
        with pytest.raises(RuleViolation, match="no Dutch acceptance is taken") as refused:
            async with database.transaction() as session:
                await price_bidding_quotes.accept_dutch(session, scene.bidders[0], scene.id, DutchAccept())
    assert refused.value.rule == "competition_suspended" and await quote_count(database, scene) == before
    resumed_at = start + timedelta(hours=2)
    await move_lot(database, scene, LotStatus.BIDDING, resumed_at)
    with clock.travel(to=resumed_at + timedelta(seconds=70)):  # one more step down since the resume
        async with database.transaction() as session:
            bought = await price_bidding_quotes.accept_dutch(session, scene.bidders[1], scene.id, DutchAccept(
                expected_price=Decimal("1200000.00") - 3 * STEP))
    assert bought.amount == Decimal("1200000.00") - 3 * STEP
    shown = await board(database, scene, reader=1)
    assert shown["result"] == "concluded" and shown["final_price"] == str(bought.amount)
    await replay_matches(database)


async def test_a_suspension_before_the_start_moves_nothing(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    start, end = scene.competition.starts_at, scene.competition.ends_at
    await move_lot(database, scene, LotStatus.SUSPENDED, start - timedelta(days=2))
    await move_lot(database, scene, LotStatus.BIDDING, start - timedelta(days=1))
    assert clock.ensure_utc((await stored_competition(database, scene)).ends_at) == end
    [resumed] = await entries(database, scene, RESUMED)
    assert resumed["payload"]["moved_by_seconds"] == 0
    await move_lot(database, scene, LotStatus.SUSPENDED, start - timedelta(seconds=30))  # into the start
    await move_lot(database, scene, LotStatus.BIDDING, start + timedelta(seconds=90))
    moved = await stored_competition(database, scene)
    assert moved.paused_seconds in (90, 91) and clock.ensure_utc(moved.ends_at) == end + timedelta(
        seconds=moved.paused_seconds)  # only the time after the start counts
    await replay_matches(database)


async def test_a_suspension_after_the_end_finds_the_competition_closed(database: Database) -> None:
    """The close was due before the regulator acted: it is applied first, the lot is awarded,
    and the suspension is refused as for any awarded lot (and nothing of the attempt is kept)."""
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        await quote(database, scene, 0, START + 6 * STEP)
    ended = (await stored_competition(database, scene)).ends_at
    with pytest.raises(Conflict, match=f"lot {scene.lot.code} is awarded; it cannot become suspended"):
        await move_lot(database, scene, LotStatus.SUSPENDED, clock.ensure_utc(ended) + timedelta(seconds=20))
    assert await entries(database, scene, PAUSED) == []
    with clock.travel(to=clock.ensure_utc(ended) + timedelta(seconds=30)):
        shown = await board(database, scene)
    assert shown["result"] == "concluded" and shown["closed_at"] == clock.rfc3339(ended)
    await replay_matches(database)


async def test_a_listing_found_suspended_without_notice_is_paused_by_the_lazy_close(database: Database) -> None:
    """A lot suspended before competitions followed suspensions: the first read pauses it."""
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=2)
        lot = await session.get(Lot, scene.lot.id)
        lot.status = LotStatus.SUSPENDED  # type: ignore[union-attr]
    end = clock.ensure_utc(scene.competition.ends_at)
    found_at = end - timedelta(hours=1)
    with clock.travel(to=found_at):
        shown = await board(database, scene)
    assert shown["phase"] == "listing" and shown["suspended_at"]
    async with database.transaction() as session:
        lot = await session.get(Lot, scene.lot.id)
        lot.status = LotStatus.BIDDING  # type: ignore[union-attr]
    with clock.travel(to=end + timedelta(hours=1)):
        shown = await board(database, scene)
    assert shown["phase"] == "listing" and shown["suspended_at"] is None
    assert clock.parse_rfc3339(shown["ends_at"]) > end + timedelta(hours=1)  # moved by the two hours found paused
    await replay_matches(database)


async def test_a_quote_while_suspended_is_refused_over_http(runtime: Runtime, client: httpx.AsyncClient) -> None:
    from tests.web.test_price_bidding_http import token_for

    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=1)
    await move_lot(runtime.database, scene, LotStatus.SUSPENDED, scene.competition.starts_at + timedelta(seconds=5))
    bidder = await token_for(runtime, scene.bidders[0].user_id)  # type: ignore[arg-type]
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        refused = await client.post(f"/price-competitions/{scene.id}/quotes", headers=bidder,
                                    json={"amount": str(START)})
        accept = await client.post(f"/price-competitions/{scene.id}/dutch-acceptance", headers=bidder, json={})
    assert refused.status_code in (409, 422), refused.text
    assert "its lot is suspended" in refused.json()["detail"] and "no quote is taken" in refused.json()["detail"]
    assert accept.status_code in (409, 422) and "suspended" in accept.json()["detail"]
    assert await quote_count(runtime.database, scene) == 0


def test_entries_written_before_the_pause_columns_replay_with_the_migrations_defaults() -> None:
    """Competitions recorded before migration 0019 carry no ``suspended_at`` or ``paused_seconds``
    in their entries; their rows got NULL and 0, and replay reads the entries the same way."""
    from trading.price_bidding_events import apply_competition

    older = {"payload": {"competition": {"id": 7, "phase": "live"}, "changes": {}}}
    state = apply_competition(None, older)
    assert state is not None
    assert state["competition"] == {"id": 7, "phase": "live", "suspended_at": None, "paused_seconds": 0}


@pytest.mark.parametrize("suspended_first", [False, True])
async def test_a_cancelled_lot_ends_its_competition_without_a_sale(database: Database, suspended_first: bool) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    start, end = scene.competition.starts_at, scene.competition.ends_at
    with clock.travel(to=start + timedelta(minutes=1)):
        await quote(database, scene, 0, START + STEP)
    if suspended_first:
        await move_lot(database, scene, LotStatus.SUSPENDED, start + timedelta(minutes=2))
    with clock.travel(to=start + timedelta(minutes=3)):
        async with database.transaction() as session:
            lot = await session.get(Lot, scene.lot.id)
            await change_lot_status(session, scene.staff, lot, LotStatus.CANCELLED,  # type: ignore[arg-type]
                                    reason="the land was withdrawn from sale")
    ended = await stored_competition(database, scene)
    assert ended.phase == "closed" and ended.result == "terminated" and ended.suspended_at is None
    assert "the land was withdrawn from sale" in ended.result_reason and ended.winner_number is None
    [terminated] = await entries(database, scene, TERMINATED)
    assert "ends without a sale" in terminated["payload"]["reason"]
    with clock.travel(to=start + timedelta(minutes=4)), \
            pytest.raises(RuleViolation, match="has ended: the lot was cancelled .*no more quotes"):
        await quote(database, scene, 1, START + 3 * STEP)
    with clock.travel(to=clock.ensure_utc(end) + timedelta(hours=1)):  # the old end passes: nothing more happens
        async with database.transaction() as session:
            assert await price_bidding_close.close_due_competitions(session) == []
        assert (await board(database, scene, reader=1))["result"] == "terminated"
    async with database.reader() as session:
        assert (await session.get(Lot, scene.lot.id)).status == LotStatus.CANCELLED  # type: ignore[union-attr]
        assert await session.scalar(sa.select(Award.id).where(Award.lot_id == scene.lot.id)) is None
    await replay_matches(database)

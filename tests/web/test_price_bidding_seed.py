"""The demo seed shows price competitions on a fresh run: the land listing in its listing
period with two admitted bidders and their quotes, the state-property transfer's competition
set up before publication (and still lawful when it is published)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from core import clock
from core.blobs import BlobStore
from core.database import Database
from supervision.replay import check_stream
from trading import price_bidding, publication
from trading.models import Lot
from trading.notice_schemas import PublishTender
from trading.price_bidding_models import PriceCompetition, PriceQuote, PriceRegistration
from web.demo import demo_actor, seed_demo, seed_demo_tenders
from web.demo_tenders import LAND_START, LAND_STEP
from web.runtime import build_registry


async def test_the_seed_shows_a_running_listing_and_a_prepared_competition(database: Database, tmp_path: Path) -> None:
    async with database.transaction() as session:
        await seed_demo(session, pool_size=12)
    async with database.transaction() as session:
        projects, created = await seed_demo_tenders(session, BlobStore(tmp_path / "blobs"), tmp_path / "pki")
    assert created == 4
    async with database.transaction() as session:
        land = await session.scalar(sa.select(PriceCompetition).join(Lot, Lot.id == PriceCompetition.lot_id)
                                    .where(Lot.project_id == projects["land_mining"]))
        staff = await demo_actor(session, "staff")
        board = await price_bidding.read_competition(session, staff, land.id)  # type: ignore[union-attr]
        registrations = await session.scalar(sa.select(sa.func.count()).select_from(PriceRegistration).where(
            PriceRegistration.competition_id == land.id))  # type: ignore[union-attr]
        quotes = await session.scalar(sa.select(sa.func.count()).select_from(PriceQuote).where(
            PriceQuote.competition_id == land.id))  # type: ignore[union-attr]
    assert board["phase"] == "listing" and board["mode"] == "listing"
    assert board["current_price"] == str(LAND_START + 2 * LAND_STEP) and board["leader_number"]
    assert clock.parse_rfc3339(board["starts_at"]) < clock.utcnow() < clock.parse_rfc3339(board["ends_at"])
    assert registrations == 2 and quotes == 2 and board["reserve_commitment"] and board["reserve_price"] is None

    async with database.transaction() as session:
        state = await session.scalar(sa.select(PriceCompetition).join(Lot, Lot.id == PriceCompetition.lot_id)
                                     .where(Lot.project_id == projects["state_property"]))
        assert state is not None and state.mode == "multi_round" and state.phase == "round"
        tenderer = await demo_actor(session, "tenderer")
        await publication.publish_tender(session, tenderer, projects["state_property"], PublishTender())
    async with database.reader() as session:
        registry = build_registry()
        for competition_id in (land.id, state.id):  # type: ignore[union-attr]
            assert (await check_stream(session, registry, f"competition:{competition_id}")).matches
        for project_id in projects.values():
            assert (await check_stream(session, registry, f"project:{project_id}")).matches

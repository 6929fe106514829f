"""A competition that ends with no valid quote, or below the reserve, fails its lot and publishes
the failed-sale notice (流拍公告) in the same step: once, whichever path applies the close
(a read, the periodic task, the live channel's timer, several at once), in the public feed
(JSON and Atom) and in OCDS; the project and competition streams still replay exactly."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import httpx
import sqlalchemy as sa

from core import clock
from core.actors import Role
from core.database import Database
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.test_price_bidding_publication import (
    draft_land_listing,
    listing_setup,
)
from tests.trading.walk_price_bidding import START, STEP, Scene, admitted_bidder
from trading import (
    price_bidding,
    price_bidding_close,
    price_bidding_quotes,
    price_bidding_rules,
    price_bidding_setup,
    publication,
)
from trading.models import Lot, Notice
from trading.notice_schemas import PublishTender
from trading.ocds_publish import project_releases
from trading.price_bidding_models import PriceCompetition
from trading.price_bidding_schemas import QuoteIn
from trading.states import LotStatus, NoticeKind
from web.routes_price_bidding import _close_when_due
from web.runtime import Runtime, build_registry

ATOM = "{http://www.w3.org/2005/Atom}"


async def published_listing(database: Database) -> Scene:
    """A land listing made through the services (so its project stream replays), published,
    with two admitted bidders; its reserve is the starting price plus one increment."""
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
        project, lot = await draft_land_listing(session, tenderer, now)
        competition = await price_bidding_setup.set_up_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]
        await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
        scene = Scene(project, await session.get(Lot, lot.id), tenderer, staff, competition)  # type: ignore[arg-type]
        for _ in range(2):
            await admitted_bidder(session, scene)
    return scene


async def failed_notices(database: Database, scene: Scene) -> list[Notice]:
    async with database.reader() as session:
        return list(await session.scalars(sa.select(Notice).where(
            Notice.lot_id == scene.lot.id, Notice.kind == NoticeKind.FAILED)))


async def streams_replay(database: Database, scene: Scene) -> None:
    async with database.reader() as session:
        registry = build_registry()
        for stream in (f"project:{scene.project.id}", f"competition:{scene.id}"):
            check = await check_stream(session, registry, stream)
            assert check.matches, (stream, check)


async def test_no_valid_quote_publishes_the_failed_sale_notice_once(database: Database) -> None:
    scene = await published_listing(database)
    with clock.travel(to=scene.competition.ends_at + timedelta(minutes=2)):
        async with database.transaction() as session:
            assert await price_bidding_close.close_due_competitions(session) == [scene.id]  # the periodic task
        for _ in range(2):  # later reads and runs find it closed: nothing more is published
            async with database.transaction() as session:
                await price_bidding.read_competition(session, scene.bidders[0], scene.id)
            async with database.transaction() as session:
                assert await price_bidding_close.close_due_competitions(session) == []
        async with database.transaction() as session:  # the close's own step, repeated, publishes nothing
            competition = await session.get(PriceCompetition, scene.id)
            await price_bidding_close.fail_lot(session, None, competition)  # type: ignore[arg-type]
    [notice] = await failed_notices(database, scene)
    assert notice.title == f"Failed sale notice (流拍公告): lot {scene.lot.code}"
    assert "without a sale (流拍): no valid quote was made" in notice.body and "reserve" not in notice.body
    assert notice.details["case"] == "no_valid_quote" and notice.details["competition_id"] == scene.id
    assert notice.published_by is None  # the platform publishes it, whoever applied the close
    async with database.reader() as session:
        assert (await session.get(Lot, scene.lot.id)).status == LotStatus.FAILED  # type: ignore[union-attr]
    await streams_replay(database, scene)


async def test_below_the_reserve_the_notice_reveals_the_reserve_in_the_feed_and_ocds(
        database: Database, client: httpx.AsyncClient) -> None:
    scene = await published_listing(database)
    with clock.travel(to=scene.competition.starts_at + timedelta(hours=1)):
        async with database.transaction() as session:
            await price_bidding_quotes.submit_quote(session, scene.bidders[0], scene.id, QuoteIn(amount=START))
    with clock.travel(to=scene.competition.ends_at + timedelta(seconds=1)):
        async with database.transaction() as session:  # the lazy close of a read
            shown = await price_bidding.read_competition(session, scene.bidders[1], scene.id)
    assert shown["result"] == "failed"
    [notice] = await failed_notices(database, scene)
    reserve = START + STEP
    assert f"the highest valid quote {START}" in notice.body and f"below the reserve price {reserve}" in notice.body
    assert notice.details["case"] == "below_reserve" and Decimal(notice.details["reserve_price"]) == reserve
    assert price_bidding_rules.verify_commitment(notice.details["reserve_price"], notice.details["reserve_salt"],
                                                 notice.details["reserve_commitment"])
    assert notice.details["reserve_commitment"] == shown["reserve_commitment"]  # the one recorded at setup

    listed = (await client.get("/notices", params={"kind": "failed", "project": scene.project.id})).json()["items"]
    assert [item["id"] for item in listed] == [notice.id] and listed[0]["details"]["case"] == "below_reserve"
    feed = ET.fromstring((await client.get("/notices.atom", params={"kind": "failed"})).content)
    assert [entry.findtext(f"{ATOM}title") for entry in feed.findall(f"{ATOM}entry")] == [notice.title]
    async with database.reader() as session:
        releases = await project_releases(session, scene.project.id)
    failed = [release for release in releases if release["id"].endswith(f"failed-{notice.id}")]
    assert len(failed) == 1 and failed[0]["tag"] == ["tenderUpdate"]
    assert failed[0]["tender"]["lots"][0]["status"] == "unsuccessful"
    await streams_replay(database, scene)


async def test_every_close_path_at_once_publishes_one_notice(database: Database, runtime: Runtime) -> None:
    """The periodic task, a bidder's read and the live channel's timer all apply the close."""
    scene = await published_listing(database)
    with clock.travel(to=scene.competition.ends_at + timedelta(seconds=3)):
        async def periodic() -> list[int]:
            async with database.transaction() as session:
                return await price_bidding_close.close_due_competitions(session)

        async def read() -> dict:
            async with database.transaction() as session:
                return await price_bidding.read_competition(session, scene.bidders[0], scene.id)

        outcomes = await asyncio.gather(periodic(), read(), _close_when_due(runtime, scene.staff, scene.id),
                                        periodic(), return_exceptions=True)
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert len(await failed_notices(database, scene)) == 1
    await streams_replay(database, scene)

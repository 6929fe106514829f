"""Every refusal of price competitions: a clear error naming what is wrong, and nothing stored."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import clock
from core.actors import Role
from core.database import Database
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from supervision.ledger.models import LedgerEntry
from tests.factories import actor_of, make_user
from tests.trading.factories import open_lot
from tests.trading.test_price_bidding import quote
from tests.trading.walk_price_bidding import (
    BOND,
    START,
    STEP,
    admitted_bidder,
    competition_scene,
    setup_data,
)
from trading import parties, price_bidding, price_bidding_setup
from trading.bid_schemas import CreditRecordCreate
from trading.price_bidding_models import PriceCompetition, PriceQuote, PriceRegistration
from trading.states import CreditKind, Segment


async def stored(database: Database) -> tuple[int, int, int, int]:
    async with database.reader() as session:
        counts = [await session.scalar(sa.select(sa.func.count()).select_from(model))
                  for model in (LedgerEntry, PriceCompetition, PriceRegistration, PriceQuote)]
    return tuple(int(c or 0) for c in counts)  # type: ignore[return-value]


@pytest.mark.parametrize(("amount", "message"), [
    (START + STEP, r"below 1030000.00 \(the current price 1020000.00 plus the increment 10000.00\)"),
    (START + Decimal("35000.00"), "not the starting price 1000000.00 plus a whole number of increments of 10000.00"),
])
async def test_quote_too_low_or_off_the_steps(database: Database, amount: Decimal, message: str) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing")
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        await quote(database, scene, 0, START + 2 * STEP)
        before = await stored(database)
        with pytest.raises(InvalidInput, match=message) as refused:
            await quote(database, scene, 1, amount)
    assert refused.value.errors[0].pointer == "$.amount"
    assert await stored(database) == before


async def test_quote_before_registration_and_without_verified_bond(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=0)
        unregistered = await admitted_bidder(session, scene, register=False)
        unverified = await admitted_bidder(session, scene, verified=False, register=False)
        no_bond = actor_of(await make_user(session, Role.BIDDER))
    before = await stored(database)
    with clock.travel(to=scene.competition.starts_at + timedelta(minutes=1)):
        with pytest.raises(RuleViolation, match="not registered for competition"):
            await quote(database, scene, 0, START)
    with pytest.raises(RuleViolation, match="is not yet verified by centre staff"):
        async with database.transaction() as session:
            await price_bidding.register(session, unverified, scene.id)
    with pytest.raises(RuleViolation, match="no bid bond of your party is recorded"):
        async with database.transaction() as session:
            await price_bidding.register(session, no_bond, scene.id)
    assert unregistered and await stored(database) == before


async def test_blacklisted_party_is_not_admitted(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=0)
        bidder = await admitted_bidder(session, scene, register=False)
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        await parties.record_credit(session, regulator, bidder.party_id, CreditRecordCreate(  # type: ignore[arg-type]
            kind=CreditKind.BLACKLIST, reason="collusion in an earlier auction", authority="Fuzhou NRB",
            start_date=date.today() - timedelta(days=1)))
    before = await stored(database)
    with pytest.raises(RuleViolation, match="blacklisted by Fuzhou NRB .*collusion in an earlier auction"):
        async with database.transaction() as session:
            await price_bidding.register(session, bidder, scene.id)
    assert await stored(database) == before


async def test_names_are_refused_to_bidders(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing")
    with pytest.raises(PermissionDenied):
        async with database.transaction() as session:
            await price_bidding.read_bidders(session, scene.bidders[0], scene.id)
    async with database.transaction() as session:
        names = await price_bidding.read_bidders(session, scene.staff, scene.id)
    assert len(names) == 2 and all(row["party_name"] and row["bidder_number"] for row in names)


@pytest.mark.parametrize(("changes", "pointer", "message"), [
    ({"reserve_price": START - STEP}, "$.reserve_price", "is below the starting price"),
    ({"increment": Decimal("0")}, "$.increment", "the bid step must be above 0"),
    ({"increment": Decimal("-5.00")}, "$.increment", "the bid step must be above 0"),
    ({"ends_at": None}, "$.ends_at", "required for mode listing"),
    ({"countdown_seconds": 5}, "$.countdown_seconds", "outside 30..3600"),
])
async def test_setup_refuses_bad_values(database: Database, changes: dict, pointer: str, message: str) -> None:
    async with database.transaction() as session:
        opened = await open_lot(session, segment=Segment.LAND_MINING, procedure="listing", custodian_fallback=False,
                                bid_bond_amount=BOND)
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    before = await stored(database)
    with pytest.raises(InvalidInput, match=message) as refused:
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id, setup_data(  # type: ignore[arg-type]
                "listing", clock.utcnow(), **changes))
    assert refused.value.errors[0].pointer == pointer
    assert await stored(database) == before


async def test_setup_refuses_a_listing_shorter_than_the_rule(database: Database) -> None:
    async with database.transaction() as session:
        opened = await open_lot(session, segment=Segment.LAND_MINING, procedure="listing", custodian_fallback=False)
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    now = clock.utcnow()
    data = setup_data("listing", now)
    data.ends_at = data.starts_at + timedelta(days=3)
    with pytest.raises(RuleViolation, match=r"land_mining.listing.listing_period: at least 10 working days") as refused:
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id, data)  # type: ignore[arg-type]
    assert "listing_period" in refused.value.rule
    data = setup_data("listing", now, starts_at=now + timedelta(days=5))
    with pytest.raises(RuleViolation, match="notice_period: at least 20 days"):
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id, data)  # type: ignore[arg-type]
    assert (await stored(database))[1] == 0


async def test_no_competition_on_a_construction_tender(database: Database) -> None:
    async with database.transaction() as session:
        opened = await open_lot(session, custodian_fallback=False)
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    with pytest.raises(RuleViolation, match="construction.open_tender, which has no price competition; price "
                                            "competitions exist for land_mining.listing: listing"):
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id,  # type: ignore[arg-type]
                                                   setup_data("listing", clock.utcnow()))
    assert (await stored(database))[1] == 0


async def test_a_second_registration_and_a_second_competition_are_refused(database: Database) -> None:
    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=1)
    with pytest.raises(Conflict, match="already registered for competition .* with bidder number"):
        async with database.transaction() as session:
            await price_bidding.register(session, scene.bidders[0], scene.id)
    with pytest.raises(Conflict, match="already has a price competition"):
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, scene.staff, scene.lot.id,  # type: ignore[arg-type]
                                                   setup_data("listing", clock.utcnow()))


async def test_state_property_bidding_waits_for_the_disclosure(database: Database) -> None:
    async with database.transaction() as session:
        opened = await open_lot(session, segment=Segment.STATE_PROPERTY, procedure="listing_sealed_quote",
                                custodian_fallback=False)
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    now = clock.utcnow()
    data = setup_data("sealed_quote", now, starts_at=now + timedelta(days=7), ends_at=now + timedelta(days=8))
    with pytest.raises(RuleViolation, match="disclosure_period: at least 20 working days"):
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id, data)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="mode 'dutch' is not used by state_property.listing_sealed_quote"):
        async with database.transaction() as session:
            await price_bidding_setup.set_up_competition(session, staff, opened.lot.id,  # type: ignore[arg-type]
                                                   setup_data("dutch", now))
    assert (await stored(database))[1] == 0


async def test_a_lot_sold_by_competition_takes_no_sealed_bid_and_no_opening(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trading import opening, uploads
    from trading.bid_schemas import UploadCreate
    from trading.opening_schemas import OpeningStart

    async with database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=1)
    before = await stored(database)
    async with database.transaction() as session:
        with pytest.raises(RuleViolation, match="sold by price competition") as refused:
            await uploads.create_upload(session, scene.bidders[0], scene.lot.id, UploadCreate(size=1000, sha256="0" * 64),
                                        max_bytes=10_000, spool=uploads.UploadSpool(tmp_path))
    assert refused.value.rule == "lot_sold_by_price_competition"
    with clock.travel(to=scene.lot.bid_deadline + timedelta(seconds=1)):  # type: ignore[operator]
        async with database.transaction() as session:
            with pytest.raises(RuleViolation, match="an opening of sealed bids"):
                await opening.start_opening(session, scene.staff, scene.lot.id, OpeningStart())
    assert await stored(database) == before

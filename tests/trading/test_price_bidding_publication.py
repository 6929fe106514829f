"""A competition set up before publication is checked again at the real publication (the
notice, listing and disclosure periods run from it); and on a project made through the
services, the project's stream replays exactly through the competition's deal."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import clock
from core.actors import Actor, Role
from core.database import Database
from core.errors import NotFound, RuleViolation
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.walk_price_bidding import BOND, START, STEP, Scene, admitted_bidder
from trading import (
    price_bidding,
    price_bidding_quotes,
    price_bidding_setup,
    projects,
    publication,
)
from trading.award_models import Award, AwardStatus
from trading.models import Lot, Notice, Project
from trading.notice_schemas import PublishTender
from trading.price_bidding_schemas import CompetitionSetup, QuoteIn
from trading.schemas import LotCreate, ProjectCreate, TimetableIn
from trading.states import LotStatus, Procedure, ProjectStatus, Segment
from web.runtime import build_registry


async def draft_land_listing(session, tenderer: Actor, now: datetime) -> tuple[Project, Lot]:  # type: ignore[no-untyped-def]
    """A land listing project with one draft lot whose own timetable keeps the rules for weeks."""
    project = await projects.create_project(session, tenderer, ProjectCreate(
        title="Grant of Land Use Right, Parcel T-1", segment=Segment.LAND_MINING, procedure=Procedure.LISTING,
        region_code="350104", industry="land"))
    deadline = now + timedelta(days=70)
    lot = await projects.add_lot(session, tenderer, project.id, LotCreate(  # type: ignore[arg-type]
        title="Parcel T-1, residential", budget=Decimal("1000000.00"), evaluation_method="highest_price",
        evaluation_parameters={}, bid_bond_amount=BOND, custodian_fallback=False,
        timetable=TimetableIn(documents_from=now + timedelta(days=30), documents_until=deadline,
                              bid_deadline=deadline, opening_at=deadline)))
    return project, lot


def listing_setup(now: datetime) -> CompetitionSetup:
    """A listing 21 days after ``now`` (the land notice needs 20), for 29 days."""
    return CompetitionSetup(mode="listing", starting_price=START, increment=STEP, reserve_price=START + STEP,
                            starts_at=now + timedelta(days=21), ends_at=now + timedelta(days=50))


async def ledger_size(database: Database) -> int:
    async with database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0)


async def test_publication_rechecks_a_competition_set_up_before_it(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        project, lot = await draft_land_listing(session, tenderer, now)
        await price_bidding_setup.set_up_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]
    before = await ledger_size(database)
    with clock.travel(to=now + timedelta(days=3)):  # 18 days before the listing: the notice comes too late
        async with database.transaction() as session:
            with pytest.raises(RuleViolation) as refused:
                await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    assert "notice_period" in refused.value.rule and "price competition" in str(refused.value)
    assert lot.code in str(refused.value)
    async with database.reader() as session:  # nothing stored
        assert (await session.get(Project, project.id)).status == ProjectStatus.DRAFT  # type: ignore[union-attr]
        assert (await session.get(Lot, lot.id)).status == LotStatus.DRAFT  # type: ignore[union-attr]
        assert await session.scalar(sa.select(Notice.id).where(Notice.project_id == project.id)) is None
    assert await ledger_size(database) == before
    with clock.travel(to=now + timedelta(hours=2)):  # published in time, the same competition is lawful
        async with database.transaction() as session:
            notice = await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    assert notice.kind == "tender"


async def test_a_state_property_disclosure_is_counted_from_the_publication(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        project = await projects.create_project(session, tenderer, ProjectCreate(
            title="Transfer of shares T-2", segment=Segment.STATE_PROPERTY, procedure=Procedure.LISTING_SEALED_QUOTE,
            region_code="350100", industry="state_property"))
        deadline = now + timedelta(days=90)
        lot = await projects.add_lot(session, tenderer, project.id, LotCreate(  # type: ignore[arg-type]
            title="20% equity", budget=Decimal("1000000.00"), evaluation_method="highest_price",
            evaluation_parameters={}, custodian_fallback=False,
            timetable=TimetableIn(documents_from=now + timedelta(days=26), documents_until=deadline,
                                  bid_deadline=deadline, opening_at=deadline)))
        await price_bidding_setup.set_up_competition(session, tenderer, lot.id, CompetitionSetup(  # type: ignore[arg-type]
            mode="sealed_quote", starting_price=START, increment=STEP, starts_at=now + timedelta(days=40),
            ends_at=now + timedelta(days=41)))
    with clock.travel(to=now + timedelta(days=25)):  # 15 days left: fewer than 20 working days
        async with database.transaction() as session:
            with pytest.raises(RuleViolation, match="price competition") as refused:
                await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    assert "disclosure_period" in refused.value.rule
    async with database.reader() as session:
        assert (await session.get(Lot, lot.id)).status == LotStatus.DRAFT  # type: ignore[union-attr]


async def test_the_project_stream_replays_through_the_deal(database: Database) -> None:
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
    with clock.travel(to=competition.starts_at + timedelta(days=1)):
        async with database.transaction() as session:
            await price_bidding_quotes.submit_quote(session, scene.bidders[0], scene.id, QuoteIn(amount=START + STEP))
            await price_bidding_quotes.submit_quote(session, scene.bidders[1], scene.id,
                                                    QuoteIn(amount=START + 3 * STEP))
    with clock.travel(to=competition.ends_at + timedelta(seconds=1)):
        async with database.transaction() as session:
            shown = await price_bidding.read_competition(session, scene.bidders[1], scene.id)
    assert shown["result"] == "concluded" and shown["you_lead"] is True
    async with database.reader() as session:
        assert (await session.get(Lot, lot.id)).status == LotStatus.AWARDED  # type: ignore[union-attr]
        row = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
        assert row.status == AwardStatus.CONCLUDED and row.price == START + 3 * STEP  # type: ignore[union-attr]
        registry = build_registry()
        for stream in (f"project:{project.id}", f"award:{lot.id}", f"competition:{scene.id}"):
            check = await check_stream(session, registry, stream)
            assert check.matches, (stream, check)


async def test_a_draft_lots_competition_is_amended_so_a_late_publication_keeps_the_rules(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        project, lot = await draft_land_listing(session, tenderer, now)
        first = await price_bidding_setup.set_up_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]
        first_commitment = first.reserve_commitment
    later = now + timedelta(days=3)  # too late for the first terms (see the test above)
    with clock.travel(to=later):
        async with database.transaction() as session:
            amended = await price_bidding_setup.amend_competition(session, tenderer, lot.id, listing_setup(later))  # type: ignore[arg-type]
        assert amended.id == first.id and amended.starts_at == clock.ensure_utc(listing_setup(later).starts_at)
        assert amended.reserve_commitment != first_commitment  # a new salt: the old commitment says nothing now
        async with database.transaction() as session:
            await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    async with database.reader() as session:
        assert (await check_stream(session, build_registry(), f"competition:{first.id}")).matches
        types = list(await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == f"competition:{first.id}").order_by(LedgerEntry.seq)))
    assert types == ["trading.competition_set_up", "trading.competition_amended"]


async def test_a_published_lots_competition_is_not_amended(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        project, lot = await draft_land_listing(session, tenderer, now)
        competition = await price_bidding_setup.set_up_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]
        await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    before = await ledger_size(database)
    changed = listing_setup(now).model_copy(update={"starting_price": START + STEP})
    async with database.transaction() as session:
        with pytest.raises(RuleViolation, match="only before publication") as refused:
            await price_bidding_setup.amend_competition(session, tenderer, lot.id, changed)  # type: ignore[arg-type]
    assert refused.value.rule == "price_competition_amend_before_publication"
    assert await ledger_size(database) == before
    async with database.reader() as session:
        assert (await session.get(type(competition), competition.id)).starting_price == START  # type: ignore[union-attr]


async def test_an_amendment_breaking_the_rules_changes_nothing(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        _, lot = await draft_land_listing(session, tenderer, now)
        competition = await price_bidding_setup.set_up_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]
    before = await ledger_size(database)
    too_soon = CompetitionSetup(mode="listing", starting_price=START, increment=STEP,
                                starts_at=now + timedelta(days=5), ends_at=now + timedelta(days=30))
    async with database.transaction() as session:
        with pytest.raises(RuleViolation, match="notice"):
            await price_bidding_setup.amend_competition(session, tenderer, lot.id, too_soon)  # type: ignore[arg-type]
    assert await ledger_size(database) == before
    async with database.reader() as session:
        stored = await session.get(type(competition), competition.id)
        assert stored.starts_at == competition.starts_at and stored.reserve_commitment == competition.reserve_commitment  # type: ignore[union-attr]


async def test_amending_a_lot_without_a_competition_says_so(database: Database) -> None:
    now = clock.utcnow()
    async with database.transaction() as session:
        tenderer = actor_of(await make_user(session, Role.TENDERER))
        _, lot = await draft_land_listing(session, tenderer, now)
        with pytest.raises(NotFound, match="no price competition"):
            await price_bidding_setup.amend_competition(session, tenderer, lot.id, listing_setup(now))  # type: ignore[arg-type]

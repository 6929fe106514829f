"""Permission-walk entries of price competitions (merged by tests/identities/test_permissions.py),
and the scene builders the price-bidding tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor, Role
from tests.factories import actor_of, make_user
from tests.trading.factories import open_lot
from trading import bid_bonds, price_bidding, price_bidding_quotes, price_bidding_setup
from trading.bid_schemas import BondRecord
from trading.bid_states import BondForm
from trading.models import Lot, Project
from trading.price_bidding_models import PriceCompetition
from trading.price_bidding_schemas import (
    CompetitionSetup,
    DutchAccept,
    LiveDeclaration,
    QuoteIn,
)
from trading.states import LotStatus, Segment

BOND = Decimal("100000.00")
START = Decimal("1000000.00")
STEP = Decimal("10000.00")
RESERVE = Decimal("1050000.00")

PROCEDURE_OF = {"listing": (Segment.LAND_MINING, "listing"), "auction": (Segment.LAND_MINING, "auction"),
                "multi_round": (Segment.STATE_PROPERTY, "listing_multi_round"),
                "sealed_quote": (Segment.STATE_PROPERTY, "listing_sealed_quote"),
                "dutch": (Segment.STATE_PROPERTY, "listing_dutch")}


@dataclass
class Scene:
    project: Project
    lot: Lot
    tenderer: Actor
    staff: Actor
    competition: PriceCompetition
    bidders: list[Actor] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.competition.id  # type: ignore[return-value]


def setup_data(mode: str, now: datetime, **changes: Any) -> CompetitionSetup:
    """Times that satisfy the rules: land notice 20 days, listing 10 working days; state-property
    disclosure 20 working days (40 calendar days are more than enough whatever the holidays)."""
    starts_at = now + timedelta(days=25 if PROCEDURE_OF[mode][0] == Segment.LAND_MINING else 40)
    fields: dict[str, Any] = {"mode": mode, "starting_price": START, "increment": STEP, "reserve_price": RESERVE,
                              "starts_at": starts_at}
    if mode == "listing":
        fields.update(ends_at=starts_at + timedelta(days=21), countdown_seconds=300)
    elif mode == "auction":
        fields.update(ends_at=starts_at + timedelta(minutes=10), countdown_seconds=300)
    elif mode == "sealed_quote":
        fields.update(ends_at=starts_at + timedelta(days=1))
    elif mode == "multi_round":
        fields.update(round_seconds=600)
    else:
        fields.update(starting_price=Decimal("1200000.00"), reserve_price=RESERVE, dutch_interval_seconds=60,
                      dutch_floor_price=Decimal("1000000.00"))
    fields.update(changes)
    return CompetitionSetup(**fields)


async def admitted_bidder(session: AsyncSession, scene: Scene, *, verified: bool = True,
                          register: bool = True) -> Actor:
    bidder = actor_of(await make_user(session, Role.BIDDER))
    bond = await bid_bonds.record_bid_bond(session, bidder, scene.lot.id, BondRecord(  # type: ignore[arg-type]
        form=BondForm.GUARANTEE, reference=f"G-{bidder.user_id}", amount=BOND))
    if verified:
        await bid_bonds.verify_bid_bond(session, scene.staff, bond.id)  # type: ignore[arg-type]
    if register:
        await price_bidding.register(session, bidder, scene.id)
    scene.bidders.append(bidder)
    return bidder


async def competition_scene(session: AsyncSession, mode: str = "listing", *, bidders: int = 2,
                            **changes: Any) -> Scene:
    """A published lot of the mode's segment with its competition set up by centre staff and
    ``bidders`` admitted bidders (registered now, before any start)."""
    segment, procedure = PROCEDURE_OF[mode]
    now = clock.utcnow()
    opened = await open_lot(session, segment=segment, procedure=procedure, custodian_fallback=False,
                            deadline=now + timedelta(days=60), ceiling_price=None, bid_bond_amount=BOND)
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    competition = await price_bidding_setup.set_up_competition(session, staff, opened.lot.id,  # type: ignore[arg-type]
                                                         setup_data(mode, now, **changes))
    scene = Scene(opened.project, opened.lot, opened.tenderer, staff, competition)
    for _ in range(bidders):
        await admitted_bidder(session, scene)
    return scene


# --- the walk -----------------------------------------------------------------------------------


async def _as_bidder(session: AsyncSession, actor: Actor, mode: str, act: Callable[[Scene], Awaitable[Any]],
                     *, register: bool = True, at_start: bool = True) -> Any:
    """A scene where ``actor`` (a bidder, if it is one) holds a verified bond and is registered."""
    scene = await competition_scene(session, mode, bidders=1)
    if actor.has_any({Role.BIDDER}):
        bond = await bid_bonds.record_bid_bond(session, actor, scene.lot.id, BondRecord(  # type: ignore[arg-type]
            form=BondForm.GUARANTEE, reference=f"W-{actor.user_id}", amount=BOND))
        await bid_bonds.verify_bid_bond(session, scene.staff, bond.id)  # type: ignore[arg-type]
        if register:
            await price_bidding.register(session, actor, scene.id)
    if not at_start:
        return await act(scene)
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=1)):
        return await act(scene)


async def _set_up(session: AsyncSession, actor: Actor) -> Any:
    now = clock.utcnow()
    opened = await open_lot(session, segment=Segment.LAND_MINING, procedure="listing", custodian_fallback=False,
                            deadline=now + timedelta(days=60), ceiling_price=None, bid_bond_amount=BOND)
    if actor.has_any({Role.TENDERER}):
        opened.project.tenderer_party_id = actor.party_id  # type: ignore[assignment]
    if actor.has_any({Role.AGENCY}):
        opened.project.agency_party_id = actor.party_id
    session.add(opened.project)
    await session.flush()
    return await price_bidding_setup.set_up_competition(session, actor, opened.lot.id, setup_data("listing", now))  # type: ignore[arg-type]


async def _amend(session: AsyncSession, actor: Actor) -> Any:
    """A draft land lot's competition, set up by staff, whose terms ``actor`` changes."""
    now = clock.utcnow()
    opened = await open_lot(session, segment=Segment.LAND_MINING, procedure="listing", custodian_fallback=False,
                            deadline=now + timedelta(days=60), ceiling_price=None, bid_bond_amount=BOND)
    opened.lot.status = LotStatus.DRAFT
    if actor.has_any({Role.TENDERER}):
        opened.project.tenderer_party_id = actor.party_id  # type: ignore[assignment]
    if actor.has_any({Role.AGENCY}):
        opened.project.agency_party_id = actor.party_id
    session.add_all([opened.project, opened.lot])
    await session.flush()
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    await price_bidding_setup.set_up_competition(session, staff, opened.lot.id, setup_data("listing", now))  # type: ignore[arg-type]
    later = setup_data("listing", now + timedelta(days=1))
    return await price_bidding_setup.amend_competition(session, actor, opened.lot.id, later)  # type: ignore[arg-type]


async def _deal(session: AsyncSession, actor: Actor) -> Any:
    """A concluded Dutch sale; ``actor`` is its buyer (bidder) or the project's tenderer or agency."""
    async def accept_and_read(scene: Scene) -> Any:
        buyer = actor if actor.has_any({Role.BIDDER}) else scene.bidders[0]
        await price_bidding_quotes.accept_dutch(session, buyer, scene.id, DutchAccept())
        if actor.has_any({Role.TENDERER, Role.AGENCY}):
            scene.project.tenderer_party_id = actor.party_id  # type: ignore[assignment]
            session.add(scene.project)
            await session.flush()
        return await price_bidding.read_deal_confirmation(session, actor, scene.id)

    return await _as_bidder(session, actor, "dutch", accept_and_read)


async def concluded_sale(session: AsyncSession, scene: Scene, buyer: int = 0) -> None:
    """Bidder ``buyer`` accepts the Dutch start price: the competition closes concluded (run it
    with the clock at or after ``scene.competition.starts_at``)."""
    await price_bidding_quotes.accept_dutch(session, scene.bidders[buyer], scene.id, DutchAccept())


def play_project_side(scene: Scene, actor: Actor) -> None:
    """``actor``'s party becomes the project's tenderer or agency, as its role says."""
    if actor.has_any({Role.TENDERER}):
        scene.project.tenderer_party_id = actor.party_id  # type: ignore[assignment]
    if actor.has_any({Role.AGENCY}):
        scene.project.agency_party_id = actor.party_id


async def _issue_deal_notice(session: AsyncSession, actor: Actor) -> Any:
    """A concluded Dutch sale whose deal notice ``actor`` issues (its party the project side)."""
    from tests.trading.award_factories import blob_store, demo_seal
    from trading import award_notice

    seal = demo_seal()  # made (and cached) at the real time, before the clock moves to the sale

    async def issue(scene: Scene) -> Any:
        play_project_side(scene, actor)
        session.add(scene.project)
        await concluded_sale(session, scene)
        return await award_notice.issue_deal_notice(session, actor, scene.lot.id, blobs=blob_store(),  # type: ignore[arg-type]
                                                    seal=seal)

    return await _as_bidder(session, actor, "dutch", issue, register=False)


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "trading.set_up_price_competition": _set_up,
    "trading.amend_price_competition": lambda s, a: _amend(s, a),
    "trading.register_for_price_competition": lambda s, a: _as_bidder(
        s, a, "listing", lambda scene: price_bidding.register(s, a, scene.id), register=False, at_start=False),
    "trading.submit_price_quote": lambda s, a: _as_bidder(
        s, a, "listing", lambda scene: price_bidding_quotes.submit_quote(s, a, scene.id, QuoteIn(amount=START))),
    "trading.declare_live_bidding": lambda s, a: _as_bidder(
        s, a, "listing", lambda scene: price_bidding_quotes.declare_live(s, a, scene.id, LiveDeclaration())),
    "trading.accept_dutch_price": lambda s, a: _as_bidder(
        s, a, "dutch", lambda scene: price_bidding_quotes.accept_dutch(s, a, scene.id, DutchAccept())),
    "trading.read_price_competition": lambda s, a: _as_bidder(
        s, a, "listing", lambda scene: price_bidding.read_competition(s, a, scene.id), register=False),
    "trading.read_price_competition_bidders": lambda s, a: _as_bidder(
        s, a, "listing", lambda scene: price_bidding.read_bidders(s, a, scene.id), register=False),
    "trading.read_deal_confirmation": _deal,
    "trading.issue_deal_notice": _issue_deal_notice,
}

"""Setting up a lot's price competition: its mode, prices and times, checked against the
rule tables, and its secret reserve price.

The project's tenderer or agency, or centre staff, set it up before or at publication. The
reserve price is kept in ``PriceSecret``; the setup entry records only its salted SHA-256
commitment, which the result reveals (docs/price-bidding.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor
from core.errors import Conflict, FieldError, InvalidInput, NotFound, RuleViolation
from core.usecases import use_case
from trading import price_bidding_close as closing
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading.models import Lot, Notice, Project
from trading.price_bidding_models import PriceCompetition, PriceSecret
from trading.price_bidding_schemas import CompetitionSetup
from trading.projects import PUBLISHERS, get_lot_row, require_manager
from trading.states import LotStatus, NoticeKind

SETUP_STATUSES = (LotStatus.DRAFT, LotStatus.BIDDING)


@use_case("trading.set_up_price_competition", PUBLISHERS)
async def set_up_competition(session: AsyncSession, actor: Actor, lot_id: int, data: CompetitionSetup) -> PriceCompetition:
    lot, project = await _managed_lot(session, actor, lot_id)
    if lot.status not in SETUP_STATUSES:
        raise RuleViolation(f"lot {lot.code} is {lot.status}; a price competition is set up before or at its "
                            "publication, while it is draft or bidding", rule="price_competition_lot_status")
    now = clock.utcnow()
    times = await _checked_terms(session, project, lot, data, now)
    if await session.scalar(sa.select(PriceCompetition.id).where(PriceCompetition.lot_id == lot_id)) is not None:
        raise Conflict(f"lot {lot.code} already has a price competition; while the lot is a draft, change it with "
                       "PUT /lots/{lot_id}/price-competition")
    competition = _new_competition(lot_id, data, times, actor, now)
    session.add(competition)
    await session.flush()
    await events.record(session, actor, competition, events.SET_UP, lot_code=lot.code,
                        reserve=_keep_reserve(session, competition, data))
    return competition


@use_case("trading.amend_price_competition", PUBLISHERS)
async def amend_competition(session: AsyncSession, actor: Actor, lot_id: int, data: CompetitionSetup) -> PriceCompetition:
    """Replace the terms of a draft lot's competition (mode, prices, times, reserve), e.g. when
    publication comes later than planned and the legal periods no longer fit. Once the lot is
    published its terms are those of the notice and stay; nobody can have registered before."""
    lot, project = await _managed_lot(session, actor, lot_id)
    competition = await session.scalar(
        sa.select(PriceCompetition).where(PriceCompetition.lot_id == lot_id).with_for_update())
    if competition is None:
        raise NotFound(f"lot {lot.code} has no price competition to change; set one up with "
                       "POST /lots/{lot_id}/price-competition")
    if lot.status != LotStatus.DRAFT:
        raise RuleViolation(f"lot {lot.code} is {lot.status}: a competition's terms change only before publication "
                            "(the notice announced them)", rule="price_competition_amend_before_publication")
    now = clock.utcnow()
    times = await _checked_terms(session, project, lot, data, now)
    fresh = _new_competition(lot_id, data, times, actor, now)
    for name in AMENDABLE:
        setattr(competition, name, getattr(fresh, name))
    competition.updated_at = now
    await session.execute(sa.delete(PriceSecret).where(PriceSecret.competition_id == competition.id))  # type: ignore[arg-type]
    await events.record(session, actor, competition, events.AMENDED, lot_code=lot.code,
                        reserve=_keep_reserve(session, competition, data))
    return competition


# What an amendment replaces: everything the setup decided, not who made it or when.
AMENDABLE = ("mode", "phase", "starting_price", "increment", "starts_at", "ends_at", "listing_ends_at",
             "countdown_seconds", "round_seconds", "round_number", "dutch_interval_seconds", "dutch_floor_price")


async def _managed_lot(session: AsyncSession, actor: Actor, lot_id: int) -> tuple[Lot, Project]:
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await session.get(Project, lot.project_id)
    assert project is not None
    require_manager(actor, project, platform_may=True)
    return lot, project


async def _checked_terms(session: AsyncSession, project: Project, lot: Lot, data: CompetitionSetup,
                         now: datetime) -> dict[str, datetime]:
    """The mode is one the procedure has, the fields are valid and the times keep the rule table."""
    rules.check_mode(project.segment, project.procedure, data.mode, lot.code)
    times = _check_setup(data, now)
    published_at = await _published_at(session, project, now)
    breaches = rules.time_rule_breaches(project.segment, project.procedure, data.mode, published_at=published_at,
                                        times=times)
    if breaches:
        raise RuleViolation(f"the competition's times break {len(breaches)} rule(s): "
                            + "; ".join(breach.message for breach in breaches),
                            rule=", ".join(breach.rule for breach in breaches))
    return times


def _keep_reserve(session: AsyncSession, competition: PriceCompetition, data: CompetitionSetup) -> str:
    """Store the reserve price apart and commit to it on the competition; returns what the
    ledger entry says of it (never the price)."""
    if data.reserve_price is None:
        competition.reserve_commitment = None
        return "none"
    salt = rules.new_salt()
    competition.reserve_commitment = rules.commitment(data.reserve_price, salt)
    session.add(PriceSecret(competition_id=competition.id, amount=data.reserve_price.quantize(rules.CENTS),  # type: ignore[arg-type]
                            salt=salt))
    return "a salted SHA-256 commitment; the reserve price is revealed with the result"


def _new_competition(lot_id: int, data: CompetitionSetup, times: dict[str, datetime], actor: Actor,
                     now: datetime) -> PriceCompetition:
    return PriceCompetition(
        lot_id=lot_id, mode=data.mode, phase=closing.INITIAL_PHASE[data.mode],
        starting_price=data.starting_price.quantize(rules.CENTS), increment=data.increment.quantize(rules.CENTS),
        starts_at=times["starts_at"], ends_at=times["ends_at"],
        listing_ends_at=times["ends_at"] if data.mode == rules.LISTING else None,
        countdown_seconds=data.countdown_seconds, round_seconds=data.round_seconds,
        round_number=1 if data.mode == rules.MULTI_ROUND else None,
        dutch_interval_seconds=data.dutch_interval_seconds,
        dutch_floor_price=data.dutch_floor_price.quantize(rules.CENTS) if data.dutch_floor_price is not None else None,
        quote_count=0, created_by=actor.user_id, created_at=now, updated_at=now)


def _check_setup(data: CompetitionSetup, now: datetime) -> dict[str, datetime]:
    """Every problem of the setup at once, each naming its field; returns the times in UTC."""
    errors: list[FieldError] = []
    if data.starting_price <= 0:
        errors.append(FieldError("$.starting_price", f"must be above 0, got {data.starting_price}"))
    if data.increment <= 0:
        errors.append(FieldError("$.increment", f"the bid step must be above 0, got {data.increment}"))
    _check_reserve(data, errors)
    starts_at = _aware(data.starts_at, "$.starts_at", errors)
    if starts_at is not None and starts_at < now:
        errors.append(FieldError("$.starts_at", f"{clock.rfc3339(starts_at)} is before the server time "
                                 f"{clock.rfc3339(now)}"))
    _default_seconds(data)
    ends_at = _end(data, starts_at, errors)
    for name in ("countdown_seconds", "round_seconds", "dutch_interval_seconds"):
        _check_seconds(data, name, errors)
    if errors:
        summary = "; ".join(f"{error.pointer}: {error.message}" for error in errors)
        raise InvalidInput(f"the price competition's setup is not valid: {summary}", errors)
    return {"starts_at": starts_at, "ends_at": ends_at}  # type: ignore[dict-item]


def _check_reserve(data: CompetitionSetup, errors: list[FieldError]) -> None:
    reserve = data.reserve_price
    if reserve is None:
        return
    if data.mode in rules.ASCENDING and reserve < data.starting_price:
        errors.append(FieldError("$.reserve_price", f"the reserve price {reserve} is below the starting price "
                                 f"{data.starting_price}; in an ascending competition it is at least the starting price"))
    if data.mode == rules.DUTCH and reserve > data.starting_price:
        errors.append(FieldError("$.reserve_price", f"the reserve price {reserve} is above the Dutch start price "
                                 f"{data.starting_price}; it could never be met"))


def _aware(value: datetime | None, pointer: str, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        errors.append(FieldError(pointer, "give the time with its UTC offset (e.g. 2026-12-01T09:00:00+08:00)"))
        return None
    return clock.ensure_utc(value)


def _default_seconds(data: CompetitionSetup) -> None:
    needed = {rules.LISTING: "countdown_seconds", rules.AUCTION: "countdown_seconds",
              rules.MULTI_ROUND: "round_seconds", rules.DUTCH: "dutch_interval_seconds"}.get(data.mode)
    if needed and getattr(data, needed) is None:
        setattr(data, needed, int(rules.limit(needed)["default"]))


def _check_seconds(data: CompetitionSetup, name: str, errors: list[FieldError]) -> None:
    value, bounds = getattr(data, name), rules.limit(name)
    if value is not None and not bounds["minimum"] <= value <= bounds["maximum"]:
        errors.append(FieldError(f"$.{name}", f"{value} is outside {bounds['minimum']}..{bounds['maximum']} seconds"))


def _end(data: CompetitionSetup, starts_at: datetime | None, errors: list[FieldError]) -> datetime | None:
    """The first end: given for listing, auction and sealed quotes; computed for rounds and the Dutch clock."""
    if starts_at is None:
        return None
    if data.mode == rules.MULTI_ROUND:
        return starts_at + timedelta(seconds=data.round_seconds or 0)
    if data.mode == rules.DUTCH:
        floor = data.dutch_floor_price
        if floor is None or floor <= 0 or floor > data.starting_price:
            errors.append(FieldError("$.dutch_floor_price", f"required, above 0 and at most the start price "
                                     f"{data.starting_price}; got {floor}"))
            return None
        if data.increment <= 0 or not data.dutch_interval_seconds:
            return None
        return rules.dutch_end(data.starting_price, data.increment, floor, data.dutch_interval_seconds, starts_at)
    ends_at = _aware(data.ends_at, "$.ends_at", errors)
    if data.ends_at is None:
        errors.append(FieldError("$.ends_at", f"required for mode {data.mode}"))
    elif ends_at is not None and ends_at <= starts_at:
        errors.append(FieldError("$.ends_at", f"{clock.rfc3339(ends_at)} is not after starts_at "
                                 f"{clock.rfc3339(starts_at)}"))
    return ends_at


async def _published_at(session: AsyncSession, project: Project, now: datetime) -> datetime:
    """The tender notice's time; before publication, now (the earliest it can be)."""
    published = await session.scalar(sa.select(sa.func.min(Notice.published_at)).where(
        Notice.project_id == project.id, Notice.kind == NoticeKind.TENDER))
    return clock.ensure_utc(published) if published is not None else now

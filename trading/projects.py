"""Projects and lots: create, edit while draft, and the guarded status setters.

``change_lot_status`` and ``change_project_status`` are not use cases: the opening and the
award call them from their own use cases (which checked the roles) so that every status a
lot passes through is an event of its project's stream, whoever moved it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.states import check_transition
from core.usecases import use_case
from identities.models import Party
from supervision.ledger.append import append
from trading import events
from trading.lot_fields import LOT_INPUT_COLUMNS, TIMETABLE_COLUMNS, lot_values
from trading.models import Lot, Project
from trading.notices import record_notice
from trading.price_bidding_models import PriceCompetition
from trading.schemas import LotCreate, LotEdit, ProjectCreate, TimetableIn
from trading.states import (
    ALLOWED_LOT_TRANSITIONS,
    ALLOWED_PROJECT_TRANSITIONS,
    COMPETITION_LOT_MOVES,
    LotStatus,
    NoticeKind,
    ProjectStatus,
)

# Lot columns every status change carries: the opening-key record is written once, at
# publication, and is too large to repeat.
LOT_STATUS_COLUMNS_EXCLUDED = ("opening_key",)


async def change_lot_status(
    session: AsyncSession,
    actor: Actor | None,
    lot: Lot,
    target: LotStatus,
    *,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Lot:
    """Move ``lot`` to ``target`` if the transition table allows it, with its event.

    The event carries the lot's columns as they are after the change, so whatever else
    the caller set on the lot in the same step is replayed too.
    """
    if LotStatus.SUSPENDED in (lot.status, target) or target == LotStatus.CANCELLED:
        # A price competition pauses, resumes and ends with its lot (imported here: a
        # competition's close moves lots through this function).
        from trading.price_bidding_suspension import follow_lot_move

        await follow_lot_move(session, actor, lot, target, reason)
    current = LotStatus(lot.status)
    check_transition(f"lot {lot.code}", current, target, ALLOWED_LOT_TRANSITIONS)
    if (current, target) in COMPETITION_LOT_MOVES:
        await _require_concluded_competition(session, lot, current, target)
    lot.status = target
    lot.updated_at = utcnow()
    session.add(lot)
    await session.flush()
    await append(session, stream=events.project_stream(lot.project_id), event_type=events.LOT_STATUS_CHANGED,
                 actor=actor, payload={
                     "lot_id": lot.id, "from": current, "to": target, "reason": reason,
                     "details": details or {},
                     "columns": events.row_snapshot(lot, without=LOT_STATUS_COLUMNS_EXCLUDED),
                 })
    return lot


async def _require_concluded_competition(session: AsyncSession, lot: Lot, current: LotStatus,
                                         target: LotStatus) -> None:
    """Only a concluded price competition awards a lot straight from bidding (``COMPETITION_LOT_MOVES``)."""
    result = await session.scalar(sa.select(PriceCompetition.result).where(PriceCompetition.lot_id == lot.id))
    if result != "concluded":
        raise Conflict(f"lot {lot.code} is {current}; it cannot become {target}: only the close of a concluded "
                       "price competition awards a lot straight from bidding (a tender is awarded after its "
                       "candidate publicity)")


async def refuse_if_sold_by_competition(session: AsyncSession, lot: Lot, doing: str) -> None:
    """A lot sold by a price competition takes quotes there, never sealed bids or an opening."""
    competition_id = await session.scalar(sa.select(PriceCompetition.id).where(PriceCompetition.lot_id == lot.id))
    if competition_id is not None:
        raise RuleViolation(f"lot {lot.code} is sold by price competition {competition_id}: {doing} is not part of "
                            f"it (bidders register and quote at /price-competitions/{competition_id})",
                            rule="lot_sold_by_price_competition")


async def change_project_status(
    session: AsyncSession, actor: Actor | None, project: Project, target: ProjectStatus, *, reason: str
) -> Project:
    """Move ``project`` to ``target`` if the transition table allows it, with its event."""
    current = ProjectStatus(project.status)
    check_transition(f"project {project.code}", current, target, ALLOWED_PROJECT_TRANSITIONS)
    project.status = target
    project.updated_at = utcnow()
    session.add(project)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.PROJECT_STATUS_CHANGED,
                 actor=actor, payload={"from": current, "to": target, "reason": reason,
                                       "project": events.row_snapshot(project)})
    return project


# --- who manages a project ------------------------------------------------------------------

MANAGERS = frozenset({Role.TENDERER, Role.AGENCY})
PUBLISHERS = MANAGERS | {Role.CENTER_STAFF, Role.ADMIN}
OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
PLATFORM_PUBLISHERS = frozenset({Role.CENTER_STAFF, Role.ADMIN})


def is_manager(actor: Actor | None, project: Project) -> bool:
    """The actor acts for the project's tenderer or its agency."""
    return (actor is not None and actor.has_any(MANAGERS) and actor.party_id is not None
            and actor.party_id in (project.tenderer_party_id, project.agency_party_id))


def require_manager(actor: Actor, project: Project, *, platform_may: bool = False) -> None:
    """Only the project's own tenderer or agency (and, where ``platform_may``, the
    trading centre's staff and admins) may change it."""
    if platform_may and actor.has_any(PLATFORM_PUBLISHERS):
        return
    if not is_manager(actor, project):
        raise PermissionDenied(f"project {project.code} is managed by its tenderer or agency only; "
                               "your organisation is neither")


async def get_project_row(session: AsyncSession, project_id: int, *, for_update: bool = False) -> Project:
    query = sa.select(Project).where(Project.id == project_id)
    project = (await session.scalars(query.with_for_update() if for_update else query)).first()
    if project is None:
        raise NotFound(f"no project {project_id}")
    return project


async def get_lot_row(session: AsyncSession, lot_id: int, *, for_update: bool = False) -> Lot:
    query = sa.select(Lot).where(Lot.id == lot_id)
    lot = (await session.scalars(query.with_for_update() if for_update else query)).first()
    if lot is None:
        raise NotFound(f"no lot {lot_id}")
    return lot


async def lots_of(session: AsyncSession, project_id: int) -> list[Lot]:
    return list((await session.scalars(sa.select(Lot).where(Lot.project_id == project_id)
                                       .order_by(Lot.number))).all())


# --- projects ---------------------------------------------------------------------------------


@use_case("trading.create_project", MANAGERS)
async def create_project(session: AsyncSession, actor: Actor, data: ProjectCreate) -> Project:
    """A draft project of the actor's organisation: as its tenderer, or as the agency of
    ``data.tenderer_party_id``."""
    tenderer_id, agency_id = await _tenderer_and_agency(session, actor, data.tenderer_party_id)
    now = utcnow()
    project = Project(
        code=_project_code(data.region_code, now), title=data.title, segment=data.segment,
        procedure=data.procedure, tenderer_party_id=tenderer_id, agency_party_id=agency_id,
        region_code=data.region_code, industry=data.industry, status=ProjectStatus.DRAFT,
        created_by=actor.user_id, created_at=now, updated_at=now)
    session.add(project)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.PROJECT_CREATED,
                 actor=actor, payload={"project": events.row_snapshot(project)})
    return project


async def _tenderer_and_agency(session: AsyncSession, actor: Actor, tenderer_party_id: int | None) -> tuple[int, int | None]:
    if actor.party_id is None:
        raise PermissionDenied("creating a project needs a user acting for an organisation")
    if Role.TENDERER in actor.roles and tenderer_party_id in (None, actor.party_id):
        return actor.party_id, None
    if Role.AGENCY not in actor.roles:
        raise PermissionDenied("a tenderer creates projects of its own organisation only; "
                               "leave tenderer_party_id out")
    if tenderer_party_id is None:
        raise InvalidInput("an agency names the tenderer it acts for",
                           [FieldError("$.tenderer_party_id", "required when an agency creates the project")])
    if tenderer_party_id == actor.party_id or await session.get(Party, tenderer_party_id) is None:
        raise InvalidInput(f"no tenderer organisation {tenderer_party_id}",
                           [FieldError("$.tenderer_party_id", "not a registered party other than the agency")])
    return tenderer_party_id, actor.party_id


def _project_code(region_code: str, now: datetime) -> str:
    return f"{region_code}-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


# --- lots -------------------------------------------------------------------------------------


@use_case("trading.add_lot", MANAGERS)
async def add_lot(session: AsyncSession, actor: Actor, project_id: int, data: LotCreate) -> Lot:
    project = await get_project_row(session, project_id, for_update=True)
    require_manager(actor, project)
    if project.status != ProjectStatus.DRAFT:
        raise Conflict(f"project {project.code} is {project.status}; lots are added while it is a draft")
    values = lot_values(project, data.model_dump(exclude_unset=True) | {"timetable": data.timetable})
    number = (await session.scalar(sa.select(sa.func.max(Lot.number)).where(Lot.project_id == project.id)) or 0) + 1
    now = utcnow()
    lot = Lot(project_id=project.id, number=number, code=f"{project.code}-L{number:02d}",  # type: ignore[arg-type]
              status=LotStatus.DRAFT, created_at=now, updated_at=now, **values)
    session.add(lot)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.LOT_ADDED, actor=actor,
                 payload={"row": events.row_snapshot(lot)})
    return lot


@use_case("trading.edit_lot", MANAGERS)
async def edit_lot(session: AsyncSession, actor: Actor, lot_id: int, data: LotEdit) -> Lot:
    """Change a draft lot. A published lot changes only by a clarification."""
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await get_project_row(session, lot.project_id)
    require_manager(actor, project)
    if lot.status != LotStatus.DRAFT:
        raise Conflict(f"lot {lot.code} is {lot.status}: a published lot is not edited; publish a "
                       "clarification (POST /lots/{id}/clarifications) instead")
    given = data.model_dump(exclude_unset=True)
    if "timetable" in given:
        given["timetable"] = data.timetable
    merged = {**current_lot_fields(lot), **given}
    values = lot_values(project, merged)
    changed = {name: value for name, value in values.items() if getattr(lot, name) != value}
    for name, value in changed.items():
        setattr(lot, name, value)
    lot.updated_at = utcnow()
    session.add(lot)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.LOT_EDITED, actor=actor,
                 payload={"lot_id": lot.id, "columns": events.lot_columns(lot, [*changed, "updated_at"])})
    return lot


def current_lot_fields(lot: Lot) -> dict[str, Any]:
    timetable = TimetableIn.model_construct(**{name: getattr(lot, name) for name in TIMETABLE_COLUMNS})
    return {name: getattr(lot, name) for name in LOT_INPUT_COLUMNS} | {"timetable": timetable}


@use_case("trading.cancel_lot", MANAGERS)
async def cancel_lot(session: AsyncSession, actor: Actor, lot_id: int, reason: str) -> Lot:
    """Withdraw a lot before its bid deadline; a published lot gets a change notice, and a
    project whose lots are all cancelled closes."""
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await get_project_row(session, lot.project_id, for_update=True)
    require_manager(actor, project)
    was_published = lot.status != LotStatus.DRAFT
    if was_published and lot.bid_deadline is not None and utcnow() >= ensure_utc(lot.bid_deadline):
        raise Conflict(f"lot {lot.code}'s bid deadline {rfc3339(lot.bid_deadline)} has passed; "
                       "it can no longer be cancelled")
    await change_lot_status(session, actor, lot, LotStatus.CANCELLED, reason=reason)
    if was_published:
        await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                            title=f"Change notice: lot {lot.code} cancelled",
                            body=f"Lot {lot.code} ({lot.title}) of {project.title} is cancelled: {reason}",
                            details={"change": "lot_cancelled", "lot_code": lot.code, "reason": reason})
    remaining = [other for other in await lots_of(session, project.id)  # type: ignore[arg-type]
                 if other.status != LotStatus.CANCELLED]
    if not remaining and project.status == ProjectStatus.ACTIVE:
        await change_project_status(session, actor, project, ProjectStatus.CLOSED, reason="every lot cancelled")
    return lot

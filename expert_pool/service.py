"""Expert-pool use cases: the industry authority manages the experts (管用分离).

Only expert administrators register, admit, suspend, renew and dismiss experts;
regulators and auditors read; the trading centre never sees who is in the pool (it
only requests draws). Every change is a ledger entry on ``expert:<id>``.
"""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import to_shanghai, utcnow
from core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from core.states import check_transition
from core.usecases import use_case
from expert_pool import events
from expert_pool.draw_index import refresh_draw_index
from expert_pool.models import (
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    ExpertUnavailability,
)
from expert_pool.rules import admission_problems
from expert_pool.schemas import (
    Admission,
    ExpertCreate,
    RelationCreate,
    Renewal,
    StatusChange,
    Suspension,
    UnavailabilityCreate,
)
from expert_pool.states import ALLOWED_EXPERT_TRANSITIONS, ExpertStatus, Title
from supervision.ledger.append import append

MANAGERS = frozenset({Role.EXPERT_ADMIN})
READERS = frozenset({Role.EXPERT_ADMIN, Role.REGULATOR, Role.AUDITOR})


def today() -> date:
    """The date in Shanghai: terms and suspensions end on local calendar days."""
    return to_shanghai(utcnow()).date()


@use_case("expert_pool.register_expert", MANAGERS)
async def register_expert(session: AsyncSession, actor: Actor, data: ExpertCreate) -> Expert:
    """An application enters the pool as ``applied``; admission is a separate review."""
    return await _register(session, actor, data, user_id=None)


@use_case("expert_pool.apply_to_pool", {Role.EXPERT})
async def apply_to_pool(session: AsyncSession, actor: Actor, data: ExpertCreate) -> Expert:
    """A person applies with their own account; the industry authority reviews the
    application like any other (admit or reject), and the account is linked already."""
    linked = await session.scalar(sa.select(Expert.code).where(Expert.user_id == actor.user_id))
    if linked is not None:
        raise Conflict(f"this account already belongs to expert {linked}; one application per person")
    return await _register(session, actor, data, user_id=actor.user_id)


@use_case("expert_pool.my_application", {Role.EXPERT})
async def my_application(session: AsyncSession, actor: Actor) -> tuple[Expert, list[str]]:
    """The applicant's own file and where its review stands."""
    expert = await session.scalar(sa.select(Expert).where(Expert.user_id == actor.user_id))
    if expert is None:
        raise NotFound("this account has not applied to the expert pool")
    return expert, await specialties_of(session, expert.id)  # type: ignore[arg-type]


async def _register(session: AsyncSession, actor: Actor, data: ExpertCreate, *, user_id: int | None) -> Expert:
    if await session.scalar(sa.select(Expert.id).where(Expert.id_number == data.id_number)) is not None:
        raise Conflict("an expert with this ID number is already registered")
    now = utcnow()
    expert = Expert(
        code=f"tmp-{uuid.uuid4().hex[:12]}", name=data.name, id_number=data.id_number, phone=data.phone,
        employer_name=data.employer_name, employer_uscc=data.employer_uscc, region_code=data.region_code,
        title=data.title, years_of_practice=data.years_of_practice, birth_date=data.birth_date,
        status=ExpertStatus.APPLIED, user_id=user_id, created_at=now, updated_at=now,
    )
    session.add(expert)
    await session.flush()
    expert.code = f"E{expert.id:07d}"  # stable public code, used in draws instead of names
    specialties = sorted(set(data.specialties))
    session.add_all([ExpertSpecialty(expert_id=expert.id, code=code) for code in specialties])  # type: ignore[arg-type]
    await session.flush()
    await refresh_draw_index(session, [expert.id])
    await append(session, stream=events.expert_stream(expert.id), event_type=events.EXPERT_REGISTERED,
                 actor=actor, payload=events.expert_snapshot(expert, specialties))
    return expert


@use_case("expert_pool.admit_expert", MANAGERS)
async def admit_expert(session: AsyncSession, actor: Actor, expert_id: int, data: Admission) -> Expert:
    expert = await _require(session, expert_id)
    problems = admission_problems(data.track, title=Title(expert.title), years_of_practice=expert.years_of_practice,
                                  birth_date=expert.birth_date, today=today())
    if problems:
        raise RuleViolation("; ".join(problems), rule=f"admission.{data.track}")
    _require_future(data.term_until, "term_until")
    return await _change(session, actor, expert, ExpertStatus.ADMITTED, reason=None, term_until=data.term_until)


@use_case("expert_pool.reject_expert", MANAGERS)
async def reject_expert(session: AsyncSession, actor: Actor, expert_id: int, data: StatusChange) -> Expert:
    return await _change(session, actor, await _require(session, expert_id), ExpertStatus.REJECTED, data.reason)


@use_case("expert_pool.suspend_expert", MANAGERS)
async def suspend_expert(session: AsyncSession, actor: Actor, expert_id: int, data: Suspension) -> Expert:
    _require_future(data.until, "until")
    expert = await _require(session, expert_id)
    return await _change(session, actor, expert, ExpertStatus.SUSPENDED, data.reason, suspended_until=data.until)


@use_case("expert_pool.reinstate_expert", MANAGERS)
async def reinstate_expert(session: AsyncSession, actor: Actor, expert_id: int, data: StatusChange) -> Expert:
    expert = await _require(session, expert_id)
    return await _change(session, actor, expert, ExpertStatus.ADMITTED, data.reason, suspended_until=None)


@use_case("expert_pool.dismiss_expert", MANAGERS)
async def dismiss_expert(session: AsyncSession, actor: Actor, expert_id: int, data: StatusChange) -> Expert:
    return await _change(session, actor, await _require(session, expert_id), ExpertStatus.DISMISSED, data.reason)


@use_case("expert_pool.renew_expert", MANAGERS)
async def renew_expert(session: AsyncSession, actor: Actor, expert_id: int, data: Renewal) -> Expert:
    """A new term for an admitted expert (the status stays ``admitted``)."""
    expert = await _require(session, expert_id)
    if expert.status != ExpertStatus.ADMITTED:
        raise Conflict(f"expert {expert.code} is {expert.status}; only admitted experts are renewed")
    _require_future(data.term_until, "term_until")
    if expert.term_until and data.term_until <= expert.term_until:
        raise InvalidInput(f"the new term must end after the current one ({expert.term_until})")
    expert.term_until = data.term_until
    return await _record_status(session, actor, expert)


@use_case("expert_pool.declare_relation", MANAGERS)
async def declare_relation(session: AsyncSession, actor: Actor, expert_id: int, data: RelationCreate) -> ExpertRelation:
    expert = await _require(session, expert_id)
    relation = ExpertRelation(expert_id=expert.id, **data.model_dump())  # type: ignore[arg-type]
    session.add(relation)
    await session.flush()
    await append(session, stream=events.expert_stream(expert.id), event_type=events.RELATION_DECLARED,
                 actor=actor, payload=events.relation_payload(relation))
    return relation


@use_case("expert_pool.declare_unavailability", MANAGERS)
async def declare_unavailability(
    session: AsyncSession, actor: Actor, expert_id: int, data: UnavailabilityCreate
) -> ExpertUnavailability:
    expert = await _require(session, expert_id)
    period = ExpertUnavailability(expert_id=expert.id, **data.model_dump())  # type: ignore[arg-type]
    session.add(period)
    await session.flush()
    await append(session, stream=events.expert_stream(expert.id), event_type=events.UNAVAILABILITY_DECLARED,
                 actor=actor, payload=events.unavailability_payload(period))
    return period


@use_case("expert_pool.link_account", MANAGERS)
async def link_account(session: AsyncSession, actor: Actor, expert_id: int, user_id: int) -> Expert:
    """Link an expert to the user account they sign in with (role expert)."""
    from identities.models import User

    expert = await _require(session, expert_id)
    user = await session.get(User, user_id)
    if user is None or "expert" not in user.roles:
        raise InvalidInput(f"user {user_id} does not exist or does not have the role expert")
    taken = await session.scalar(sa.select(Expert.code).where(Expert.user_id == user_id, Expert.id != expert_id))
    if taken is not None:
        raise Conflict(f"user {user_id} is already linked to expert {taken}")
    expert.user_id = user_id
    expert.updated_at = utcnow()
    await session.flush()
    await append(session, stream=events.expert_stream(expert.id), event_type=events.ACCOUNT_LINKED, actor=actor,
                 payload={"user_id": user_id, "updated_at": expert.updated_at})
    return expert


@use_case("expert_pool.get_expert", READERS)
async def get_expert(session: AsyncSession, actor: Actor, expert_id: int) -> tuple[Expert, list[str]]:
    expert = await _require(session, expert_id)
    return expert, await specialties_of(session, expert.id)  # type: ignore[arg-type]


@use_case("expert_pool.list_experts", READERS)
async def list_experts(
    session: AsyncSession, actor: Actor, *, status: ExpertStatus | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Expert], int]:
    query = sa.select(Expert)
    if status is not None:
        query = query.where(Expert.status == status)
    total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Expert.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def specialties_of(session: AsyncSession, expert_id: int) -> list[str]:
    return (await specialties_by_expert(session, [expert_id])).get(expert_id, [])


async def specialties_by_expert(session: AsyncSession, expert_ids: list[int]) -> dict[int, list[str]]:
    """Each expert's specialty codes, sorted, in one query (for lists)."""
    codes: dict[int, list[str]] = {}
    rows = await session.execute(sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.code)
                                 .where(ExpertSpecialty.expert_id.in_(expert_ids or [-1]))
                                 .order_by(ExpertSpecialty.code))
    for expert_id, code in rows:
        codes.setdefault(expert_id, []).append(code)
    return codes


# --- helpers ------------------------------------------------------------------------------


async def _require(session: AsyncSession, expert_id: int) -> Expert:
    expert = await session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(f"expert {expert_id} does not exist")
    return expert


def _require_future(moment: date, field: str) -> None:
    if moment <= today():
        raise InvalidInput(f"{field} must be a future date, not {moment}")


async def _change(session: AsyncSession, actor: Actor, expert: Expert, target: ExpertStatus, reason: str | None,
                  **changes: object) -> Expert:
    check_transition(f"expert {expert.code}", ExpertStatus(expert.status), target, ALLOWED_EXPERT_TRANSITIONS)
    expert.status = target
    expert.status_reason = reason
    for name, value in changes.items():
        setattr(expert, name, value)
    return await _record_status(session, actor, expert)


async def _record_status(session: AsyncSession, actor: Actor, expert: Expert) -> Expert:
    """Every status or term change ends here: the draw index follows it in this transaction."""
    expert.updated_at = utcnow()
    await session.flush()
    await refresh_draw_index(session, [expert.id])  # type: ignore[list-item]
    await append(session, stream=events.expert_stream(expert.id), event_type=events.STATUS_CHANGED, actor=actor,
                 payload=events.status_payload(expert))
    return expert

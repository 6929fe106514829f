"""Every use case, called by every role: allowed roles succeed, the others are refused
before anything is stored. A new use case without an entry here fails the test."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import expert_pool.assessments as expert_assessments
import expert_pool.draws as expert_draws
import expert_pool.import_service as import_service
import expert_pool.service as expert_service
import identities.certificate_login  # noqa: F401 - registers its use case
import identities.service as identities_service
import identities.trust_service as trust_service
import supervision.ledger.inspect as ledger_inspect
from ca_interop.demo_pki import DemoCA
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from core.actors import SYSTEM, Actor, Role
from core.database import Database
from core.errors import NotAuthenticated, PermissionDenied
from core.person_id import make_person_id
from core.usecases import USE_CASES
from expert_pool.classification import default_classification
from expert_pool.schemas import (
    Admission,
    DrawRequest,
    RelationCreate,
    Renewal,
    Suspension,
    UnavailabilityCreate,
    ViolationIn,
)
from expert_pool.schemas import StatusChange as ExpertStatusChange
from expert_pool.states import RelationKind
from identities.models import User
from identities.schemas import (
    PartyCreate,
    PasswordChange,
    TokenCreate,
    UserCreate,
    UserUpdate,
)
from identities.trust_schemas import StatusChange, TrustedCACreate
from identities.trust_states import CAStatus
from supervision.ledger.models import LedgerEntry
from tests.evaluation import walk_evaluation
from tests.expert_pool.factories import admitted_expert, expert_data
from tests.factories import PASSWORD, actor_of, make_party, make_user, new_uscc
from tests.supervision import (
    walk_complaints,
    walk_monitor,
    walk_replay,
    walk_reporting,
    walk_warnings,
)
from tests.trading import (
    walk_award,
    walk_bids,
    walk_opening,
    walk_price_bidding,
    walk_projects,
)

Call = Callable[[AsyncSession, Actor], Awaitable[Any]]


async def _own_token_id(session: AsyncSession, actor: Actor) -> int:
    token, _ = await identities_service.issue_api_token(session, actor, TokenCreate(name="walk"))
    return token.id  # type: ignore[return-value]


async def _target_user(session: AsyncSession) -> User:
    return await make_user(session, Role.EXPERT)


CALLS: dict[str, Call] = {
    "identities.register_party": lambda s, a: identities_service.register_party(
        s, a, PartyCreate(uscc=new_uscc(), name="Walk Party")),
    "identities.get_party": lambda s, a: _with_party(s, a),
    "identities.list_parties": lambda s, a: identities_service.list_parties(s, a),
    "identities.create_user": lambda s, a: identities_service.create_user(
        s, a, UserCreate(username=f"walk{a.user_id}", display_name="W", password=PASSWORD, roles=[Role.EXPERT])),
    "identities.get_user": lambda s, a: identities_service.get_user(s, a, a.user_id),  # type: ignore[arg-type]
    "identities.list_users": lambda s, a: identities_service.list_users(s, a),
    "identities.update_user": lambda s, a: _update_other(s, a),
    "identities.change_password": lambda s, a: identities_service.change_password(
        s, a, PasswordChange(current_password=PASSWORD, new_password="another long password")),
    "identities.sign_out": lambda s, a: _sign_out(s, a),
    "identities.issue_api_token": lambda s, a: identities_service.issue_api_token(s, a, TokenCreate(name="t")),
    "identities.list_tokens": lambda s, a: identities_service.list_tokens(s, a),
    "identities.revoke_token": lambda s, a: _revoke_own(s, a),
    "supervision.read_ledger_entry": lambda s, a: ledger_inspect.read_entry(s, a, 0),
    "identities.add_trusted_ca": lambda s, a: trust_service.add_trusted_ca(
        s, a, TrustedCACreate(name=f"CA {a.user_id}", certificate_pem=_new_ca_pem())),
    "identities.list_trusted_cas": lambda s, a: trust_service.list_trusted_cas(s, a),
    "identities.change_trusted_ca_status": lambda s, a: _suspend_a_ca(s, a),
    "identities.verify_certificate": lambda s, a: trust_service.verify_certificate(
        s, a, _new_ca_pem().encode(), RevocationSource(StaticRevocationTransport())),
    "identities.bind_certificate": lambda s, a: _bind_a_person_certificate(s, a),
    "expert_pool.register_expert": lambda s, a: expert_service.register_expert(s, a, expert_data()),
    "expert_pool.apply_to_pool": lambda s, a: expert_service.apply_to_pool(s, a, expert_data()),
    "expert_pool.my_application": lambda s, a: _applied_myself(s, a),
    "expert_pool.admit_expert": lambda s, a: _on_applicant(s, a, lambda e: expert_service.admit_expert(
        s, a, e.id, Admission(term_until=_LATER))),
    "expert_pool.reject_expert": lambda s, a: _on_applicant(s, a, lambda e: expert_service.reject_expert(
        s, a, e.id, ExpertStatusChange(reason="incomplete file"))),
    "expert_pool.suspend_expert": lambda s, a: _on_admitted(s, a, lambda e: expert_service.suspend_expert(
        s, a, e.id, Suspension(reason="absent", until=_LATER))),
    "expert_pool.reinstate_expert": lambda s, a: _on_suspended(s, a),
    "expert_pool.dismiss_expert": lambda s, a: _on_admitted(s, a, lambda e: expert_service.dismiss_expert(
        s, a, e.id, ExpertStatusChange(reason="misconduct"))),
    "expert_pool.renew_expert": lambda s, a: _on_admitted(s, a, lambda e: expert_service.renew_expert(
        s, a, e.id, Renewal(term_until=_LATER + timedelta(days=2000)))),
    "expert_pool.declare_relation": lambda s, a: _on_admitted(s, a, lambda e: expert_service.declare_relation(
        s, a, e.id, RelationCreate(kind=RelationKind.EMPLOYMENT, party_uscc="91350100M000100Y43", party_name="X"))),
    "expert_pool.declare_unavailability": lambda s, a: _on_admitted(
        s, a, lambda e: expert_service.declare_unavailability(s, a, e.id, UnavailabilityCreate(
            start_date=_LATER, end_date=_LATER, reason="leave"))),
    "expert_pool.get_expert": lambda s, a: _on_admitted(s, a, lambda e: expert_service.get_expert(s, a, e.id)),
    "expert_pool.list_experts": lambda s, a: expert_service.list_experts(s, a),
    "expert_pool.request_draw": lambda s, a: _request_a_draw(s, a),
    "expert_pool.link_account": lambda s, a: _on_admitted(s, a, lambda e: _link(s, a, e)),
    "expert_pool.record_violation": lambda s, a: _on_admitted(s, a, lambda e: expert_assessments.record_violation(
        s, a, e.id, ViolationIn(kind="left_early", description="left before the report was signed"))),
    "expert_pool.expert_history": lambda s, a: _on_admitted(s, a, lambda e: _own_history(s, a, e)),
    "expert_pool.my_invitations": lambda s, a: _invited(s, a, lambda call: expert_draws.my_invitations(s, a)),
    "expert_pool.answer_invitation": lambda s, a: _invited(
        s, a, lambda call: expert_draws.answer_invitation(s, a, call.id, accept=True)),
    "expert_pool.import_experts": lambda s, a: import_service.import_experts(s, a, io.BytesIO(
        "name,id_number,phone,employer,title,years,specialties\n"
        f"Li,{make_person_id('35010219700101' + str(a.user_id % 1000).zfill(3))},13800138000,X,高级,10,A04\n"
        .encode()), format="csv"),
    "expert_pool.get_draw": lambda s, a: _with_draw(s, lambda d: expert_draws.get_draw(s, a, d.id)),
    "expert_pool.read_drawn_list": lambda s, a: _with_draw(s, lambda d: expert_draws.read_drawn_list(s, a, d.id)),
    "expert_pool.reveal_draw": lambda s, a: _with_draw(s, lambda d: expert_draws.reveal_draw(s, a, d.id),
                                                       finished=True),
}


_UNUSED_SPECIALTIES = iter([c.code for c in default_classification() if len(c.code) == 5 and c.code[0] == "A"] * 10)


async def _applied_myself(session: AsyncSession, actor: Actor) -> Any:
    if Role.EXPERT in actor.roles:
        await expert_service.apply_to_pool(session, actor, expert_data())
    return await expert_service.my_application(session, actor)


async def _link(session: AsyncSession, actor: Actor, expert: Any) -> Any:
    account = await make_user(session, Role.EXPERT)
    return await expert_service.link_account(session, actor, expert.id, account.id)


async def _invited(session: AsyncSession, actor: Actor, act: Any) -> Any:
    """Make ``actor`` (if an expert account) the expert called by a fresh draw."""
    admin = await _expert_admin(session)
    specialty = next(_UNUSED_SPECIALTIES)  # so the draw can only call this expert
    expert = await admitted_expert(session, admin, specialties=[specialty])
    if Role.EXPERT in actor.roles:
        expert.user_id = actor.user_id
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    request = DrawRequest(lot_reference="LOT-2", evaluation_at=datetime.now(timezone.utc) + timedelta(days=2),
                          venue="Room 2", region_rule="remote_pool", quotas={specialty: 1})
    draw = await expert_draws.request_draw(session, staff, request)
    call = await expert_draws.call_next(session, SYSTEM, draw.id)
    return await act(call)


async def _request_a_draw(session: AsyncSession, actor: Actor) -> Any:
    await admitted_expert(session, await _expert_admin(session), specialties=["B01"])
    request = DrawRequest(lot_reference="LOT-1", evaluation_at=datetime.now(timezone.utc) + timedelta(days=2),
                          venue="Room 1", region_rule="remote_pool", region_code="350100", quotas={"B01": 1})
    return await expert_draws.request_draw(session, actor, request)


async def _with_draw(session: AsyncSession, act: Any, *, finished: bool = False) -> Any:
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    draw = await _request_a_draw(session, staff)
    if finished:
        call = await expert_draws.call_next(session, SYSTEM, draw.id)
        await expert_draws.record_answer(session, SYSTEM, call.id, "accepted")
    return await act(draw)

_LATER = date.today() + timedelta(days=400)


async def _expert_admin(session: AsyncSession) -> Actor:
    return actor_of(await make_user(session, Role.EXPERT_ADMIN))


async def _on_applicant(session: AsyncSession, actor: Actor, act: Any) -> Any:
    expert = await expert_service.register_expert(session, await _expert_admin(session), expert_data())
    return await act(expert)


async def _on_admitted(session: AsyncSession, actor: Actor, act: Any) -> Any:
    expert = await admitted_expert(session, await _expert_admin(session))
    return await act(expert)


async def _own_history(session: AsyncSession, actor: Actor, expert: Any) -> Any:
    """An expert reads their own history: the walking expert is made this one."""
    if actor.has_any({Role.EXPERT}):
        expert.user_id = actor.user_id
        session.add(expert)
        await session.flush()
    return await expert_assessments.expert_history(session, actor, expert.id)


async def _on_suspended(session: AsyncSession, actor: Actor) -> Any:
    admin = await _expert_admin(session)
    expert = await admitted_expert(session, admin)
    await expert_service.suspend_expert(session, admin, expert.id, Suspension(reason="absent", until=_LATER))
    return await expert_service.reinstate_expert(session, actor, expert.id, ExpertStatusChange(reason="ok now"))


async def _bind_a_person_certificate(session: AsyncSession, actor: Actor) -> Any:
    from identities import certificate_login
    from web.client import sign_challenge

    ca = DemoCA.create(f"Person CA {actor.user_id}", "ecdsa")
    await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(
        name=f"Person CA {actor.user_id}", certificate_pem=ca.cert_pem.decode()))
    holder = ca.issue("Wang Wei", person_id=f"35010219800101{actor.user_id:04d}")
    challenge = await certificate_login.issue_challenge(session)
    signature = sign_challenge(certificate_login.signed_bytes(challenge.nonce).decode(), holder.key_pem,
                               holder.cert_pem)
    revocation = RevocationSource(StaticRevocationTransport(documents={ca.crl_url: ca.crl_der()}))
    return await certificate_login.bind_certificate(session, actor, challenge.nonce, signature, revocation)


def _new_ca_pem() -> str:
    return DemoCA.create("Walk CA", "ecdsa").cert_pem.decode()


async def _suspend_a_ca(session: AsyncSession, actor: Actor) -> Any:
    ca = await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(
        name=f"To suspend {actor.user_id}", certificate_pem=_new_ca_pem()))
    return await trust_service.change_trusted_ca_status(
        session, actor, ca.id, CAStatus.SUSPENDED, StatusChange(reason="walking the roles"))  # type: ignore[arg-type]


async def _with_party(session: AsyncSession, actor: Actor) -> Any:
    party = await make_party(session)
    return await identities_service.get_party(session, actor, party.id)  # type: ignore[arg-type]


async def _update_other(session: AsyncSession, actor: Actor) -> Any:
    other = await _target_user(session)
    return await identities_service.update_user(session, actor, other.id, UserUpdate(display_name="Renamed"))  # type: ignore[arg-type]


async def _sign_out(session: AsyncSession, actor: Actor) -> Any:
    _, raw = await identities_service.sign_in(session, actor.username, PASSWORD, source_address=None, hours=1)
    return await identities_service.sign_out(session, actor, raw)


async def _revoke_own(session: AsyncSession, actor: Actor) -> Any:
    token_id = await _own_token_id(session, actor)
    return await identities_service.revoke_token(session, actor, token_id)


# Each trading concern keeps its entries beside its tests.
for _walk in (walk_projects, walk_bids, walk_opening, walk_award, walk_evaluation, walk_monitor, walk_replay,
              walk_warnings, walk_complaints, walk_reporting, walk_price_bidding):
    CALLS.update(_walk.CALLS)


def test_every_use_case_is_walked() -> None:
    assert set(USE_CASES) == set(CALLS), "add the new use case to CALLS (trading: tests/trading/walk_*.py)"


async def ledger_size(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_each_role_is_allowed_or_refused(database: Database, name: str) -> None:
    use_case = USE_CASES[name]
    for role in Role:
        async with database.transaction() as session:
            actor = actor_of(await make_user(session, role))
            before = await ledger_size(session)
        if role in use_case.roles:
            async with database.transaction() as session:
                await CALLS[name](session, actor)
            continue
        with pytest.raises(PermissionDenied):
            async with database.transaction() as session:
                await _refused(session, actor, name)
        async with database.reader() as session:
            assert await ledger_size(session) == before, f"{name} by {role} left something stored"


async def _refused(session: AsyncSession, actor: Actor, name: str) -> None:
    # Real arguments, so a refusal can only come from the role check, not from bad input.
    await CALLS[name](session, actor)


async def test_no_actor_is_not_authenticated(database: Database) -> None:
    async with database.transaction() as session:
        for use_case in USE_CASES.values():
            with pytest.raises(NotAuthenticated):
                await use_case.function(session, None)

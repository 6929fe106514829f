"""Permission-walk entries of the evaluation use cases (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, the others are refused by the role check before anything is stored. The walking
actor is cast in the part the use case needs: an expert takes the first seat of the
committee, a bidder's organisation becomes the first bid's bidder, a tenderer or agency
runs the project.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import Usage
from ca_interop.signatures import sign_detached
from core.actors import Actor, Role
from evaluation import assessments, channel, service
from evaluation.context import EvaluationServices
from evaluation.models import EvaluatedBid, EvaluationSession
from expert_pool.models import Expert
from expert_pool.schemas import AssessmentIn
from identities.models import Party
from tests.evaluation.factories import (
    EvaluationScene,
    act_as,
    active_session,
    evaluation_scene,
    finished_session,
    members_of,
    opened_session,
    scene_ca,
    sign_in_signature,
)
from tests.trading.award_factories import blob_store
from tests.trading.factories import TradingCA
from trading.models import Project

BLOBS = blob_store()


def _services() -> EvaluationServices:
    return EvaluationServices(blobs=BLOBS, revocation=TradingCA(scene_ca()).revocation)


async def _scene(session: AsyncSession) -> tuple[EvaluationScene, EvaluationServices]:
    services = _services()
    return await evaluation_scene(session, services, experts=3, spares=0), services


async def _cast(session: AsyncSession, scene: EvaluationScene, ev: EvaluationSession, actor: Actor) -> None:
    """The walking actor plays the part its role has in this session."""
    if actor.has_any({Role.EXPERT}):
        first = (await members_of(session, ev.id))[0]  # type: ignore[arg-type]
        first.user_id = actor.user_id
        session.add(first)
        await session.execute(sa.update(Expert).where(Expert.id == first.expert_id).values(user_id=actor.user_id))
    if actor.has_any({Role.BIDDER}):
        party = await session.get(Party, actor.party_id)
        assert party is not None
        await session.execute(sa.update(EvaluatedBid).where(
            EvaluatedBid.session_id == ev.id, EvaluatedBid.bid_id == scene.bids[0].id).values(
            party_id=party.id, bidder_uscc=party.uscc, bidder_name=party.name))
    if actor.has_any({Role.TENDERER}):
        await session.execute(sa.update(Project).where(Project.id == ev.project_id)
                              .values(tenderer_party_id=actor.party_id))
    if actor.has_any({Role.AGENCY}):
        await session.execute(sa.update(Project).where(Project.id == ev.project_id)
                              .values(agency_party_id=actor.party_id))
    await session.flush()


async def _opened(session: AsyncSession, actor: Actor) -> tuple[EvaluationScene, EvaluationSession, EvaluationServices]:
    scene, services = await _scene(session)
    ev = await opened_session(session, scene, services)
    await _cast(session, scene, ev, actor)
    return scene, ev, services


async def _open(session: AsyncSession, actor: Actor) -> Any:
    scene, services = await _scene(session)
    return await service.open_session(session, actor, scene.lot_id, scene.open_data(), services)


async def _follow(session: AsyncSession, actor: Actor) -> Any:
    _, ev, _ = await _opened(session, actor)
    return await channel.join(session, actor, ev.id)  # type: ignore[arg-type]


async def _get(session: AsyncSession, actor: Actor) -> Any:
    _, ev, _ = await _opened(session, actor)
    return await service.session_view(session, actor, ev.id)  # type: ignore[arg-type]


async def _act(session: AsyncSession, actor: Actor) -> Any:
    if actor.has_any({Role.BIDDER}):
        return await _answer(session, actor)
    scene, ev, services = await _opened(session, actor)
    session_id: int = ev.id  # type: ignore[assignment]
    if actor.has_any({Role.CENTER_STAFF}):
        hand = scene.experts[1]
        await act_as(session, hand.actor, session_id, "sign_in",
                     {"venue": scene.venues[0], "signature": sign_in_signature(hand, session_id, scene.venues[0])},
                     services)
        second = (await members_of(session, session_id))[1]
        await channel.act(session, actor, session_id, "staff_check_in", {"venue": scene.venues[0]}, services)
        return await channel.act(session, actor, session_id, "confirm_identity", {"member_id": second.id}, services)
    return await channel.act(session, actor, session_id, "recuse", {"reason": "walking the roles"}, services)


async def _answer(session: AsyncSession, actor: Actor) -> Any:
    from evaluation.clarifications import clarification_statement

    scene, services = await _scene(session)
    ev = await active_session(session, scene, services)
    await _cast(session, scene, ev, actor)
    asked = await act_as(session, scene.experts[0].actor, ev.id, "ask_clarification",  # type: ignore[arg-type]
                         {"bid_id": scene.bids[0].id, "question": "Which quarry?", "minutes": 60}, services)
    party = await session.get(Party, actor.party_id)
    assert party is not None
    signing = scene.ca.ca.issue(party.name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
    answer = "The Minhou quarry."
    signature = sign_detached(clarification_statement(asked["clarification_id"], answer), signing.key, signing.cert)
    return await channel.act(session, actor, ev.id, "answer_clarification", {  # type: ignore[arg-type]
        "clarification_id": asked["clarification_id"], "answer": answer,
        "signature": base64.b64encode(signature).decode()}, services)


async def _finished(session: AsyncSession, actor: Actor) -> tuple[EvaluationSession, EvaluationServices]:
    scene, services = await _scene(session)
    if not actor.has_any(service.REPORT_READERS):  # refused by its role: any real session will do
        return await opened_session(session, scene, services), services
    ev = await finished_session(session, scene, services)
    await _cast(session, scene, ev, actor)
    return ev, services


async def _read_report(session: AsyncSession, actor: Actor) -> Any:
    ev, services = await _finished(session, actor)
    return await service.read_report(session, actor, ev.id, services.blobs)  # type: ignore[arg-type]


async def _read_signed_report(session: AsyncSession, actor: Actor) -> Any:
    ev, services = await _finished(session, actor)
    return await service.read_signed_report(session, actor, ev.id, services.blobs)  # type: ignore[arg-type]


async def _read_package(session: AsyncSession, actor: Actor) -> Any:
    scene, services = await _scene(session)
    ev = await active_session(session, scene, services)
    await _cast(session, scene, ev, actor)
    return await service.read_bid_package(session, actor, ev.id, scene.bids[0].id)  # type: ignore[arg-type]


async def _assess(session: AsyncSession, actor: Actor) -> Any:
    scene, services = await _scene(session)
    if not actor.has_any({Role.CENTER_STAFF}):  # refused by its role: any real session will do
        ev = await opened_session(session, scene, services)
    else:
        ev = await finished_session(session, scene, services)
    member = (await members_of(session, ev.id))[0]  # type: ignore[arg-type]
    return await assessments.assess_member(session, actor, ev.id, member.id,  # type: ignore[arg-type]
                                           AssessmentIn(rating="good"))


async def _my_clarifications(session: AsyncSession, actor: Actor) -> Any:
    return await service.my_clarifications(session, actor)


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "evaluation.open_session": _open,
    "evaluation.follow": _follow,
    "evaluation.get_session": _get,
    "evaluation.act": _act,
    "evaluation.read_report": _read_report,
    "evaluation.read_signed_report": _read_signed_report,
    "evaluation.read_bid_package": _read_package,
    "evaluation.my_clarifications": _my_clarifications,
    "evaluation.assess_member": _assess,
}

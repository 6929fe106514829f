"""The demo's committee members as people with accounts and certificates of their own.

The generated pool has no accounts: in production an expert signs up and binds the
certificate their CA issued. For the demo, each expert drawn for the lot gets an expert
account (demo password) and a signing certificate from the demo ECDSA CA naming their ID
number, so the simulated experts can sign in to the session and sign the report the way
real ones do. Nothing here is used outside the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import Issued, Usage
from ca_interop.demo_pki_set import load_demo_ca
from core.actors import SYSTEM, Role
from evaluation.members import drawn_venues
from expert_pool.models import DrawCall, Expert
from identities import service
from identities.models import User
from identities.schemas import UserCreate
from web.demo import DEMO_PASSWORD


@dataclass
class DemoExpert:
    username: str
    name: str
    expert_code: str
    signing: Issued
    venue: str | None = None  # the venue of a venue draw the expert was called to


async def enrol_drawn_experts(session: AsyncSession, draw_id: int, pki_dir: Path) -> list[DemoExpert]:
    """An account and a signing certificate for every expert who accepted the draw."""
    ca = load_demo_ca(pki_dir, "ecdsa")
    experts = list(await session.scalars(
        sa.select(Expert).join(DrawCall, DrawCall.expert_id == Expert.id)
        .where(DrawCall.draw_id == draw_id, DrawCall.answer == "accepted").order_by(DrawCall.position)))
    venues = await drawn_venues(session, draw_id)
    return [await _enrol(session, expert, ca, venues.get(expert.id)) for expert in experts]


async def _enrol(session: AsyncSession, expert: Expert, ca, venue: str | None) -> DemoExpert:  # type: ignore[no-untyped-def]
    username = f"expert-{expert.code.lower()}"
    user_id = await session.scalar(sa.select(User.id).where(User.username == username))
    if user_id is None:
        user = await service.create_user(session, SYSTEM, UserCreate(
            username=username, display_name=expert.name, password=DEMO_PASSWORD, roles=[Role.EXPERT]))
        user_id = user.id
    expert.user_id = user_id
    session.add(expert)
    await session.flush()
    signing = ca.issue(expert.name, usage=Usage.SIGNING, person_id=expert.id_number)
    return DemoExpert(username=username, name=expert.name, expert_code=expert.code, signing=signing, venue=venue)

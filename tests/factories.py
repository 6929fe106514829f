"""Small builders for test data, one per concept (no giant factories file)."""

from __future__ import annotations

import itertools

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Actor, Role
from core.uscc import make_uscc
from identities import service
from identities.models import Party, User
from identities.schemas import PartyCreate, UserCreate

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def new_uscc() -> str:
    return make_uscc(f"91350100MA{next(_counter):07d}")


async def make_party(session: AsyncSession, name: str = "Test Party Co., Ltd.") -> Party:
    return await service.register_party(session, SYSTEM, PartyCreate(uscc=new_uscc(), name=name, region_code="350100"))


async def make_user(session: AsyncSession, *roles: Role, username: str | None = None) -> User:
    roles = roles or (Role.ADMIN,)
    party_id = None
    if any(role in (Role.BIDDER, Role.TENDERER, Role.AGENCY) for role in roles):
        party_id = (await make_party(session)).id
    data = UserCreate(
        username=username or f"user{next(_counter)}",
        display_name="Test User",
        password=PASSWORD,
        roles=list(roles),
        party_id=party_id,
        jurisdiction="350000" if Role.REGULATOR in roles else None,
        industries=["construction"] if Role.REGULATOR in roles else [],
    )
    return await service.create_user(session, SYSTEM, data)


def actor_of(user: User) -> Actor:
    return service.actor_for(user)


async def signed_in(session: AsyncSession, *roles: Role) -> tuple[User, str]:
    """A user with ``roles`` and a session token for it."""
    user = await make_user(session, *roles)
    _, raw = await service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1", hours=1)
    return user, raw

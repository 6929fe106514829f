"""Demo data: parties and one user of every role, so a first run has someone to sign in as.

Idempotent: what exists (by credit code or username) is left alone. The demo password is
printed in the README; it is for the demo database only.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Actor, Role
from core.blobs import BlobStore
from core.uscc import make_uscc
from expert_pool.demo_pool import load_demo_pool
from expert_pool.models import Expert
from identities import service
from identities.models import Party, User
from identities.schemas import PartyCreate, UserCreate
from identities.service import actor_for

DEMO_PASSWORD = "bidhall-demo"

DEMO_PARTIES = {
    "bidder-a": ("Minjiang Construction Group Co., Ltd.", make_uscc("91350100MA2Y00001"), "350100"),
    "bidder-b": ("Wuyi Road & Bridge Engineering Co., Ltd.", make_uscc("91350700MA2Y00002"), "350700"),
    "bidder-c": ("Haixia Hydraulic Engineering Bureau Co., Ltd.", make_uscc("91350200MA2Y00005"), "350200"),
    "bidder-d": ("Rongcheng Municipal Works Co., Ltd.", make_uscc("91350100MA2Y00006"), "350100"),
    "bidder-e": ("Zhangzhou Water Resources Construction Co., Ltd.", make_uscc("91350600MA2Y00007"), "350600"),
    "tenderer": ("Fuzhou Municipal Water Authority", make_uscc("12350100MB0Y00003"), "350100"),
    "agency": ("Haixi Tendering Agency Co., Ltd.", make_uscc("91350100MA2Y00004"), "350100"),
}

# username -> (display name, roles, party key, jurisdiction, industries)
DEMO_USERS: dict[str, tuple[str, list[Role], str | None, str | None, list[str]]] = {
    "admin": ("Platform Administrator", [Role.ADMIN], None, None, []),
    "staff": ("Trading Center Staff", [Role.CENTER_STAFF], None, None, []),
    "staff-xiamen": ("Xiamen Venue Staff", [Role.CENTER_STAFF], None, None, []),  # the secondary venue's staff
    "bidder": ("Bidder of Minjiang Construction", [Role.BIDDER], "bidder-a", None, []),
    "bidder2": ("Bidder of Wuyi Road & Bridge", [Role.BIDDER], "bidder-b", None, []),
    "bidder3": ("Bidder of Haixia Hydraulic", [Role.BIDDER], "bidder-c", None, []),
    "bidder4": ("Bidder of Rongcheng Municipal", [Role.BIDDER], "bidder-d", None, []),
    "bidder5": ("Bidder of Zhangzhou Water Resources", [Role.BIDDER], "bidder-e", None, []),
    "tenderer": ("Tenderer of the Water Authority", [Role.TENDERER], "tenderer", None, []),
    "agency": ("Agent of Haixi Tendering", [Role.AGENCY], "agency", None, []),
    "expert": ("Evaluation Expert", [Role.EXPERT], None, None, []),
    "expertadmin": ("Expert Administrator", [Role.EXPERT_ADMIN], None, None, []),
    "regulator": ("Provincial Regulator", [Role.REGULATOR], None, "350000",
                  ["construction", "government_procurement"]),
    "auditor": ("Auditor", [Role.AUDITOR], None, None, []),
}


DEMO_POOL_SIZE = 3000


async def seed_demo(session: AsyncSession, *, pool_size: int = DEMO_POOL_SIZE) -> dict[str, int]:
    parties, parties_created = await _seed_parties(session)
    users = 0
    for username, (display_name, roles, party_key, jurisdiction, industries) in DEMO_USERS.items():
        if await session.scalar(sa.select(User.id).where(User.username == username)) is not None:
            continue
        data = UserCreate(
            username=username,
            display_name=display_name,
            password=DEMO_PASSWORD,
            roles=roles,
            party_id=parties[party_key] if party_key else None,
            jurisdiction=jurisdiction,
            industries=industries,
        )
        await service.create_user(session, SYSTEM, data)
        users += 1
    experts = await _seed_expert_pool(session, pool_size)
    return {"users": users, "parties": parties_created, "experts": experts}


async def demo_actor(session: AsyncSession, username: str) -> Actor:
    """A demo user as the actor of a demo step."""
    user = await session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise RuntimeError("the demo data is missing: run `bidhall seed` first")
    return actor_for(user)


async def seed_demo_tenders(session: AsyncSession, blobs: BlobStore, pki_dir: Path) -> tuple[dict[str, int], int]:
    """One project per segment at different stages (see ``web.demo_tenders``)."""
    from web.demo_tenders import seed_tenders

    actors = {name: await demo_actor(session, name) for name in ("tenderer", "agency", "bidder")}
    return await seed_tenders(session, tenderer=actors["tenderer"], agency=actors["agency"], bidder=actors["bidder"],
                              blobs=blobs, pki_dir=pki_dir, tenderer_party_id=actors["tenderer"].party_id)  # type: ignore[arg-type]


async def _seed_expert_pool(session: AsyncSession, size: int) -> int:
    """The generated pool, admitted by the demo industry authority (only into an empty pool)."""
    if await session.scalar(sa.select(sa.func.count()).select_from(Expert)):
        return 0
    authority = await session.scalar(sa.select(User).where(User.username == "expertadmin"))
    return await load_demo_pool(session, actor_for(authority), size)  # type: ignore[arg-type]


async def _seed_parties(session: AsyncSession) -> tuple[dict[str, int], int]:
    ids: dict[str, int] = {}
    created = 0
    for key, (name, uscc, region) in DEMO_PARTIES.items():
        party = await session.scalar(sa.select(Party).where(Party.uscc == uscc))
        if party is None:
            party = await service.register_party(session, SYSTEM, PartyCreate(uscc=uscc, name=name, region_code=region))
            created += 1
        ids[key] = party.id  # type: ignore[assignment]
    return ids, created

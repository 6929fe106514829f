"""Replay rebuilds identity states from the ledger, and the whole log matches the tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from core.errors import InvalidInput, NotFound
from identities import service
from identities.models import User
from identities.schemas import TokenCreate, UserUpdate
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_all, check_stream, replay
from tests.factories import actor_of, make_user
from web.runtime import build_registry


async def test_replay_follows_a_user_through_time(database: Database) -> None:
    registry = build_registry()
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.ADMIN))
        user = await make_user(session, Role.EXPERT)
    async with database.transaction() as session:
        await service.update_user(session, admin, user.id, UserUpdate(display_name="Later Name"))
        token, _ = await service.issue_api_token(session, actor_of(user), TokenCreate(name="cli"))
        await service.revoke_token(session, actor_of(user), token.id)
    stream = f"user:{user.id}"
    async with database.reader() as session:
        first_seq = await session.scalar(sa.select(sa.func.min(LedgerEntry.seq)).where(LedgerEntry.stream == stream))
        early = await replay(session, registry, stream, until_seq=first_seq)
        now = await replay(session, registry, stream)
        result = await check_stream(session, registry, stream)
    assert early is not None and early["display_name"] == "Test User" and early["tokens"] == {}
    assert now is not None and now["display_name"] == "Later Name"
    assert now["tokens"][str(token.id)]["revoked_at"] is not None
    assert result.matches, (result.replayed, result.stored)


async def test_check_finds_a_table_changed_behind_the_ledger(database: Database) -> None:
    registry = build_registry()
    async with database.transaction() as session:
        user = await make_user(session, Role.EXPERT)
    async with database.transaction() as session:
        await session.execute(sa.update(User).where(User.id == user.id).values(roles=["admin"]))
    async with database.reader() as session:
        result = await check_stream(session, registry, f"user:{user.id}")
    assert not result.matches
    assert result.stored["roles"] == ["admin"] and result.replayed["roles"] == ["expert"]  # type: ignore[index]


async def test_whole_log_reproduces_the_tables(database: Database) -> None:
    registry = build_registry()
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.ADMIN))
        for role in Role:
            user = await make_user(session, role)
            await service.update_user(session, admin, user.id, UserUpdate(industries=["construction"]))
    async with database.reader() as session:
        results = await check_all(session, registry)
    assert len(results) == (len(Role) + 1) + 3  # every user, and a party for bidder, tenderer, agency
    assert all(result.matches for result in results), [r.stream for r in results if not r.matches]


async def test_unknown_and_malformed_streams_are_named(database: Database) -> None:
    registry = build_registry()
    async with database.reader() as session:
        with pytest.raises(NotFound, match="'nosuchkind'"):
            await replay(session, registry, "nosuchkind:1")
        with pytest.raises(InvalidInput, match="kind:id"):
            await replay(session, registry, "user")

"""Resolving streams' scopes for the live feed: once per follower, one query for many at
once; and the feed's filters checked against a regulator's jurisdiction."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.database import Database
from core.errors import InvalidInput
from supervision import scopes
from supervision.scopes import FeedFilter, Scope, ScopeCache


def _regulator(jurisdiction: str = "350000", *industries: str) -> Actor:
    return Actor(user_id=7, username="reg", roles=frozenset({Role.REGULATOR}), jurisdiction=jurisdiction,
                 industries=frozenset(industries or ("construction",)))


async def test_concurrent_followers_share_one_query_and_each_keeps_its_answers(database: Database) -> None:
    asked: list[str] = []

    async def slow_resolver(_session: AsyncSession, stream: str) -> Scope | None:
        asked.append(stream)
        await asyncio.sleep(0.05)
        return Scope("350102", "construction", 1) if stream.endswith(":1") else None

    scopes.register_scope("cachetest", slow_resolver)
    caches = [ScopeCache(database) for _ in range(20)]
    found = await asyncio.gather(*(cache.scope("cachetest:1") for cache in caches))
    assert found == [Scope("350102", "construction", 1)] * 20 and asked == ["cachetest:1"]
    assert await caches[0].scope("cachetest:1") == found[0] and asked == ["cachetest:1"]  # kept
    assert await caches[0].scope("cachetest:2") is None
    assert await caches[0].scope("cachetest:2") is None
    assert asked.count("cachetest:2") == 2, "no scope yet is not kept: it may come later (a draw's session)"
    assert await caches[0].scope("nosuchkind:1") is None and len(asked) == 3  # no resolver, no query


def test_filters_are_checked_for_shape() -> None:
    assert FeedFilter.parse("", None, "") == FeedFilter()
    with pytest.raises(InvalidInput) as bad:
        FeedFilter.parse("3501", "Construction", "project:1")
    assert [error.pointer for error in bad.value.errors] == ["?region", "?segment", "?stream_kind"]


def test_a_filter_narrows_what_oversight_covers() -> None:
    regulator = _regulator()
    fuzhou = Scope("350102", "construction", 1)
    xiamen = Scope("350203", "construction", 2)
    assert FeedFilter().admits(regulator, "project:1", fuzhou)
    assert not FeedFilter().admits(regulator, "project:3", Scope("440106", "construction", 3))
    assert not FeedFilter().admits(regulator, "credit:1", None)
    city = FeedFilter(region_code="350100")
    assert city.admits(regulator, "project:1", fuzhou) and not city.admits(regulator, "project:2", xiamen)
    assert not FeedFilter(stream_kind="opening").admits(regulator, "project:1", fuzhou)
    auditor = Actor(user_id=8, username="aud", roles=frozenset({Role.AUDITOR}))
    assert FeedFilter().admits(auditor, "credit:1", None)
    assert not FeedFilter(segment="construction").admits(auditor, "credit:1", None)

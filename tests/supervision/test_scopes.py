"""Regulators' jurisdiction and industries against a stream's scope."""

from __future__ import annotations

import pytest

from core.actors import Actor, Role
from supervision.scopes import Scope, covers, region_covers


@pytest.mark.parametrize("jurisdiction, region, expected", [
    ("350000", "350102", True), ("350000", "360100", False), ("350100", "350102", True),
    ("350100", "350203", False), ("350102", "350102", True), ("350102", "350103", False),
    (None, "350102", False), ("350000", None, False),
])
def test_region_codes_cover_their_subdivisions(jurisdiction, region, expected) -> None:  # type: ignore[no-untyped-def]
    assert region_covers(jurisdiction, region) is expected


def _actor(*roles: Role, jurisdiction: str | None = None, industries: tuple[str, ...] = ()) -> Actor:
    return Actor(user_id=1, username="someone", roles=frozenset(roles), jurisdiction=jurisdiction,
                 industries=frozenset(industries))


def test_a_regulator_covers_its_region_and_industries_only() -> None:
    regulator = _actor(Role.REGULATOR, jurisdiction="350000", industries=("construction",))
    assert covers(regulator, Scope("350102", "construction"))
    assert not covers(regulator, Scope("350102", "government_procurement"))
    assert not covers(regulator, Scope("440100", "construction"))
    assert not covers(regulator, None)
    assert covers(_actor(Role.AUDITOR), None) and covers(_actor(Role.ADMIN), Scope("440100", "land_mining"))
    assert not covers(_actor(Role.CENTER_STAFF), Scope("350102", "construction"))

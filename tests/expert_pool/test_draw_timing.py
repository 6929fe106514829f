"""How early a committee may be drawn: procurement no earlier than 2 working days before
the evaluation (MOF Treasury [2016] No. 198 art. 17), with its exceptions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import SHANGHAI
from core.database import Database
from core.errors import RuleViolation
from expert_pool import draws
from expert_pool.draw_timing import too_early
from expert_pool.models import Draw
from supervision.ledger.models import LedgerEntry
from tests.expert_pool.test_draws import people, pool, request  # noqa: F401 - the fixture too


def _at(day: int, hour: int = 9) -> datetime:
    """A moment of November 2026, Asia/Shanghai (Monday the 23rd is a working day)."""
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.mark.parametrize("drawn_on, allowed", [
    (26, True),   # Thursday before a Monday evaluation: Friday and Monday are 2 working days
    (28, True),   # Saturday: only Monday is between
    (25, False),  # Wednesday: Thursday, Friday, Monday are 3
])
def test_procurement_draws_at_most_two_working_days_ahead(drawn_on: int, allowed: bool) -> None:
    evaluation = _at(30)  # Monday 30 November 2026
    refused = too_early("government_procurement", "open_tender", "local", evaluation_at=evaluation,
                        now=_at(drawn_on))
    assert (refused is None) is allowed
    if refused is not None:
        rule, why = refused
        assert rule.id == "draw.timing.government_procurement"
        assert "2026-11-26" in why and "art. 17" in why  # the earliest lawful draw day, and the source


@pytest.mark.parametrize("segment, procedure, region_rule", [
    ("construction", "open_tender", "local"),                          # no such rule in construction
    ("government_procurement", "competitive_negotiation", "local"),    # excepted procedure
    ("government_procurement", "competitive_consultation", "local"),
    ("government_procurement", "open_tender", "remote_pool"),          # off-site evaluation
    (None, None, "local"),                                             # segment not given
])
def test_other_segments_procedures_and_off_site_evaluation_are_not_limited(segment, procedure, region_rule) -> None:  # type: ignore[no-untyped-def]
    assert too_early(segment, procedure, region_rule, evaluation_at=_at(30) + timedelta(days=30),
                     now=_at(23)) is None


async def test_a_draw_requested_too_early_is_refused_with_nothing_drawn(database: Database, people: dict) -> None:  # noqa: F811
    admin, staff = people[Role.EXPERT_ADMIN], people[Role.CENTER_STAFF]
    await pool(database, admin, 3, ["A04", "C02"])
    async with database.reader() as session:
        entries_before = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    far = datetime.now(timezone.utc) + timedelta(days=30)
    with pytest.raises(RuleViolation) as refused:
        async with database.transaction() as session:
            await draws.request_draw(session, staff, request(evaluation_at=far, segment="government_procurement",
                                                             procedure="open_tender"))
    assert refused.value.rule == "draw.timing.government_procurement"
    assert "no earlier than 2 working days" in refused.value.detail
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == entries_before

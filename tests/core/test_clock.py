"""The process clock can be moved (tests and the demo) and comes back afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core.clock import travel, utcnow


def test_travel_to_a_moment_and_back() -> None:
    target = datetime(2030, 5, 1, 8, 0, tzinfo=timezone.utc)
    with travel(target):
        assert abs(utcnow() - target) < timedelta(seconds=1)
        with travel(by=timedelta(days=2)):
            assert abs(utcnow() - (target + timedelta(days=2))) < timedelta(seconds=1)
        assert abs(utcnow() - target) < timedelta(seconds=1)
    assert abs(utcnow() - datetime.now(timezone.utc)) < timedelta(seconds=1)

"""The server clock. Deadlines are decided by it, so everything asks here for "now".

Times are stored in UTC and shown in Asia/Shanghai.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

# How far the process clock is moved from the system clock. Only tests and the demo move
# it (legal periods are days long; a demo tender cannot wait twenty days); a server never
# does, so deadlines are decided by real time.
_offset = timedelta(0)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return datetime.now(timezone.utc) + _offset


@contextlib.contextmanager
def travel(to: datetime | None = None, *, by: timedelta | None = None) -> Iterator[None]:
    """Move this process's clock to ``to`` (or ``by`` an amount) until the block ends; the
    clock keeps running from there. For tests and the demo only."""
    global _offset
    previous = _offset
    if to is not None:
        _offset = ensure_utc(to) - datetime.now(timezone.utc)
    elif by is not None:
        _offset = previous + by
    try:
        yield
    finally:
        _offset = previous


def to_shanghai(moment: datetime) -> datetime:
    return ensure_utc(moment).astimezone(SHANGHAI)


def ensure_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC (that is how SQLite hands them back)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text with a ``Z`` suffix, microseconds only when present."""
    text = ensure_utc(moment).isoformat()
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 text; a time without an offset is refused, not guessed."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(timezone.utc)

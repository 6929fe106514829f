"""The server clock. Deadlines are decided by it, so everything asks here for "now".

Times are stored in UTC and shown in Asia/Shanghai.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return datetime.now(timezone.utc)


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

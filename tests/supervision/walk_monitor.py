"""Permission-walk entries of the monitor use cases (merged by tests/identities/test_permissions.py)."""

from __future__ import annotations

from typing import Any

from supervision.scopes import FeedFilter, open_feed
from web.monitor_summary import summary

CALLS: dict[str, Any] = {
    "supervision.follow_feed": lambda s, a: open_feed(s, a, FeedFilter(stream_kind="project")),
    "supervision.summary": lambda s, a: summary(s, a),
}

"""Permission-walk entries of the reporting use cases (merged by tests/identities/test_permissions.py)."""

from __future__ import annotations

from typing import Any

CALLS: dict[str, Any] = {}

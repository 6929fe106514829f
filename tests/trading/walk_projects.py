"""Permission-walk entries of this trading concern (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor

CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {}

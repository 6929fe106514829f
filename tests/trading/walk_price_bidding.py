"""Permission-walk entries of price competitions (merged by tests/identities/test_permissions.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor

CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {}

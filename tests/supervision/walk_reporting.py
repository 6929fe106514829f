"""Permission-walk entries of the reporting use cases (merged by tests/identities/test_permissions.py).

Building a batch and recording how its sending went are the platform's own acts (the worker
runs them as the system actor, an administrator); every other role is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Actor
from core.clock import utcnow
from trading import reporting


def _yesterday() -> reporting.Window:
    return reporting.day_window(utcnow().date() - timedelta(days=1))


async def _build(session: AsyncSession, actor: Actor) -> Any:
    return await reporting.build_batch(session, actor, "entities", _yesterday())


async def _record(session: AsyncSession, actor: Actor) -> Any:
    batch = await reporting.build_batch(session, SYSTEM, "blacklists", _yesterday())
    return await reporting.record_attempt(session, actor, batch.id, reporting.Attempt("failed", error="walk"))


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "trading.build_report_batch": _build,
    "trading.record_report_attempt": _record,
}

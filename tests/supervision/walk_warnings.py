"""Permission-walk entries of the warnings use cases (merged by tests/identities/test_permissions.py).

The warning lies in Fuzhou (350102), construction: the walk's regulator (jurisdiction
350000, industry construction) covers it, so an allowed role passes the scope check too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.clock import utcnow
from supervision.warnings import service
from tests.supervision.warning_fixtures import finding, raise_warnings


async def _warning(session: AsyncSession) -> int:
    return (await raise_warnings(session, finding(f"walk:{utcnow().timestamp()}"))).raised[0]


async def _run(session: AsyncSession, actor: Actor) -> Any:
    now = utcnow()
    return await service.run_warning_rules(session, actor, since=now - timedelta(hours=1), until=now)


async def _list(session: AsyncSession, actor: Actor) -> Any:
    await _warning(session)
    return await service.list_warnings(session, actor)


async def _get(session: AsyncSession, actor: Actor) -> Any:
    return (await service.get_warning(session, actor, await _warning(session))).result()


async def _acknowledge(session: AsyncSession, actor: Actor) -> Any:
    return (await service.acknowledge_warning(session, actor, await _warning(session))).result()


async def _investigate(session: AsyncSession, actor: Actor) -> Any:
    return (await service.investigate_warning(session, actor, await _warning(session))).result()


async def _close(session: AsyncSession, actor: Actor) -> Any:
    return (await service.close_warning(session, actor, await _warning(session), "walk")).result()


CALLS: dict[str, Any] = {
    "supervision.run_warning_rules": _run,
    "supervision.list_warnings": _list,
    "supervision.get_warning": _get,
    "supervision.acknowledge_warning": _acknowledge,
    "supervision.investigate_warning": _investigate,
    "supervision.close_warning": _close,
}

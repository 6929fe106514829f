"""Permission-walk entries of the replay and tree-head use cases (merged by
tests/identities/test_permissions.py), and the small ``widget`` stream kind the replay
tests use: a stream with a scope (region, segment) and a seal, owned by no domain."""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import Ed25519PlatformSigner
from core.actors import SYSTEM, Actor
from supervision import heads, replay_access
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import State, StreamKind, StreamRegistry, stream_entries
from supervision.scopes import Scope, register_scope
from web.runtime import build_registry

_widgets = itertools.count(1)


def apply_widget(state: State | None, entry: dict[str, Any]) -> State | None:
    payload = entry["payload"]
    if entry["type"] == "widget.made":
        return {"name": payload["name"], "colour": None, "revealed": False, "parts": []}
    assert state is not None
    if entry["type"] == "widget.painted":
        return {**state, "colour": payload["colour"]}
    if entry["type"] == "widget.part_added":
        return {**state, "parts": [*state["parts"], payload["part"]]}
    return {**state, "revealed": True}


async def load_widget(session: AsyncSession, stream: str) -> State | None:
    state: State | None = None
    for entry in await stream_entries(session, stream):
        state = apply_widget(state, entry)
    return state


async def list_widgets(session: AsyncSession) -> list[str]:
    return []


async def _first_payload(session: AsyncSession, stream: str) -> dict[str, Any] | None:
    entries = await stream_entries(session, stream)
    return entries[0]["payload"] if entries else None


async def widget_scope(session: AsyncSession, stream: str) -> Scope | None:
    first = await _first_payload(session, stream)
    return None if first is None else Scope(first["region"], first["segment"])


async def widget_sealed(session: AsyncSession, stream: str) -> bool:
    entries = await stream_entries(session, stream)
    return bool(entries) and entries[0]["payload"]["sealed"] and all(e["type"] != "widget.revealed" for e in entries)


def replay_registry() -> StreamRegistry:
    """The platform's registry, the oversight streams and the widgets."""
    register_scope("widget", widget_scope)
    replay_access.register_sealed("widget", widget_sealed)
    registry = build_registry()
    if "oversight" not in registry.kinds:
        replay_access.register(registry)
    registry.register(StreamKind("widget", apply_widget, load_widget, list_widgets))
    return registry


async def make_widget(session: AsyncSession, *, region: str = "350102", segment: str = "construction",
                      sealed: bool = False, paint: tuple[str, ...] = ("red",)) -> str:
    stream = f"widget:{next(_widgets)}"
    await append(session, stream=stream, event_type="widget.made", actor=SYSTEM,
                 payload={"name": stream, "region": region, "segment": segment, "sealed": sealed})
    for colour in paint:
        await append(session, stream=stream, event_type="widget.painted", actor=SYSTEM, payload={"colour": colour})
    return stream


async def oversight_entries(session: AsyncSession, user_id: int | None) -> list[dict[str, Any]]:
    return await stream_entries(session, replay_access.oversight_stream(user_id))


async def ledger_count(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0)


async def _state(session: AsyncSession, actor: Actor) -> Any:
    stream = await make_widget(session)
    return await replay_access.state_at(session, actor, replay_registry(), stream)


async def _timeline(session: AsyncSession, actor: Actor) -> Any:
    stream = await make_widget(session)
    return await replay_access.timeline_page(session, actor, replay_registry(), stream)


def platform_signer() -> Ed25519PlatformSigner:
    return Ed25519PlatformSigner(Ed25519PrivateKey.generate())


async def _publish(session: AsyncSession, actor: Actor) -> Any:
    await make_widget(session)
    return await heads.publish_head(session, actor, platform_signer(), trigger="demand")


CALLS: dict[str, Any] = {
    "supervision.replay_state": _state,
    "supervision.replay_timeline": _timeline,
    "supervision.publish_tree_head": _publish,
}

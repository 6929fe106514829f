"""Replay over HTTP: state and timeline for oversight roles, the refusal of a regulator
outside its jurisdiction (recorded even though refused) and each bad input as a problem."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.actors import Role
from core.clock import rfc3339, utcnow
from core.database import Database
from supervision import replay_access
from tests.factories import signed_in
from tests.supervision.walk_replay import (
    make_widget,
    oversight_entries,
    replay_registry,
)
from web.runtime import Runtime


async def _setup(runtime: Runtime, role: Role, **widget: object) -> tuple[str, dict[str, str], int]:
    runtime.registry = replay_registry()
    async with runtime.database.transaction() as session:
        user, token = await signed_in(session, role)
        stream = await make_widget(session, **widget)  # type: ignore[arg-type]
    return stream, {"Authorization": f"Bearer {token}"}, user.id  # type: ignore[return-value]


async def test_state_and_timeline_for_an_auditor(client: httpx.AsyncClient, runtime: Runtime) -> None:
    stream, auth, _ = await _setup(runtime, Role.AUDITOR, paint=("red", "blue"))
    state = await client.get(f"/supervision/streams/{stream}/state", headers=auth)
    timeline = await client.get(f"/supervision/streams/{stream}/timeline?limit=2", headers=auth)
    assert state.status_code == 200, state.text
    assert state.json()["state"]["colour"] == "blue" and state.json()["sealed"] is False
    first_seq = timeline.json()["steps"][0]["seq"]
    early = await client.get(f"/supervision/streams/{stream}/state?seq={first_seq + 1}", headers=auth)
    assert early.json()["state"]["colour"] == "red"
    page = timeline.json()
    assert [step["type"] for step in page["steps"]] == ["widget.made", "widget.painted"]
    rest = await client.get(f"/supervision/streams/{stream}/timeline?after={page['next_after']}", headers=auth)
    assert rest.json()["steps"][0]["changes"] == [{"op": "replace", "path": "/colour", "old": "red", "value": "blue"}]
    assert rest.json()["next_after"] is None


async def test_a_regulator_outside_its_jurisdiction_gets_403_and_the_attempt_stays_recorded(
        client: httpx.AsyncClient, runtime: Runtime, database: Database) -> None:
    stream, auth, user_id = await _setup(runtime, Role.REGULATOR, region="440100")
    response = await client.get(f"/supervision/streams/{stream}/state", headers=auth)
    assert response.status_code == 403 and "outside your jurisdiction" in response.json()["detail"]
    response = await client.get(f"/supervision/streams/{stream}/timeline", headers=auth)
    assert response.status_code == 403
    async with database.reader() as session:
        records = await oversight_entries(session, user_id)
    assert [(r["type"], r["payload"]["stream"]) for r in records] == [(replay_access.REPLAY_REFUSED, stream)] * 2


async def test_a_regulator_reading_a_sealed_stream_leaves_a_record(
        client: httpx.AsyncClient, runtime: Runtime, database: Database) -> None:
    stream, auth, user_id = await _setup(runtime, Role.REGULATOR, sealed=True)
    response = await client.get(f"/supervision/streams/{stream}/state", headers=auth)
    assert response.status_code == 200 and response.json()["sealed"] is True
    async with database.reader() as session:
        assert [r["type"] for r in await oversight_entries(session, user_id)] == [replay_access.SEALED_STREAM_READ]


async def test_bad_input_is_a_clear_problem(client: httpx.AsyncClient, runtime: Runtime) -> None:
    stream, auth, _ = await _setup(runtime, Role.ADMIN)
    cases = [
        (f"{stream}/state?at={rfc3339(utcnow() - timedelta(days=2))}", 422, "began, at"),
        (f"{stream}/state?at={rfc3339(utcnow() + timedelta(days=2))}", 422, "in the future"),
        (f"{stream}/state?at=yesterday", 422, "RFC 3339"),
        (f"{stream}/state?seq=99999", 422, "past the head of the ledger"),
        (f"{stream}/state?seq=-1", 422, "whole number"),
        (f"{stream}/timeline?after=99999", 422, "past the head of the ledger"),
        (f"{stream}/timeline?limit=0", 422, "limit"),
        ("widget:424242/state", 404, "has no entries"),
        ("gizmo:1/state", 404, "no domain registered streams of kind 'gizmo'"),
        ("nocolon/state", 422, "is not a stream name"),
    ]
    for path, status, text in cases:
        response = await client.get(f"/supervision/streams/{path.replace('+', '%2B')}", headers=auth)
        assert response.status_code == status and text in response.json()["detail"], (path, response.text)


async def test_replay_needs_an_oversight_role(client: httpx.AsyncClient, runtime: Runtime) -> None:
    stream, auth, _ = await _setup(runtime, Role.BIDDER)
    assert (await client.get(f"/supervision/streams/{stream}/state", headers=auth)).status_code == 403
    assert (await client.get(f"/supervision/streams/{stream}/state")).status_code == 401


async def test_reading_one_entry_keeps_to_the_same_rules(
        client: httpx.AsyncClient, runtime: Runtime, database: Database) -> None:
    outside, auth, user_id = await _setup(runtime, Role.REGULATOR, region="440100")
    async with database.transaction() as session:
        sealed = await make_widget(session, sealed=True)
    seq_of = {}
    async with database.reader() as session:
        for stream in (outside, sealed):
            seq_of[stream] = (await replay_access.stream_extent(session, stream)).first_seq  # type: ignore[union-attr]
    refused = await client.get(f"/ledger/entries/{seq_of[outside]}", headers=auth)
    read = await client.get(f"/ledger/entries/{seq_of[sealed]}", headers=auth)
    assert refused.status_code == 403 and "outside your jurisdiction" in refused.json()["detail"]
    assert read.status_code == 200 and read.json()["entry"]["stream"] == sealed
    async with database.reader() as session:
        records = await oversight_entries(session, user_id)
    assert [(r["type"], r["payload"]["stream"]) for r in records] == [
        (replay_access.REPLAY_REFUSED, outside), (replay_access.SEALED_STREAM_READ, sealed)]

"""The regulators' live feed through a real uvicorn server and the ``websockets`` client:
entries within the regulator's jurisdiction and industries only, live and resumed after a
disconnect with nothing lost; filters outside the jurisdiction refused and recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
import websockets

from core.actors import Role
from identities import service as identity_service
from supervision.ledger.models import LedgerEntry
from supervision.ledger.tree import ledger_size
from supervision.scopes import FEED_REFUSED
from tests.factories import PASSWORD, make_user
from tests.supervision.test_monitor_factories import (
    FUJIAN_CITY,
    GUANGDONG_CITY,
    Tender,
    record,
    tender_in,
)
from tests.trading.test_opening_live import serving
from web.runtime import Runtime


async def _token(runtime: Runtime, role: Role) -> tuple[int, str]:
    async with runtime.database.transaction() as session:
        user = await make_user(session, role)
        _, raw = await identity_service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1",
                                                hours=1)
    return user.id, raw  # type: ignore[return-value]


async def _tenders(runtime: Runtime) -> tuple[Tender, Tender, Tender]:
    async with runtime.database.transaction() as session:
        fujian = await tender_in(session, FUJIAN_CITY, "construction")
        guangdong = await tender_in(session, GUANGDONG_CITY, "construction")
        procurement = await tender_in(session, FUJIAN_CITY, "government_procurement")
    return fujian, guangdong, procurement


async def _head(runtime: Runtime) -> int:
    async with runtime.database.reader() as session:
        return await ledger_size(session)


def _feed_url(base: str, token: str, **params: Any) -> str:
    return base.replace("http://", "ws://") + "/ws/supervision/feed?" + urlencode({"token": token, **params})


async def _next(socket: Any, timeout: float = 20) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))  # type: ignore[no-any-return]


async def _entries(socket: Any, count: int) -> list[dict[str, Any]]:
    frames = [await _next(socket) for _ in range(count)]
    assert all(frame["type"] == "entry" for frame in frames), frames
    return [frame["entry"] for frame in frames]


async def _refused(base: str, token: str, status: int, **params: Any) -> dict[str, Any]:
    async with websockets.connect(_feed_url(base, token, **params)) as socket:
        frame = await _next(socket)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(socket)
    assert frame["type"] == "error" and frame["problem"]["status"] == status, frame
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000 + status
    return frame["problem"]  # type: ignore[no-any-return]


async def _oversight_records(runtime: Runtime, user_id: int) -> list[dict[str, Any]]:
    async with runtime.database.reader() as session:
        leaves = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.stream == f"oversight:{user_id}").order_by(LedgerEntry.seq))).all()
    return [json.loads(leaf) for leaf in leaves]


async def test_a_regulator_follows_its_jurisdiction_live_and_resumes_with_nothing_lost(runtime: Runtime) -> None:
    fujian, guangdong, procurement = await _tenders(runtime)
    _, regulator = await _token(runtime, Role.REGULATOR)  # 350000, construction
    _, auditor = await _token(runtime, Role.AUDITOR)
    start = await _head(runtime)
    await record(runtime.database, fujian.stream, 0)
    await record(runtime.database, guangdong.stream, 1)
    await record(runtime.database, procurement.stream, 2)
    await record(runtime.database, f"opening:{fujian.lot.id}", 3)
    async with serving(runtime) as base:
        socket = await websockets.connect(_feed_url(base, regulator, **{"from": start}))
        assert await _next(socket) == {"type": "ready", "from": start, "filters": {}}
        seen = await _entries(socket, 2)
        assert [(e["stream"], e["payload"]["n"]) for e in seen] == [(fujian.stream, 0),
                                                                    (f"opening:{fujian.lot.id}", 3)]
        # Live: entries of all three projects are committed; only Fujian construction arrives.
        await record(runtime.database, guangdong.stream, 4)
        await record(runtime.database, procurement.stream, 5)
        await record(runtime.database, fujian.stream, 6)
        live_seen = await _entries(socket, 1)
        assert [e["payload"]["n"] for e in live_seen] == [6]
        last = live_seen[-1]["seq"]
        await socket.close()

        # Disconnected: more happens; resuming from the last number seen + 1 misses nothing.
        await record(runtime.database, fujian.stream, 8)
        await record(runtime.database, guangdong.stream, 9)
        await record(runtime.database, f"award:{fujian.lot.id}", 10)
        async with websockets.connect(_feed_url(base, regulator, **{"from": last + 1})) as resumed:
            assert (await _next(resumed))["from"] == last + 1
            again = await _entries(resumed, 2)
            assert [(e["stream"], e["payload"]["n"]) for e in again] == [(fujian.stream, 8),
                                                                         (f"award:{fujian.lot.id}", 10)]
            assert again[0]["seq"] == last + 1  # nothing between the drop and the resume was lost

        # An auditor sees every project; entries come unchanged (the actor and source included).
        async with websockets.connect(_feed_url(base, auditor, **{"from": start})) as audit:
            await _next(audit)
            everything = await _entries(audit, 10)
            assert [e["payload"]["n"] for e in everything] == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
            assert everything[0]["actor"]["username"] == "system"


async def test_narrower_filters_and_filters_outside_the_jurisdiction(runtime: Runtime) -> None:
    fujian, guangdong, procurement = await _tenders(runtime)
    regulator_id, regulator = await _token(runtime, Role.REGULATOR)
    start = await _head(runtime)
    await record(runtime.database, fujian.stream, 0)
    await record(runtime.database, f"opening:{fujian.lot.id}", 1)
    await record(runtime.database, guangdong.stream, 2)
    async with serving(runtime) as base:
        # Narrower and inside: one city, one kind of stream.
        params = {"from": start, "region": "350100", "segment": "construction", "stream_kind": "opening"}
        async with websockets.connect(_feed_url(base, regulator, **params)) as socket:
            ready = await _next(socket)
            assert ready["filters"] == {"region": "350100", "segment": "construction", "stream_kind": "opening"}
            assert [e["payload"]["n"] for e in await _entries(socket, 1)] == [1]
        async with runtime.database.transaction() as session:
            xiamen = await tender_in(session, "350203", "construction")
        async with websockets.connect(_feed_url(base, regulator, **{"from": start, "region": "350200"})) as socket:
            await _next(socket)
            await record(runtime.database, fujian.stream, 3)  # Fuzhou, not Xiamen: not shown
            await record(runtime.database, xiamen.stream, 4)
            assert [(e["stream"], e["payload"]["n"]) for e in await _entries(socket, 1)] == [(xiamen.stream, 4)]

        # Outside: refused, and each attempt is on the regulator's oversight stream.
        problem = await _refused(base, regulator, 403, region="440000")
        assert "440000 lies outside your jurisdiction (350000)" in problem["detail"]
        problem = await _refused(base, regulator, 403, segment="land_mining")
        assert "land_mining is not one you regulate (construction)" in problem["detail"]
        attempts = await _oversight_records(runtime, regulator_id)
        assert [(a["type"], a["payload"]["asked"]) for a in attempts] == [
            (FEED_REFUSED, {"region": "440000"}), (FEED_REFUSED, {"segment": "land_mining"})]

        # Bad input: a clear error, nothing recorded.
        assert "six digits" in (await _refused(base, regulator, 422, region="35"))["detail"]
        assert "stream kind" in (await _refused(base, regulator, 422, stream_kind="Project!"))["detail"]
        head = await _head(runtime)
        assert "past the ledger's head" in (await _refused(base, regulator, 422, **{"from": head + 5}))["detail"]
        assert len(await _oversight_records(runtime, regulator_id)) == 2


async def test_only_oversight_roles_may_follow(runtime: Runtime) -> None:
    _, bidder = await _token(runtime, Role.BIDDER)
    _, staff = await _token(runtime, Role.CENTER_STAFF)
    _, admin = await _token(runtime, Role.ADMIN)
    async with serving(runtime) as base:
        for token in (bidder, staff):
            assert "reserved to" in (await _refused(base, token, 403))["detail"]
        await _refused(base, "not-a-token", 401)
        async with websockets.connect(_feed_url(base, admin)) as socket:  # no from: from now on
            ready = await _next(socket)
            assert ready["type"] == "ready" and ready["from"] == await _head(runtime)
            await record(runtime.database, "credit:1", 0)
            assert (await _entries(socket, 1))[0]["stream"] == "credit:1"


async def test_a_failing_feed_says_so_and_closes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from web import routes_monitor

    def broken_view(*_args: Any) -> Any:
        async def visible(_entry: dict[str, Any]) -> None:
            raise ConnectionError("the database went away")
        return visible

    monkeypatch.setattr(routes_monitor, "feed_view", broken_view)
    _, admin = await _token(runtime, Role.ADMIN)
    start = await _head(runtime)
    await record(runtime.database, "credit:1", 0)
    async with serving(runtime) as base:
        async with websockets.connect(_feed_url(base, admin, **{"from": start})) as socket:
            assert (await _next(socket))["type"] == "ready"
            failure = await _next(socket)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await _next(socket)
    assert failure["type"] == "error" and failure["problem"]["status"] == 500
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011

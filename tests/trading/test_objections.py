"""Objections to the tender documents: the lot pauses until the reply, resumes with a
moved deadline when too little time is left, and late objections are refused."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from core.actors import Role
from core.clock import parse_rfc3339
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    assert_problem,
    caller,
    clock_fixture,
    http_lot,
)
from trading.models import Objection


async def _replays(database, runtime, project_id: int) -> None:
    async with database.reader() as session:
        result = await check_stream(session, runtime.registry, f"project:{project_id}")
        assert result.matches, (result.replayed, result.stored)


async def test_an_objection_suspends_the_lot_until_answered(client: httpx.AsyncClient, database, runtime, clock) -> None:
    made = await http_lot(client, database, clock.now)
    lot_url, project_url = f"/lots/{made.lot['id']}", f"/projects/{made.project['id']}"
    objector, other = await caller(database, Role.BIDDER), await caller(database, Role.BIDDER)
    old_deadline = parse_rfc3339(made.lot["bid_deadline"])
    clock.set(old_deadline - timedelta(days=12))
    response = await client.post(f"{lot_url}/objections", json={"text": "Clause 3.2 excludes local firms."},
                                 headers=objector.headers)
    assert response.status_code == 201, response.text
    objection = response.json()
    assert objection["stage"] == "documents" and objection["status"] == "open"
    assert parse_rfc3339(objection["reply_due"]) >= clock.now + timedelta(days=3)
    assert (await client.get(project_url)).json()["lots"][0]["status"] == "suspended"
    suspended = (await client.get("/notices", params={"kind": "change"})).json()["items"][0]
    assert suspended["details"]["change"] == "suspended"
    await _replays(database, runtime, made.project["id"])

    assert (await client.get(f"{lot_url}/objections", headers=other.headers)).json() == []  # not its own
    assert len((await client.get(f"{lot_url}/objections", headers=objector.headers)).json()) == 1
    assert len((await client.get(f"{lot_url}/objections", headers=made.tenderer.headers)).json()) == 1

    clock.advance(days=2)  # 10 days left; construction needs 15 after a change
    reply = await client.post(f"/objections/{objection['id']}/reply", json={"reply": "Clause 3.2 is withdrawn."},
                              headers=made.tenderer.headers)
    assert reply.status_code == 200 and reply.json()["status"] == "answered"
    lot = (await client.get(project_url)).json()["lots"][0]
    assert lot["status"] == "bidding" and parse_rfc3339(lot["bid_deadline"]) > old_deadline
    resumed = (await client.get("/notices", params={"kind": "change"})).json()["items"][0]
    assert resumed["details"]["change"] == "resumed" and resumed["details"]["deadline_moved"] is True
    assert "The bid deadline moves from" in resumed["body"]
    await _replays(database, runtime, made.project["id"])

    assert_problem(await client.post(f"/objections/{objection['id']}/reply", json={"reply": "Again"},
                                     headers=made.tenderer.headers), 409, "was answered")


async def test_an_objection_after_its_window_is_refused(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    bidder = await caller(database, Role.BIDDER)
    clock.set(parse_rfc3339(made.lot["objection_until"]) + timedelta(seconds=1))
    async with database.reader() as session:
        before = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    body = assert_problem(await client.post(f"/lots/{made.lot['id']}/objections", json={"text": "Too late?"},
                                            headers=bidder.headers), 409, "were taken until")
    assert body["rule"] == "trading.objection_window"
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before
    assert (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]["status"] == "bidding"


async def test_without_its_own_cutoff_the_lot_uses_the_rules_window(client: httpx.AsyncClient, database, clock) -> None:
    from tests.trading.project_factories import timetable

    plain = timetable(clock.now)
    plain.pop("objection_until")
    made = await http_lot(client, database, clock.now, timetable=plain)
    bidder = await caller(database, Role.BIDDER)
    deadline = parse_rfc3339(made.lot["bid_deadline"])
    clock.set(deadline - timedelta(days=9))  # construction: at least 10 days before the deadline
    assert_problem(await client.post(f"/lots/{made.lot['id']}/objections", json={"text": "Late"},
                                     headers=bidder.headers), 409, "trading.objection_window")
    clock.set(deadline - timedelta(days=11))
    assert (await client.post(f"/lots/{made.lot['id']}/objections", json={"text": "In time"},
                              headers=bidder.headers)).status_code == 201


async def test_the_lot_resumes_only_when_every_objection_is_answered(client: httpx.AsyncClient, database,
                                                                    runtime, clock) -> None:
    made = await http_lot(client, database, clock.now)
    first, second = await caller(database, Role.BIDDER), await caller(database, Role.BIDDER)
    ids = []
    for bidder in (first, second):
        response = await client.post(f"/lots/{made.lot['id']}/objections", json={"text": "Unfair"},
                                     headers=bidder.headers)
        ids.append(response.json()["id"])
    await client.post(f"/objections/{ids[0]}/reply", json={"reply": "No."}, headers=made.tenderer.headers)
    assert (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]["status"] == "suspended"
    await client.post(f"/objections/{ids[1]}/reply", json={"reply": "No."}, headers=made.tenderer.headers)
    lot = (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]
    assert lot["status"] == "bidding" and lot["bid_deadline"] == made.lot["bid_deadline"]  # time enough left
    await _replays(database, runtime, made.project["id"])

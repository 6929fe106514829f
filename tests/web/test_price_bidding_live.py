"""The live channel of a price competition through a real uvicorn server and websockets
clients: each follower sees the board (price, leader's number, end) with its own number
marked and no names; quotes sent over the channel are applied once; the result arrives live."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from core import clock
from tests.trading.test_opening_live import serving
from tests.trading.walk_price_bidding import START, STEP, competition_scene
from tests.web.test_price_bidding_http import token_for
from trading.price_bidding_models import PriceCompetition
from web import routes_price_bidding
from web.runtime import Runtime


class Follower:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.waiting: list[dict[str, Any]] = []  # received, not yet asked for

    async def next(self, wanted: str, timeout: float = 20) -> dict[str, Any]:
        """The next message of type ``wanted``; the others stay for later calls."""
        async def take() -> dict[str, Any]:
            for index, message in enumerate(self.waiting):
                if message["type"] == wanted:
                    return self.waiting.pop(index)
            while True:
                message = json.loads(await self.connection.recv())
                if message["type"] == wanted:
                    return message
                self.waiting.append(message)

        return await asyncio.wait_for(take(), timeout)

    async def entry(self, event_type: str) -> dict[str, Any]:
        while True:
            message = await self.next("entry")
            if message["entry"]["type"] == event_type:
                return message["entry"]  # type: ignore[no-any-return]


def ws_url(base: str, competition_id: int, token: str) -> str:
    return f"{base.replace('http', 'ws')}/ws/price-competitions/{competition_id}?token={token}"


async def test_live_auction_over_a_real_server(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "auction", bidders=2)
    tokens = [(await token_for(runtime, user))["Authorization"].split()[1]
              for user in (scene.bidders[0].user_id, scene.bidders[1].user_id, scene.staff.user_id)]
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=1)):
        async with serving(runtime) as base, \
                websockets.connect(ws_url(base, scene.id, tokens[0])) as first_ws, \
                websockets.connect(ws_url(base, scene.id, tokens[1])) as second_ws, \
                websockets.connect(ws_url(base, scene.id, tokens[2])) as staff_ws:
            first, second, staff = Follower(first_ws), Follower(second_ws), Follower(staff_ws)
            mine, theirs = (await first.next("ready"))["your_number"], (await second.next("ready"))["your_number"]
            assert mine and theirs and mine != theirs and (await staff.next("ready"))["your_number"] is None

            message = {"id": "q-1", "type": "quote", "amount": str(START + 6 * STEP)}
            await first_ws.send(json.dumps(message))
            reply = await first.next("reply")
            assert reply["ok"] and reply["result"]["bidder_number"] == mine
            await first_ws.send(json.dumps(message))  # the same message again: applied once
            again = await first.next("reply")
            assert again["repeated"] and again["result"] == reply["result"]

            seen_by_me = await first.entry("trading.competition_quoted")
            seen_by_them = await second.entry("trading.competition_quoted")
            seen_by_staff = await staff.entry("trading.competition_quoted")
            assert seen_by_me["view"]["you_lead"] is True and seen_by_me["view"]["leader_number"] == mine
            assert seen_by_them["view"]["you_lead"] is False and seen_by_them["view"]["your_number"] == theirs
            assert seen_by_them["view"]["current_price"] == str(START + 6 * STEP)
            assert seen_by_them["view"]["ends_at"] and seen_by_them["view"]["seconds_left"] > 0
            assert seen_by_them["actor"] is None and "party_id" not in json.dumps(seen_by_them)
            assert seen_by_staff["actor"]["username"]  # staff see who acted

            low = {"id": "q-2", "type": "quote", "amount": str(START + 6 * STEP)}
            await second_ws.send(json.dumps(low))
            refused = await second.next("reply")
            assert not refused["ok"] and refused["problem"]["status"] == 422
            assert "below 1070000.00" in refused["problem"]["detail"]

            async with runtime.database.reader() as session:
                end = (await session.get(PriceCompetition, scene.id)).ends_at
            with clock.travel(to=end + timedelta(seconds=1)):
                async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {tokens[1]}"}) as http:
                    await http.get(f"/price-competitions/{scene.id}")  # any read applies the close
                closed = await second.entry("trading.competition_closed")
            assert closed["view"]["result"] == "concluded" and closed["view"]["winner_number"] == mine
            assert closed["payload"]["competition"]["reserve_price"] is not None  # revealed with the result


async def test_strangers_and_bad_ids_are_refused(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "listing", bidders=1)
    token = (await token_for(runtime, scene.bidders[0].user_id))["Authorization"].split()[1]
    async with serving(runtime) as base:
        async with websockets.connect(ws_url(base, scene.id, "not-a-token")) as ws:
            refusal = json.loads(await ws.recv())
            assert refusal["type"] == "error" and refusal["problem"]["status"] == 401
        async with websockets.connect(ws_url(base, 999999, token)) as ws:
            assert json.loads(await ws.recv())["problem"]["status"] == 404
        async with websockets.connect(ws_url(base, scene.id, token)) as ws:
            follower = Follower(ws)
            await follower.next("ready")
            await ws.send(json.dumps({"type": "quote", "amount": "1"}))
            assert "needs an id" in (await follower.next("reply"))["problem"]["detail"]
            await ws.send(json.dumps({"id": "x", "type": "sing"}))
            assert "unknown message type" in (await follower.next("reply"))["problem"]["detail"]


async def test_the_channel_applies_the_close_by_itself(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_price_bidding, "CLOSE_CHECK_SECONDS", 0.2)  # look often: the test moves the clock
    async with runtime.database.transaction() as session:
        scene = await competition_scene(session, "sealed_quote", bidders=1)
    token = (await token_for(runtime, scene.bidders[0].user_id))["Authorization"].split()[1]
    with clock.travel(to=scene.competition.starts_at + timedelta(seconds=1)):
        async with serving(runtime) as base, websockets.connect(ws_url(base, scene.id, token)) as ws:
            follower = Follower(ws)
            number = (await follower.next("ready"))["your_number"]
            await ws.send(json.dumps({"id": "sealed-1", "type": "quote", "amount": str(START + 9 * STEP)}))
            receipt = (await follower.next("reply"))["result"]
            assert receipt["amount"] == str(START + 9 * STEP) and receipt["salt"]  # the bidder's receipt
            own = await follower.entry("trading.competition_quoted")
            assert own["payload"]["changes"]["quotes"][0]["amount"] is None  # sealed until the close
            with clock.travel(to=scene.competition.ends_at + timedelta(seconds=1)):
                closed = await follower.entry("trading.competition_closed")  # nobody read or acted
    assert closed["view"]["result"] == "concluded" and closed["view"]["winner_number"] == number
    assert closed["payload"]["changes"]["quotes"][0]["salt"] == receipt["salt"]

"""The opening's live channel through a real uvicorn server and the ``websockets`` client:
entries in order from a sequence number, a reconnect that misses nothing, messages applied
once, and the bidder's client (unwrap at home, hand over, confirm) over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
import websockets

from core.actors import Role
from identities import service
from supervision.ledger.models import LedgerEntry
from tests.factories import PASSWORD, make_user
from tests.trading.opening_factories import opening_scene
from trading.opening_models import DecryptionAttempt
from web.app import create_app
from web.bidder_client_opening import (
    OpeningChannel,
    OpeningClient,
    OpeningRefused,
    follow_opening,
)
from web.runtime import Runtime


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """A real uvicorn server on a loopback port, in this event loop (so it shares the
    test's database engine); the lifespan is off so the shared engine stays open."""
    app = create_app(runtime=runtime)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           ws="websockets-sansio"))
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _token(runtime: Runtime, username: str) -> str:
    async with runtime.database.transaction() as session:
        _, raw = await service.sign_in(session, username, PASSWORD, source_address="127.0.0.1", hours=1)
    return raw


async def _stream_seqs(runtime: Runtime, lot_id: int) -> list[int]:
    async with runtime.database.reader() as session:
        return list((await session.scalars(sa.select(LedgerEntry.seq).where(
            LedgerEntry.stream == f"opening:{lot_id}").order_by(LedgerEntry.seq))).all())


async def _collect(feed: AsyncIterator[dict], count: int, timeout: float = 20) -> list[dict]:
    async def take() -> list[dict]:
        return [await anext(feed) for _ in range(count)]

    return await asyncio.wait_for(take(), timeout)


async def test_live_opening_over_a_real_server(runtime: Runtime, tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path)
        host_user = await make_user(session, Role.CENTER_STAFF)
    lot_id = scene.lot_id
    first, second, third = scene.bids
    tokens = [await _token(runtime, sealed.bidder.user.username) for sealed in scene.bids]
    host_token = await _token(runtime, host_user.username)
    runtime.revocation = scene.ca.revocation  # the demo CA's CRL, served without a network

    async with serving(runtime) as base:
        # A bidder follows from the start, before the opening begins.
        follower = follow_opening(base, tokens[0], lot_id)
        waiting = asyncio.ensure_future(_collect(follower, 1))
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {host_token}"}) as host:
            started = await host.post(f"/lots/{lot_id}/opening", json={"window_minutes": 30})
        assert started.status_code == 201, started.text
        assert [e["type"] for e in await waiting] == ["trading.opening_started"]
        assert (await waiting)[0]["source"] is None  # bidders do not see addresses

        # The bidder's client: unwrap at home (from the envelope head the platform hands
        # back), hand over the key; a message repeated with the same id is applied once.
        async with OpeningChannel(base, tokens[0], lot_id, from_seq=10**9) as channel:
            reply = await channel.hand_over_key(first.bid.id, first.envelope, first.bidder.encryption.key,  # type: ignore[arg-type]
                                                first.bidder.encryption.cert, message_id="key-1")
            again = await channel.hand_over_key(first.bid.id, first.envelope, first.bidder.encryption.key,  # type: ignore[arg-type]
                                                first.bidder.encryption.cert, message_id="key-1")
            assert reply["ok"] and reply["result"]["row"]["outcome"] == "opened"
            assert again["repeated"] and {k: v for k, v in again.items() if k != "repeated"} == reply
            bad = await channel.send("raise_objection", message_id="obj-1", text="")
            assert not bad["ok"] and bad["problem"]["status"] == 422
            unknown = await channel.send("sing", message_id="x-1")
            assert not unknown["ok"] and "unknown message type" in unknown["problem"]["detail"]

        # The follower drops after what it has; more happens; it resumes missing nothing.
        seen = await _collect(follower, 1)
        await follower.aclose()
        last = seen[-1]["seq"]
        client = OpeningClient(base, tokens[1])
        wrong_key = base64.b64encode(b"\x01" * 32).decode()
        refused = await asyncio.to_thread(client.http.post, f"/lots/{lot_id}/opening/keys",
                                          json={"bid_id": second.bid.id, "content_key": wrong_key})
        assert refused.status_code == 422 and "does not open this envelope" in refused.json()["detail"]
        assert refused.json()["failed_attempts"] == 1
        opened = await asyncio.to_thread(client.hand_over_key, lot_id, second.bid.id, second.bidder.encryption.key,
                                         second.bidder.encryption.cert)  # the head comes from the platform
        assert opened["accepted"] and opened["row"]["total_price"] == "11250000.55"
        other = OpeningClient(base, tokens[2])
        with pytest.raises(OpeningRefused, match="another bidder's"):
            await asyncio.to_thread(other.hand_over_key, lot_id, first.bid.id, third.bidder.encryption.key,
                                    third.bidder.encryption.cert, envelope=third.envelope)
        await asyncio.to_thread(other.hand_over_key, lot_id, third.bid.id, third.bidder.encryption.key,
                                third.bidder.encryption.cert)
        expected = [seq for seq in await _stream_seqs(runtime, lot_id) if seq > last]
        resumed = follow_opening(base, tokens[0], lot_id, from_seq=last + 1)
        again_seen = await _collect(resumed, len(expected))
        await resumed.aclose()
        assert [e["seq"] for e in again_seen] == expected
        assert [e["type"] for e in again_seen][-1] == "trading.opening_key_accepted"

        # Every bid is opened: the record is fixed; bidders confirm it with their signing keys.
        for index, sealed in enumerate(scene.bids):
            confirming = OpeningClient(base, tokens[index])
            await asyncio.to_thread(confirming.confirm_record, lot_id, sealed.bidder.signing.key,
                                    sealed.bidder.signing.cert, [scene.ca.ca.cert])
        view = await asyncio.to_thread(OpeningClient(base, tokens[0]).opening, lot_id)
        assert view["status"] == "recording" and len(view["confirmed_party_ids"]) == 3

    async with runtime.database.reader() as session:
        attempts = (await session.scalars(sa.select(DecryptionAttempt))).all()
    assert [a.succeeded for a in attempts] == [True, False, True, True]  # "key-1" applied once


async def test_channel_refuses_strangers_and_bad_tokens(runtime: Runtime, tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path, bidders=1)
        stranger = await make_user(session, Role.BIDDER)
    stranger_token = await _token(runtime, stranger.username)
    async with serving(runtime) as base:
        url = base.replace("http", "ws") + f"/ws/openings/{scene.lot_id}"
        for token, status in ((stranger_token, 403), ("bh_nonsense", 401)):
            async with websockets.connect(url) as socket_:
                await socket_.send(json.dumps({"type": "auth", "token": token}))
                message = json.loads(await socket_.recv())
                assert message["type"] == "error" and message["problem"]["status"] == status

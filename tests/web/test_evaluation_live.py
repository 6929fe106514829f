"""The evaluation session's live channel through a real uvicorn server and websockets
clients (``web.expert_client`` and the bare ``websockets`` client): resume after a drop
with nothing lost, messages applied once, strangers refused, the server deciding the
stage."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import websockets

from core.actors import Role
from evaluation import events
from evaluation.channel_models import EvaluationReceipt
from evaluation.models import EvaluationSession
from identities import service as identity_service
from supervision import live
from tests.evaluation.factories import (
    MAIN_VENUE,
    EvaluationScene,
    evaluation_scene,
    member_of,
    opened_session,
    services,
)
from tests.factories import PASSWORD, signed_in
from tests.trading.test_opening_live import serving
from web.expert_client import (
    EvaluationRefused,
    channel_url,
    connect,
    expect_ok,
    sign_in_statement,
)
from web.runtime import Runtime


@dataclass
class Opened:
    scene: EvaluationScene
    session_id: int


async def token_of(runtime: Runtime, username: str) -> str:
    async with runtime.database.transaction() as session:
        _, raw = await identity_service.sign_in(session, username, PASSWORD, source_address="127.0.0.1", hours=1)
    return raw


async def opened(runtime: Runtime, experts: int = 3) -> Opened:
    async with runtime.database.transaction() as session:
        scene = await evaluation_scene(session, services(runtime), experts=experts, bidders=3)
        ev = await opened_session(session, scene, services(runtime))
    runtime.revocation = services(runtime).revocation
    return Opened(scene, ev.id)  # type: ignore[arg-type]


async def stream_seqs(runtime: Runtime, session_id: int) -> list[int]:
    return [e["seq"] for e in await live.read_entries(runtime.database, events.session_stream(session_id), 0,
                                                       limit=10_000)]


async def receipts(runtime: Runtime) -> int:
    async with runtime.database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(EvaluationReceipt)) or 0)


async def member_id(runtime: Runtime, opened_: Opened, index: int) -> int:
    async with runtime.database.reader() as session:
        member = await member_of(session, opened_.session_id, opened_.scene.experts[index])
    return member.id  # type: ignore[return-value]


def test_the_client_signs_what_the_server_checks() -> None:
    from evaluation.members import sign_in_statement as server_statement

    assert sign_in_statement(7, 12, MAIN_VENUE) == server_statement(7, 12, MAIN_VENUE)


async def test_a_follower_resumes_after_drops_with_nothing_lost(runtime: Runtime) -> None:
    scene_ = await opened(runtime)
    hand = scene_.scene.experts[0]
    regulator_token = await token_of(runtime, scene_.scene.regulator.username)
    async with serving(runtime) as base:
        regulator = await connect(base, regulator_token, scene_.session_id)
        known = await stream_seqs(runtime, scene_.session_id)
        await regulator.wait_for(lambda e: e["seq"] == known[-1])
        await regulator.drop()  # the network fails; the client reconnects by itself
        expert = await connect(base, await token_of(runtime, hand.user.username), scene_.session_id)
        expect_ok(await expert.sign_in(MAIN_VENUE, hand.signing.key, hand.signing.cert))
        await regulator.wait_for(events.MEMBER_SIGNED_IN)  # only a new connection can bring it
        await regulator.drop()
        staff = await connect(base, await token_of(runtime, scene_.scene.staff.username), scene_.session_id)
        expect_ok(await staff.confirm_identity(await member_id(runtime, scene_, 0)))
        await regulator.wait_for(events.IDENTITY_CONFIRMED)

        # A client closed for a while asks from the entry after its last one.
        last = regulator.last_seq
        await regulator.close()
        expect_ok(await expert.declare())
        later = await connect(base, regulator_token, scene_.session_id, from_seq=last + 1)
        everything = await stream_seqs(runtime, scene_.session_id)
        await later.wait_for(lambda e: e["seq"] == everything[-1])
        assert [e["seq"] for e in regulator.entries + later.entries] == everything  # none lost, none twice
        assert regulator.connections == 3
        assert [e["type"] for e in later.entries][-1] == events.CONFLICT_DECLARED
        for client in (expert, staff, later):
            await client.close()


async def test_a_repeated_message_applies_once(runtime: Runtime) -> None:
    scene_ = await opened(runtime)
    hand = scene_.scene.experts[0]
    token = await token_of(runtime, hand.user.username)
    async with serving(runtime) as base:
        expert = await connect(base, token, scene_.session_id)
        first = await expert.sign_in(MAIN_VENUE, hand.signing.key, hand.signing.cert, message_id="sign-1")
        assert first["ok"], first
        await expert.drop()  # sent again over the next connection, with the same id
        again = await expert.sign_in(MAIN_VENUE, hand.signing.key, hand.signing.cert, message_id="sign-1")
        assert again["repeated"] is True and again["result"] == first["result"]
        second_connection = await connect(base, token, scene_.session_id, from_seq=10**9)
        third = await second_connection.sign_in(MAIN_VENUE, hand.signing.key, hand.signing.cert,
                                                message_id="sign-1")
        assert third["repeated"] is True and third["result"] == first["result"]
        other = await second_connection.send("recuse", message_id="sign-1", reason="the id names the message")
        assert other["repeated"] is True and other["result"] == first["result"]  # nothing else applied
        entries = await live.read_entries(runtime.database, events.session_stream(scene_.session_id), 0)
        assert [e["type"] for e in entries].count(events.MEMBER_SIGNED_IN) == 1
        assert await receipts(runtime) == 1
        for client in (expert, second_connection):
            await client.close()


async def test_strangers_and_bad_tokens_are_refused_at_connect(runtime: Runtime) -> None:
    scene_ = await opened(runtime)
    async with runtime.database.transaction() as session:
        _, other_bidder = await signed_in(session, Role.BIDDER)
    spare = await token_of(runtime, scene_.scene.spares[0].user.username)
    async with serving(runtime) as base:
        for token, status in ((spare, 403), (other_bidder, 403), ("bh_nonsense", 401)):
            with pytest.raises(EvaluationRefused) as refused:
                await connect(base, token, scene_.session_id)
            assert refused.value.problem["status"] == status
            async with websockets.connect(channel_url(base, scene_.session_id, 0) + f"&token={token}") as socket:
                message = json.loads(await socket.recv())
                assert message["type"] == "error" and message["problem"]["status"] == status
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await socket.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000 + status
        with pytest.raises(EvaluationRefused) as missing:
            await connect(base, spare, 999_999)
        assert missing.value.problem["status"] == 404


async def test_a_message_for_another_stage_changes_nothing(runtime: Runtime) -> None:
    scene_ = await opened(runtime)
    token = await token_of(runtime, scene_.scene.experts[0].user.username)
    async with serving(runtime) as base:
        expert = await connect(base, token, scene_.session_id, from_seq=10**9)
        before = await stream_seqs(runtime, scene_.session_id)
        early = await expert.vote_chair(await member_id(runtime, scene_, 1))
        assert not early["ok"] and early["problem"]["status"] == 409
        assert early["problem"]["type"] == "/problems/evaluation-wrong-stage" and "sign_in" in \
            early["problem"]["detail"]
        naming = await expert.send("declare", stage="detailed_scoring")
        assert not naming["ok"] and "the server decides" in naming["problem"]["detail"]
        assert await stream_seqs(runtime, scene_.session_id) == before
        assert await receipts(runtime) == 0  # refused messages leave no receipt: fix and resend
        async with runtime.database.reader() as session:
            assert (await session.get(EvaluationSession, scene_.session_id)).stage == "sign_in"  # type: ignore[union-attr]
        await expert.close()


async def _raw_channel(base: str, token: str, session_id: int) -> websockets.ClientConnection:
    socket = await websockets.connect(channel_url(base, session_id, 10**9) + f"&token={token}", max_size=None)
    assert json.loads(await socket.recv())["type"] == "ready"
    return socket


async def _reply(socket: websockets.ClientConnection) -> dict:  # type: ignore[type-arg]
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 20))
        if message["type"] == "reply":
            return message  # type: ignore[no-any-return]


async def test_malformed_and_oversized_frames_are_refused(runtime: Runtime) -> None:
    from web import routes_evaluation

    scene_ = await opened(runtime)
    token = await token_of(runtime, scene_.scene.experts[0].user.username)
    before = await stream_seqs(runtime, scene_.session_id)
    async with serving(runtime) as base:
        socket = await _raw_channel(base, token, scene_.session_id)
        cases = [
            ("{not json", None, "not valid JSON"),
            ("[1, 2]", None, "a JSON object"),
            (json.dumps({"type": "declare"}), None, "needs an id"),
            (json.dumps({"id": "", "type": "declare"}), "", "needs an id"),
            (json.dumps({"id": 7, "type": "declare"}), 7, "needs an id"),
            (json.dumps({"id": "x" * 101, "type": "declare"}), "x" * 101, "needs an id"),
            (json.dumps({"id": "m-1"}), "m-1", "needs a type"),
            (json.dumps({"id": "m-2", "type": "dance"}), "m-2", "dance"),
            (json.dumps({"id": "m-3", "type": "declare", "pad": "x" * routes_evaluation.MAX_MESSAGE_BYTES}),
             None, "at most"),  # not even parsed
        ]
        for text, message_id, words in cases:
            await socket.send(text)
            reply = await _reply(socket)
            assert reply["ok"] is False and reply["id"] == message_id, (text[:40], reply)
            assert reply["problem"]["status"] == 422 and words in reply["problem"]["detail"], reply
        await socket.send(b'{"id": "b-1", "type": "declare"}')
        binary = await _reply(socket)
        assert binary["problem"]["status"] == 422 and "text frames" in binary["problem"]["detail"]

        # Still connected: a good message after the bad ones is answered (here: refused by the rules).
        await socket.send(json.dumps({"id": "ok-1", "type": "declare"}))
        assert (await _reply(socket))["id"] == "ok-1"

        await socket.send("x" * (routes_evaluation.HARD_LIMIT_BYTES + 1))
        error = json.loads(await asyncio.wait_for(socket.recv(), 20))
        assert error["type"] == "error" and "closed" in error["problem"]["detail"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert await stream_seqs(runtime, scene_.session_id) == before
    assert await receipts(runtime) == 0


async def test_a_flood_is_rate_limited_and_others_are_unaffected(runtime: Runtime,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from web import routes_evaluation

    monkeypatch.setattr(routes_evaluation, "RATE_PER_SECOND", 0.01)  # no refill within the test
    monkeypatch.setattr(routes_evaluation, "RATE_BURST", 5)
    scene_ = await opened(runtime)
    flooder_token = await token_of(runtime, scene_.scene.experts[0].user.username)
    calm = scene_.scene.experts[1]
    async with serving(runtime) as base:
        flooder = await _raw_channel(base, flooder_token, scene_.session_id)
        for number in range(20):
            await flooder.send(json.dumps({"id": f"flood-{number}", "type": "ping"}))
        replies = [await _reply(flooder) for _ in range(20)]
        assert [r["id"] for r in replies] == [f"flood-{n}" for n in range(20)]
        handled, limited = replies[:5], replies[5:]
        assert all(r["problem"]["status"] == 422 and "ping" in r["problem"]["detail"] for r in handled)
        for reply in limited:  # refused before reaching the session
            assert reply["problem"]["status"] == 429 and reply["problem"]["detail"].startswith(
                "rate limited, retry after ") and reply["problem"]["retry_after_ms"] > 0

        other = await connect(base, await token_of(runtime, calm.user.username), scene_.session_id)
        assert (await other.sign_in(MAIN_VENUE, calm.signing.key, calm.signing.cert))["ok"]
        await other.close()
        await flooder.close()
    entries = await live.read_entries(runtime.database, events.session_stream(scene_.session_id), 0)
    assert [e["type"] for e in entries].count(events.MEMBER_SIGNED_IN) == 1


def test_the_token_bucket_refills_at_its_rate() -> None:
    from web.rate_limit import TokenBucket

    now = [0.0]
    bucket = TokenBucket(rate=4, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after_ms() == 250
    now[0] += 0.125
    assert not bucket.take() and bucket.retry_after_ms() == 125
    now[0] += 0.125
    assert bucket.take() and not bucket.take()
    now[0] += 60
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # never more than the burst
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=3)

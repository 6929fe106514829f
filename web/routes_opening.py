"""HTTP endpoints and the live channel (websocket) of the remote opening.

HTTP: ``/lots/{lot_id}/opening...`` (start, decide, keys, close, shares, objections,
record, confirmations, publish). A content key that does not open the bid is recorded
(the attempt is part of the opening) and answered with a 422 problem after the commit.

Live channel: ``/ws/openings/{lot_id}?from=SEQ`` streams every entry of the stream
``opening:<lot_id>`` the user may see, from ``SEQ`` on (resume with the last ``seq`` seen
+ 1 after a reconnect). The bearer token comes as ``?token=`` or in a first message
``{"type": "auth", "token": ...}``. Server messages::

    {"type": "ready", "from": SEQ}
    {"type": "entry", "entry": {...ledger entry...}}
    {"type": "reply", "id": ID, "ok": true, "result": {...}}  /  {"type": "reply", "id": ID, "ok": false, "problem": {...}}

Client messages carry an ``id`` (1-100 characters, unique per user): a repeated message
gets the first reply again and changes nothing. Types: ``hand_over_key`` (bid_id,
content_key), ``raise_objection`` (text), ``answer_objection`` (objection_id, reply),
``confirm`` (signature), ``hand_over_share`` (index, value, custodian_certificate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from core.actors import Actor
from core.clock import utcnow
from core.errors import BidhallError, InvalidInput
from identities.service import authenticate
from trading import opening, opening_decryption, opening_record
from trading.opening_models import ChannelReceipt
from trading.opening_schemas import (
    KeyHandover,
    KeyHandoverOut,
    ObjectionAnswer,
    ObjectionText,
    OpeningOut,
    OpeningStart,
    QuorumDecision,
    RecordSignature,
    ShareHandover,
    ShareHandoverOut,
    WindowClose,
)
from web.api import Api, json_response, parse_body, path_int
from web.auth import client_address, with_actor
from web.live_channel import (
    answer_messages,
    bearer_token,
    open_channel,
    problem_body,
    send_entries,
    serialised_sender,
    stop,
)
from web.problems import problem
from web.runtime import Runtime

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()  # no streaming uploads here
TAG = "opening"
MAX_MESSAGE_BYTES = 512 * 1024


def _runtime(request: Request | WebSocket) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]



def _body_route(method: str, suffix: str, summary: str, model: type[BaseModel] | None, response: type[BaseModel],
                call: Callable[..., Awaitable[Any]], *, status: int = 200) -> None:
    """One endpoint: parse the body as ``model``, call the use case, answer the opening."""

    async def endpoint(request: Request) -> Response:
        lot_id = path_int(request, "lot_id")
        data = await parse_body(request, model) if model is not None else None

        async def work(session: AsyncSession, actor: Actor) -> Response:
            await call(session, actor, lot_id, data, _runtime(request))
            return json_response(await opening.opening_out(session, await opening_record.opening_of(session, lot_id)),
                                 status)

        return await with_actor(request, work)

    endpoint.__name__ = f"opening_{suffix.strip('/').replace('/', '_') or 'start'}"
    api.operation(method, f"/lots/{{lot_id}}/opening{suffix}", summary, request=model, response=response,
                  status=status, tag=TAG, errors=(403, 404, 409, 422))(endpoint)


_body_route("POST", "", "Start the opening of a lot (centre staff, at or after the deadline)", OpeningStart,
            OpeningOut, lambda s, a, lot, d, r: opening.start_opening(s, a, lot, d), status=201)
_body_route("POST", "/decision", "Decide on too few bids: continue or fail (host)", QuorumDecision, OpeningOut,
            lambda s, a, lot, d, r: opening.decide_quorum(s, a, lot, d))
_body_route("POST", "/close", "Close the decryption window (host)", WindowClose, OpeningOut,
            lambda s, a, lot, d, r: opening.close_decryption_window(s, a, lot, d))
_body_route("POST", "/publish", "Publish the opening record (host)", None, OpeningOut,
            lambda s, a, lot, d, r: opening.publish_opening_record(s, a, lot, blobs=r.blobs))
_body_route("POST", "/objections", "Raise an objection at the opening (bidder)", ObjectionText, OpeningOut,
            lambda s, a, lot, d, r: opening_record.object_at_opening(s, a, lot, d), status=201)
_body_route("POST", "/confirmations", "Confirm the record by a detached CMS signature (bidder)", RecordSignature,
            OpeningOut, lambda s, a, lot, d, r: opening_record.confirm_opening_record(
                s, a, lot, d, revocation=r.revocation), status=201)


@api.operation("GET", "/lots/{lot_id}/opening", "The opening and its record so far", response=OpeningOut, tag=TAG,
               errors=(403, 404))
async def get_opening(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await opening.get_opening(session, actor, lot_id))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/opening/keys", "Hand over the content key of one's own bid (bidder)",
               request=KeyHandover, response=KeyHandoverOut, tag=TAG, errors=(403, 404, 409, 422))
async def hand_over_key(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, KeyHandover)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        result = await opening_decryption.hand_over_content_key(session, actor, lot_id, data,
                                                                blobs=_runtime(request).blobs)
        if not result.accepted:  # the attempt is recorded (committed), then refused
            return problem(422, "The content key does not open the sealed envelope", result.detail,
                           code="envelope-wrong-content-key", failed_attempts=result.row.failed_attempts)
        return json_response(result)

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/opening/shares", "Hand over a decrypted key share (custodian)",
               request=ShareHandover, response=ShareHandoverOut, tag=TAG, errors=(403, 404, 409, 422))
async def hand_over_share(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, ShareHandover)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(await opening_decryption.hand_over_key_share(session, actor, lot_id, data,
                                                                          blobs=_runtime(request).blobs))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/opening/objections/{objection_id}/reply",
               "Answer an objection raised at the opening (host)", request=ObjectionAnswer, response=OpeningOut,
               tag=TAG, errors=(403, 404, 409, 422))
async def answer_objection(request: Request) -> Response:
    lot_id, objection_id = path_int(request, "lot_id"), path_int(request, "objection_id")
    data = await parse_body(request, ObjectionAnswer)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        await opening_record.answer_opening_objection(session, actor, lot_id, objection_id, data)
        return json_response(await opening.opening_out(session, await opening_record.opening_of(session, lot_id)))

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/opening/record", "The record's canonical bytes (what bidders sign)",
               tag=TAG, errors=(403, 404, 409))
async def get_record(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        content = await opening_record.read_opening_record(session, actor, lot_id)
        return Response(content, media_type="application/json")

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/opening/bids/{bid_id}/envelope-head",
               "The recipient infos of one's own envelope, to unwrap its content key at home (bidder)",
               tag=TAG, errors=(403, 404))
async def get_envelope_head(request: Request) -> Response:
    lot_id, bid_id = path_int(request, "lot_id"), path_int(request, "bid_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        head = await opening_decryption.read_envelope_head(session, actor, lot_id, bid_id,
                                                           blobs=_runtime(request).blobs)
        return Response(head, media_type="application/octet-stream")

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/opening/key-record", "The lot's opening-key record (custodians' shares)",
               tag=TAG, errors=(403, 404))
async def get_key_record(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return JSONResponse(await opening_decryption.read_opening_key_record(session, actor, lot_id))

    return await with_actor(request, work)


# --- the live channel ---------------------------------------------------------------------------------

MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "hand_over_key": KeyHandover, "raise_objection": ObjectionText, "confirm": RecordSignature,
    "hand_over_share": ShareHandover,
}


async def _apply(session: AsyncSession, actor: Actor, runtime: Runtime, lot_id: int, kind: str,
                 fields: dict[str, Any]) -> dict[str, Any]:
    """Run one channel message's use case; returns the reply body (``ok`` and more)."""
    if kind == "answer_objection":
        objection_id = fields.pop("objection_id", None)
        if not isinstance(objection_id, int):
            raise InvalidInput("answer_objection needs an integer objection_id")
        objection = await opening_record.answer_opening_objection(session, actor, lot_id, objection_id,
                                                                  ObjectionAnswer.model_validate(fields))
        return {"ok": True, "result": {"objection_id": objection.id}}
    model = MESSAGE_MODELS.get(kind)
    if model is None:
        known = ", ".join(sorted([*MESSAGE_MODELS, "answer_objection"]))
        raise InvalidInput(f"unknown message type {kind!r}; known: {known}")
    data = model.model_validate(fields)
    if kind == "hand_over_key":
        result = await opening_decryption.hand_over_content_key(session, actor, lot_id, data, blobs=runtime.blobs)
        if not result.accepted:
            return {"ok": False, "problem": {"status": 422, "type": "/problems/envelope-wrong-content-key",
                                             "title": "The content key does not open the sealed envelope",
                                             "detail": result.detail}}
        return {"ok": True, "result": result.model_dump(mode="json")}
    if kind == "raise_objection":
        objection = await opening_record.object_at_opening(session, actor, lot_id, data)  # type: ignore[arg-type]
        return {"ok": True, "result": {"objection_id": objection.id}}
    if kind == "confirm":
        confirmation = await opening_record.confirm_opening_record(session, actor, lot_id, data,  # type: ignore[arg-type]
                                                                   revocation=runtime.revocation)
        return {"ok": True, "result": {"confirmation_id": confirmation.id}}
    result_share = await opening_decryption.hand_over_key_share(session, actor, lot_id, data,  # type: ignore[arg-type]
                                                                blobs=runtime.blobs)
    return {"ok": True, "result": result_share.model_dump(mode="json")}


async def _handle_message(runtime: Runtime, actor: Actor, lot_id: int, message: dict[str, Any]) -> dict[str, Any]:
    """Apply a message once: its receipt is stored in the same transaction as its effect."""
    message_id = message.get("id")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 100:
        return {"type": "reply", "id": message_id, "ok": False,
                "problem": problem_body(InvalidInput("every message needs an id: a string of 1 to 100 characters"))}
    fields = {k: v for k, v in message.items() if k not in ("id", "type")}
    try:
        async with runtime.database.transaction() as session:
            earlier = await session.scalar(sa.select(ChannelReceipt).where(
                ChannelReceipt.user_id == actor.user_id, ChannelReceipt.message_id == message_id))
            if earlier is not None:
                return {"type": "reply", "id": message_id, **earlier.reply, "repeated": True}
            reply = await _apply(session, actor, runtime, lot_id, str(message.get("type")), fields)
            session.add(ChannelReceipt(user_id=actor.user_id, message_id=message_id, reply=reply,  # type: ignore[arg-type]
                                       received_at=utcnow()))
            await session.flush()
        return {"type": "reply", "id": message_id, **reply}
    except IntegrityError:  # the same message, applied meanwhile by a parallel delivery
        async with runtime.database.reader() as session:
            earlier = await session.scalar(sa.select(ChannelReceipt).where(
                ChannelReceipt.user_id == actor.user_id, ChannelReceipt.message_id == message_id))
        if earlier is None:
            raise
        return {"type": "reply", "id": message_id, **earlier.reply, "repeated": True}
    except (BidhallError, ValidationError) as error:
        return {"type": "reply", "id": message_id, "ok": False, "problem": problem_body(error)}


async def _authenticate(websocket: WebSocket, runtime: Runtime, lot_id: int) -> Actor:
    token = await bearer_token(websocket)
    async with runtime.database.transaction() as session:
        actor = await authenticate(session, token, source_address=client_address(websocket))
        await opening_record.follow_opening(session, actor, lot_id)
    return actor


async def opening_channel(websocket: WebSocket) -> None:
    runtime = _runtime(websocket)
    opened = await open_channel(websocket, "lot_id", lambda lot_id: _authenticate(websocket, runtime, lot_id))
    if opened is None:
        return
    lot_id, from_seq, actor = opened
    send = serialised_sender(websocket)
    await send({"type": "ready", "from": from_seq})
    sender = asyncio.ensure_future(send_entries(send, runtime.database, f"opening:{lot_id}", from_seq,
                                                opening_record.entry_view(actor)))
    try:
        await answer_messages(websocket, send, lambda message: _handle_message(runtime, actor, lot_id, message),
                              max_bytes=MAX_MESSAGE_BYTES)
    finally:
        await stop(sender)


WEBSOCKET_ROUTES = [WebSocketRoute("/ws/openings/{lot_id}", opening_channel)]
"""The live channel's routes; the application mounts them beside the HTTP operations."""


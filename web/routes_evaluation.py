"""HTTP endpoints and the live channel (websocket) of evaluation sessions.

HTTP: centre staff open a lot's session (``POST /lots/{lot_id}/evaluation``); everyone
who may follow it reads it as they may see it (``GET /evaluations/{id}``); the report,
the signed bundle and the bid packages are downloads for those the session allows; a
bidder reads its own clarification requests (``GET /me/clarifications``).

Live channel: ``/ws/evaluations/{session_id}?from=SEQ`` streams every entry of the stream
``evaluation:<session_id>`` the user may see (``evaluation.channel.Viewer``), from ``SEQ``
on (resume with the last ``seq`` seen + 1 after a reconnect). The bearer token comes as
``?token=`` or in a first message ``{"type": "auth", "token": ...}``. Server messages::

    {"type": "ready", "from": SEQ}
    {"type": "entry", "entry": {...ledger entry as this viewer may see it...}}
    {"type": "reply", "id": ID, "ok": true, "result": {...}}
    {"type": "reply", "id": ID, "ok": false, "problem": {...RFC 9457...}}
    {"type": "error", "problem": {...}}            then the connection closes

Client messages are JSON objects ``{"id": ..., "type": ..., ...fields}`` (the kinds are
``evaluation.channel``'s). Receipts make them idempotent:

- an applied message stores its reply (``EvaluationReceipt``) in the transaction of its
  effect; the same session + user + id gets that reply again with ``"repeated": true``
  and nothing is applied twice, even after a reconnect or from a second connection;
- a refused message stores nothing, not even its receipt: the session is unchanged and
  the client may send the same id again once it has fixed the message;
- the id names the message: whatever else a repeat carries (a signature made again has
  new bytes) it gets the first reply and changes nothing.

Nothing a client sends names a stage: the server moves the session on by itself.
Frames are limited (:data:`MAX_MESSAGE_BYTES` refused, :data:`HARD_LIMIT_BYTES` closes
with 1009) and each connection has its own token bucket (:data:`RATE_PER_SECOND`,
:data:`RATE_BURST`): a flood is refused message by message, other clients see nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.actors import Actor
from core.clock import utcnow
from core.errors import BidhallError, InvalidInput
from evaluation import assessments, channel, service
from evaluation.channel_models import EvaluationReceipt
from evaluation.context import EvaluationServices
from evaluation.events import session_stream
from evaluation.schemas import SessionOpen
from expert_pool.schemas import AssessmentIn
from identities.service import authenticate
from web.api import Api, parse_body, path_int
from web.auth import client_address, with_actor
from web.live_channel import (
    Send,
    bearer_token,
    open_channel,
    problem_body,
    send_entries,
    serialised_sender,
    stop,
)
from web.rate_limit import TokenBucket
from web.runtime import Runtime

log = logging.getLogger("bidhall.evaluation.channel")

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()  # no streaming uploads here
TAG = "evaluation"
MAX_MESSAGE_BYTES = 256 * 1024
"""A larger frame is refused with a problem and the connection kept (a signed report
reply is a few kilobytes of base64 CMS; a clarification answer a few pages of text)."""
HARD_LIMIT_BYTES = 1024 * 1024
"""A frame past this is not a mistake but abuse: the connection closes with 1009."""
RATE_PER_SECOND = 20.0
"""Messages a second one connection may send over time (a person types far fewer)."""
RATE_BURST = 40
"""Messages one connection may send at once (a client resending after a reconnect)."""
MESSAGE_ID_LENGTH = (1, 100)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP = "application/zip"


def _runtime(request: Request | WebSocket) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _json(body: Any, status: int = 200) -> JSONResponse:
    """A service's dict as JSON: decimals (money, points) as text, times in RFC 3339."""
    return JSONResponse(to_jsonable_python(body), status_code=status)


def _services(runtime: Runtime) -> EvaluationServices:
    return EvaluationServices(blobs=runtime.blobs, revocation=runtime.revocation)  # type: ignore[arg-type]


# --- HTTP ------------------------------------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/evaluation", "Open the lot's evaluation session (centre staff)",
               request=SessionOpen, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def open_session(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, SessionOpen)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        opened = await service.open_session(session, actor, lot_id, data, _services(_runtime(request)))
        return _json(await service.session_view(session, actor, opened.id), 201)

    return await with_actor(request, work)


@api.operation("POST", "/evaluations/{session_id}/members/{member_id}/assessment",
               "Assess a member's work after the session (centre staff)", request=AssessmentIn, status=201,
               tag=TAG, errors=(403, 404, 409, 422))
async def assess_member(request: Request) -> Response:
    session_id, member_id = path_int(request, "session_id"), path_int(request, "member_id")
    data = await parse_body(request, AssessmentIn)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        assessment = await assessments.assess_member(session, actor, session_id, member_id, data)
        return _json({"id": assessment.id, "reference": assessment.reference, "rating": assessment.rating}, 201)

    return await with_actor(request, work)


@api.operation("GET", "/evaluations/{session_id}", "The session as the caller may see it", tag=TAG,
               errors=(403, 404))
async def get_session(request: Request) -> Response:
    session_id = path_int(request, "session_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return _json(await service.session_view(session, actor, session_id))

    return await with_actor(request, work)


def _download(request: Request, content: bytes | str, media_type: str, filename: str) -> Response:
    """Bytes as they are, or a blob (by its SHA-256) streamed from the blob store."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if isinstance(content, bytes):
        headers["X-Content-SHA256"] = hashlib.sha256(content).hexdigest()
        return Response(content, media_type=media_type, headers=headers)
    blobs = _runtime(request).blobs
    headers.update({"Content-Length": str(blobs.size(content)), "ETag": f'"{content}"', "X-Content-SHA256": content})
    return StreamingResponse(blobs.iter_chunks(content), media_type=media_type, headers=headers)


@api.operation("GET", "/evaluations/{session_id}/report",
               "The evaluation report .docx (what members sign): members and oversight, the project side once "
               "finished", tag=TAG, errors=(403, 404, 409))
async def get_report(request: Request) -> Response:
    session_id = path_int(request, "session_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        content = await service.read_report(session, actor, session_id, _runtime(request).blobs)
        return _download(request, content, DOCX, f"evaluation-report-{session_id}.docx")

    return await with_actor(request, work)


@api.operation("GET", "/evaluations/{session_id}/signed-report",
               "The signed report bundle (report, every member's signature, dissent), once finished", tag=TAG,
               errors=(403, 404, 409))
async def get_signed_report(request: Request) -> Response:
    session_id = path_int(request, "session_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        content = await service.read_signed_report(session, actor, session_id, _runtime(request).blobs)
        return _download(request, content, ZIP, f"evaluation-report-{session_id}-signed.zip")

    return await with_actor(request, work)


@api.operation("GET", "/evaluations/{session_id}/bids/{bid_id}/package",
               "An opened bid's package (ZIP) for the committee's active members and oversight", tag=TAG,
               errors=(403, 404, 409))
async def get_bid_package(request: Request) -> Response:
    session_id, bid_id = path_int(request, "session_id"), path_int(request, "bid_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        sha256 = await service.read_bid_package(session, actor, session_id, bid_id)
        return _download(request, sha256, ZIP, f"bid-{bid_id}-package.zip")

    return await with_actor(request, work)


@api.operation("GET", "/me/clarifications", "The clarification requests sent to the caller's party (bidder)",
               tag=TAG, errors=(403,))
async def get_my_clarifications(request: Request) -> Response:
    async def work(session: AsyncSession, actor: Actor) -> Response:
        return _json(await service.my_clarifications(session, actor))

    return await with_actor(request, work)


# --- the live channel: one message ----------------------------------------------------------------


def _refusal(message_id: Any, error: Exception) -> dict[str, Any]:
    return {"type": "reply", "id": message_id, "ok": False, "problem": problem_body(error)}


def _repeat(reply: dict[str, Any], message_id: str) -> dict[str, Any]:
    return {"type": "reply", "id": message_id, **reply, "repeated": True}


RECEIPTS = EvaluationReceipt.__table__


async def _receipt(session: AsyncSession, session_id: int, user_id: int | None,
                   message_id: str) -> dict[str, Any] | None:
    """The stored reply of an applied message, if this one was applied before."""
    return await session.scalar(sa.select(RECEIPTS.c.reply).where(  # type: ignore[no-any-return]
        RECEIPTS.c.session_id == session_id, RECEIPTS.c.user_id == user_id, RECEIPTS.c.message_id == message_id))


async def apply_message(runtime: Runtime, actor: Actor, session_id: int, message_id: str, kind: str,
                        fields: dict[str, Any]) -> dict[str, Any]:
    """Apply one message once; returns its reply.

    The session row is locked first, so messages of one session run one after another and
    a repeat sent from two connections at once finds the first one's receipt.
    """
    try:
        async with runtime.database.transaction() as session:
            await channel.lock_session(session, session_id)  # act finds it locked and loaded
            earlier = await _receipt(session, session_id, actor.user_id, message_id)
            if earlier is not None:
                return _repeat(earlier, message_id)
            result = await channel.act(session, actor, session_id, kind, dict(fields), _services(runtime))
            reply = {"ok": True, "result": to_jsonable_python(result)}
            await session.execute(sa.insert(RECEIPTS).values(session_id=session_id, user_id=actor.user_id,
                                                             message_id=message_id, reply=reply,
                                                             received_at=utcnow()))
        return {"type": "reply", "id": message_id, **reply}
    except IntegrityError:  # the same message, applied meanwhile by a parallel delivery
        async with runtime.database.reader() as session:
            earlier = await _receipt(session, session_id, actor.user_id, message_id)
        if earlier is None:
            raise
        return _repeat(earlier, message_id)
    except (BidhallError, ValidationError) as error:
        return _refusal(message_id, error)


def _checked_message(message: Any) -> tuple[str, str, dict[str, Any]]:
    """``(id, type, fields)`` of a well-formed message, or InvalidInput saying what is wrong."""
    if not isinstance(message, dict):
        raise InvalidInput("a message is a JSON object {\"id\": ..., \"type\": ..., ...fields}")
    message_id, kind = message.get("id"), message.get("type")
    shortest, longest = MESSAGE_ID_LENGTH
    if not isinstance(message_id, str) or not shortest <= len(message_id) <= longest:
        raise InvalidInput(f"every message needs an id: a string of {shortest} to {longest} characters")
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("every message needs a type (a string naming what it does)")
    fields = {key: value for key, value in message.items() if key not in ("id", "type")}
    if "stage" in fields:
        raise InvalidInput("the server decides the session's stage: a message never names one")
    return message_id, kind, fields


# --- the live channel: the connection -------------------------------------------------------------

class FrameTooLarge(Exception):
    """A frame past the hard limit: the connection closes with 1009."""


async def _authenticate(websocket: WebSocket, runtime: Runtime, session_id: int) -> tuple[Actor, channel.Viewer]:
    token = await bearer_token(websocket)
    async with runtime.database.transaction() as session:
        actor = await authenticate(session, token, source_address=client_address(websocket))
        viewer = await channel.join(session, actor, session_id)
    return actor, viewer


async def evaluation_channel(websocket: WebSocket) -> None:
    runtime = _runtime(websocket)
    opened = await open_channel(websocket, "session_id",
                                lambda session_id: _authenticate(websocket, runtime, session_id))
    if opened is None:
        return
    session_id, from_seq, (actor, viewer) = opened
    send = serialised_sender(websocket)
    await send({"type": "ready", "from": from_seq})
    sender = asyncio.ensure_future(send_entries(send, runtime.database, session_stream(session_id), from_seq,
                                                viewer.visible, viewer.audience))
    try:
        await _receive_messages(websocket, send, runtime, actor, session_id)
    except FrameTooLarge:
        with contextlib.suppress(Exception):
            await send({"type": "error", "problem": problem_body(InvalidInput(
                f"a frame of more than {HARD_LIMIT_BYTES} bytes; the connection is closed"))})
            await websocket.close(code=1009)
    finally:
        await stop(sender)


def _frame_text(frame: dict[str, Any]) -> str:
    """The frame's text; a binary frame or one past the limits is refused."""
    text = frame.get("text")
    size = len(text.encode()) if isinstance(text, str) else len(frame.get("bytes") or b"")
    if size > HARD_LIMIT_BYTES:
        raise FrameTooLarge
    if size > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"a message is at most {MAX_MESSAGE_BYTES} bytes; this one has {size}")
    if not isinstance(text, str):
        raise InvalidInput("messages are JSON in text frames, not binary frames")
    return text


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"the message is not valid JSON: {error}") from None


async def _receive_messages(websocket: WebSocket, send: Send, runtime: Runtime, actor: Actor,
                            session_id: int) -> None:
    bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
    while True:
        try:
            frame = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if frame["type"] == "websocket.disconnect":
            return
        within_rate = bucket.take()  # every frame counts against the flood limit, good or bad
        message: Any = None
        try:
            message = _parsed(_frame_text(frame))
            if not within_rate:
                await send(_rate_limited(message, bucket.retry_after_ms()))
                continue
            message_id, kind, fields = _checked_message(message)
        except InvalidInput as error:
            message_id = message.get("id") if isinstance(message, dict) else None
            await send(_refusal(message_id, error) if within_rate else _rate_limited(None, bucket.retry_after_ms()))
            continue
        await send(await _handle_safely(runtime, actor, session_id, message_id, kind, fields))


async def _handle_safely(runtime: Runtime, actor: Actor, session_id: int, message_id: str, kind: str,
                         fields: dict[str, Any]) -> dict[str, Any]:
    """A failure of the server's own (a bug) answers this message and keeps the connection."""
    try:
        return await apply_message(runtime, actor, session_id, message_id, kind, fields)
    except Exception as error:  # noqa: BLE001 - logged; the client gets a 500 problem for this message only
        log.exception("evaluation channel: message %r of type %r failed", message_id, kind)
        return _refusal(message_id, error)


def _rate_limited(message: Any, retry_after_ms: int) -> dict[str, Any]:
    message_id = message.get("id") if isinstance(message, dict) else None
    return {"type": "reply", "id": message_id, "ok": False, "problem": {
        "type": "/problems/rate-limited", "title": "Too many messages", "status": 429,
        "detail": f"rate limited, retry after {retry_after_ms} ms (at most {RATE_PER_SECOND:g} messages a second, "
                  f"{RATE_BURST} at once); the message was not applied",
        "retry_after_ms": retry_after_ms}}


WEBSOCKET_ROUTES = [WebSocketRoute("/ws/evaluations/{session_id}", evaluation_channel)]
"""The live channel's routes; the application mounts them beside the HTTP operations."""

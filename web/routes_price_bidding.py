"""HTTP endpoints and the live channel of price competitions (listing, auction, online bidding).

HTTP: ``/lots/{lot_id}/price-competition`` (set up, read) and ``/price-competitions/{id}``
(read, registrations, quotes, live-declaration, dutch-acceptance, bidders, deal-confirmation).

Live channel: ``/ws/price-competitions/{id}?from=SEQ`` streams the entries of
``competition:<id>`` the user may see, each with ``view``: phase, current price, the
leader's bidder number, ``your_number`` and ``you_lead``, ``ends_at``, the server time and
the seconds left. Bidders and the public see numbers, never names. The token comes as
``?token=`` or a first message ``{"type": "auth", "token": ...}``. Client messages carry an
``id`` (applied once; a repeat gets the first reply): ``quote`` (amount), ``declare_live``
(keep_bidding), ``accept_dutch`` (expected_price). While followers are connected, the
channel also applies the close when the countdown runs out, so they see the result at once.
"""

from __future__ import annotations

import asyncio
import json
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

from core import clock
from core.actors import Actor
from core.errors import BidhallError, InvalidInput
from identities.service import authenticate
from trading import price_bidding, price_bidding_quotes, price_bidding_setup
from trading.price_bidding_events import competition_stream
from trading.price_bidding_models import PriceChannelReceipt
from trading.price_bidding_schemas import (
    BidderOut,
    CompetitionSetup,
    CompetitionView,
    DutchAccept,
    LiveDeclaration,
    QuoteIn,
    QuoteOut,
    RegistrationOut,
)
from trading.price_bidding_views import entry_view
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
from web.runtime import Runtime

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
TAG = "price bidding"
MAX_MESSAGE_BYTES = 16 * 1024
CLOSE_CHECK_SECONDS = 15.0
"""Longest a channel waits before looking whether the competition's end has come."""


def _view(view: dict[str, Any]) -> JSONResponse:
    return json_response(CompetitionView.model_validate(view))


@api.operation("POST", "/lots/{lot_id}/price-competition", "Set up the lot's price competition (tenderer, agency, "
               "centre staff)", request=CompetitionSetup, response=CompetitionView, status=201, tag=TAG,
               errors=(403, 404, 409, 422))
async def set_up(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, CompetitionSetup)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        competition = await price_bidding_setup.set_up_competition(session, actor, lot_id, data)
        return json_response(CompetitionView.model_validate(
            await price_bidding.read_competition(session, actor, competition.id)), 201)  # type: ignore[arg-type]

    return await with_actor(request, work)


@api.operation("PUT", "/lots/{lot_id}/price-competition", "Change the terms of a draft lot's price competition "
               "(tenderer, agency, centre staff)", request=CompetitionSetup, response=CompetitionView, tag=TAG,
               errors=(403, 404, 409, 422))
async def amend(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, CompetitionSetup)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        competition = await price_bidding_setup.amend_competition(session, actor, lot_id, data)
        return _view(await price_bidding.read_competition(session, actor, competition.id))  # type: ignore[arg-type]

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/price-competition", "The lot's price competition", response=CompetitionView,
               tag=TAG, errors=(404,))
async def read_of_lot(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        competition_id = await price_bidding.competition_id_of_lot(session, lot_id)
        return _view(await price_bidding.read_competition(session, actor, competition_id))

    return await with_actor(request, work)


def _competition_route(method: str, suffix: str, summary: str, call: Callable[..., Awaitable[Any]], *,
                       model: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
                       status: int = 200, as_list: bool = False) -> None:
    async def endpoint(request: Request) -> Response:
        competition_id = path_int(request, "competition_id")
        data = await parse_body(request, model) if model is not None else None

        async def work(session: AsyncSession, actor: Actor) -> Response:
            result = await call(session, actor, competition_id, data)
            if response is None:
                return JSONResponse(result, status_code=status)
            if as_list:
                return json_response([response.model_validate(item) for item in result], status)
            return json_response(response.model_validate(result), status)

        return await with_actor(request, work)

    endpoint.__name__ = f"price_competition_{suffix.strip('/').replace('-', '_') or 'read'}"
    api.operation(method, f"/price-competitions/{{competition_id}}{suffix}", summary, request=model,
                  response=response, response_is_list=as_list, status=status, tag=TAG,
                  errors=(403, 404, 409, 422))(endpoint)


_competition_route("GET", "", "The competition: phase, current price, leader's number, end",
                   lambda s, a, c, d: price_bidding.read_competition(s, a, c), response=CompetitionView)
_competition_route("POST", "/registrations", "Register for the competition (bidder with a verified bid bond)",
                   lambda s, a, c, d: price_bidding.register(s, a, c), response=RegistrationOut, status=201)
_competition_route("POST", "/quotes", "Quote (listing, live phase, auction, round, sealed quote)",
                   price_bidding_quotes.submit_quote, model=QuoteIn, response=QuoteOut, status=201)
_competition_route("POST", "/live-declaration", "Declare during the listing whether one keeps bidding live",
                   price_bidding_quotes.declare_live, model=LiveDeclaration, response=RegistrationOut)
_competition_route("POST", "/dutch-acceptance", "Accept the current Dutch price (the first acceptance buys)",
                   price_bidding_quotes.accept_dutch, model=DutchAccept, response=QuoteOut, status=201)
_competition_route("GET", "/bidders", "Who is behind each bidder number (centre staff, regulators)",
                   lambda s, a, c, d: price_bidding.read_bidders(s, a, c), response=BidderOut, as_list=True)
_competition_route("GET", "/deal-confirmation", "The deal confirmation (成交确认书) as JSON",
                   lambda s, a, c, d: price_bidding.read_deal_confirmation(s, a, c))


# --- the live channel ---------------------------------------------------------------------------------

MESSAGES: dict[str, tuple[type[BaseModel], Callable[..., Awaitable[Any]], type[BaseModel]]] = {
    "quote": (QuoteIn, price_bidding_quotes.submit_quote, QuoteOut),
    "declare_live": (LiveDeclaration, price_bidding_quotes.declare_live, RegistrationOut),
    "accept_dutch": (DutchAccept, price_bidding_quotes.accept_dutch, QuoteOut),
}


async def _receipt(session: AsyncSession, competition_id: int, actor: Actor, message_id: str) -> dict[str, Any] | None:
    earlier = await session.scalar(sa.select(PriceChannelReceipt).where(
        PriceChannelReceipt.competition_id == competition_id, PriceChannelReceipt.user_id == actor.user_id,
        PriceChannelReceipt.message_id == message_id))
    return None if earlier is None else earlier.reply


async def _handle(runtime: Runtime, actor: Actor, competition_id: int, message: dict[str, Any]) -> dict[str, Any]:
    """Apply a message once: its receipt is stored in the same transaction as its effect."""
    message_id = message.get("id")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 100:
        return {"type": "reply", "id": message_id, "ok": False,
                "problem": problem_body(InvalidInput("every message needs an id: a string of 1 to 100 characters"))}
    kind = message.get("type")
    fields = {key: value for key, value in message.items() if key not in ("id", "type")}
    try:
        if kind not in MESSAGES:
            raise InvalidInput(f"unknown message type {kind!r}; known: {', '.join(sorted(MESSAGES))}")
        model, call, out = MESSAGES[kind]  # type: ignore[index]
        async with runtime.database.transaction() as session:
            earlier = await _receipt(session, competition_id, actor, message_id)
            if earlier is not None:
                return {"type": "reply", "id": message_id, **earlier, "repeated": True}
            result = await call(session, actor, competition_id, model.model_validate_json(json.dumps(fields)))
            reply = {"ok": True, "result": out.model_validate(result).model_dump(mode="json")}
            session.add(PriceChannelReceipt(competition_id=competition_id, user_id=actor.user_id,  # type: ignore[arg-type]
                                            message_id=message_id, reply=reply, received_at=clock.utcnow()))
            await session.flush()
        return {"type": "reply", "id": message_id, **reply}
    except IntegrityError:  # the same message applied meanwhile by a parallel delivery
        async with runtime.database.reader() as session:
            earlier = await _receipt(session, competition_id, actor, message_id)
        if earlier is None:
            raise
        return {"type": "reply", "id": message_id, **earlier, "repeated": True}
    except (BidhallError, ValidationError) as error:
        return {"type": "reply", "id": message_id, "ok": False, "problem": problem_body(error)}


async def _connect(websocket: WebSocket, runtime: Runtime, competition_id: int) -> tuple[Actor, str | None]:
    """The follower and its own bidder number (if registered); anyone signed in may follow the board."""
    token = await bearer_token(websocket)
    async with runtime.database.transaction() as session:
        actor = await authenticate(session, token, source_address=client_address(websocket))
        await price_bidding.read_competition(session, actor, competition_id)  # exists, and what is due is applied
        number = await price_bidding.own_bidder_number(session, actor, competition_id)
    return actor, number


async def _close_when_due(runtime: Runtime, actor: Actor, competition_id: int) -> None:
    """Apply the close when the end comes, so followers see the result without anyone acting.

    It waits in plain reads; only a step that is due is applied, in a writing transaction
    (an idle follower never holds the write lock, which SQLite has one of)."""
    while True:
        async with runtime.database.reader() as session:
            closed, due = await price_bidding.next_step_due(session, competition_id)
        if closed:
            return
        if due is None:  # the lot is suspended: nothing is due until it resumes
            await asyncio.sleep(CLOSE_CHECK_SECONDS)
            continue
        left = (due - clock.utcnow()).total_seconds()
        if left > 0:
            await asyncio.sleep(min(left + 0.05, CLOSE_CHECK_SECONDS))
            continue
        async with runtime.database.transaction() as session:
            await price_bidding.read_competition(session, actor, competition_id)  # applies what is due


async def competition_channel(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    opened = await open_channel(websocket, "competition_id",
                                lambda competition_id: _connect(websocket, runtime, competition_id))
    if opened is None:
        return
    competition_id, from_seq, (actor, number) = opened
    send = serialised_sender(websocket)
    await send({"type": "ready", "from": from_seq, "your_number": number})
    tasks = [asyncio.ensure_future(send_entries(send, runtime.database, competition_stream(competition_id), from_seq,
                                                entry_view(actor, number))),
             asyncio.ensure_future(_close_when_due(runtime, actor, competition_id))]
    try:
        await answer_messages(websocket, send, lambda message: _handle(runtime, actor, competition_id, message),
                              max_bytes=MAX_MESSAGE_BYTES)
    finally:
        await stop(*tasks)


WEBSOCKET_ROUTES = [WebSocketRoute("/ws/price-competitions/{competition_id}", competition_channel)]
"""The live channel's routes; the application mounts them beside the HTTP operations."""

"""Who is calling: the bearer token of a request turned into an :class:`Actor`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from core.actors import Actor
from core.errors import NotAuthenticated
from identities.service import authenticate


def bearer_token(connection: HTTPConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send an 'Authorization: Bearer <token>' header (POST /auth/login gives one)")
    return token.strip()


def client_address(connection: HTTPConnection) -> str | None:
    return connection.client.host if connection.client else None


async def current_actor(connection: HTTPConnection, session: AsyncSession) -> Actor:
    return await authenticate(session, bearer_token(connection), source_address=client_address(connection))


async def with_actor(request: Request, work: Callable[[AsyncSession, Actor], Awaitable[Response]]) -> Response:
    """Run ``work`` in one transaction (the request's commit point) as the signed-in caller."""
    async with request.app.state.runtime.database.transaction() as session:
        return await work(session, await current_actor(request, session))

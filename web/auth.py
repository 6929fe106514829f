"""Who is calling: the bearer token of a request turned into an :class:`Actor`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

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

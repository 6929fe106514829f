"""What the HTTP endpoints of projects, notices and documents share: one ``Api``, the
optional actor of public reads, and query parsing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from core.actors import Actor
from core.clock import parse_rfc3339
from core.errors import FieldError, InvalidInput
from web.api import Api
from web.auth import current_actor

api = Api()
ModelT = TypeVar("ModelT", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)



async def with_optional_actor(request: Request,
                              work: Callable[[AsyncSession, Actor | None], Awaitable[Response]]) -> Response:
    """Public reads: anyone may call; a signed-in caller may see more (its own drafts)."""
    async with request.app.state.runtime.database.transaction() as session:
        actor = await current_actor(request, session) if "authorization" in request.headers else None
        return await work(session, actor)


def query_enum(request: Request, name: str, kind: type[E]) -> E | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"query parameter {name} must be one of {allowed}",
                           [FieldError(f"?{name}", f"got {text!r}")]) from None


def query_time(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be an RFC 3339 time with an offset, e.g. "
                           "2025-03-01T00:00:00+08:00", [FieldError(f"?{name}", f"got {text!r}")]) from None


def query_text(request: Request, name: str, *, max_length: int, pattern: str | None = None) -> str | None:
    text = request.query_params.get(name)
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if len(text) > max_length or (pattern is not None and not re.fullmatch(pattern, text)):
        rule = f"at most {max_length} characters" + (f" matching {pattern}" if pattern else "")
        raise InvalidInput(f"query parameter {name}: {rule}", [FieldError(f"?{name}", f"got {text!r}")])
    return text


def query_id(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise InvalidInput(f"query parameter {name} must be an id (a positive whole number)",
                           [FieldError(f"?{name}", f"got {text!r}")])
    return int(text)

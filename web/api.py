"""Declaring HTTP operations once: the route, its input and output models, its docs.

Each endpoint is declared with :meth:`Api.operation`; the same declaration builds the
Starlette route and its entry in ``/openapi.json``, so the document cannot drift from the
endpoints. Bodies are parsed here: malformed JSON, wrong types and unknown fields become
422 problems naming the field; nothing reaches a service unvalidated.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import FieldError, InvalidInput
from web.problems import from_validation_error

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    handler: Handler
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_is_list: bool = False
    status: int = 200
    authenticated: bool = True
    tag: str = "general"
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()


@dataclass
class Api:
    operations: list[Operation] = field(default_factory=list)

    def operation(self, method: str, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, summary, handler, **options))
            return handler

        return register

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Handler]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op.handler
        return [Route(path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()]


def _dispatch(methods: dict[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        return await methods[request.method](request)

    return endpoint


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """The request body validated as ``model``; every failure is a 422 naming the field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/json":
        raise InvalidInput(f"the body must be application/json, not {content_type or 'missing'!r}")
    raw = await request.body()
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        message = getattr(error, "msg", str(error))
        position = getattr(error, "pos", None)
        raise InvalidInput(
            f"the body is not valid JSON: {message} at byte {position}",
            [FieldError("$", "malformed JSON")],
        ) from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise from_validation_error(error) from None


def query_int(request: Request, name: str, default: int, *, minimum: int, maximum: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not minimum <= int(text) <= maximum:
        raise InvalidInput(
            f"query parameter {name} must be a whole number from {minimum} to {maximum}",
            [FieldError(f"?{name}", f"expected an integer in [{minimum}, {maximum}], got {text!r}")],
        )
    return int(text)


def path_int(request: Request, name: str) -> int:
    text = str(request.path_params[name])
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"{name} must be a positive whole number", [FieldError(f"path.{name}", "not an id")])
    return int(text)


def json_response(body: BaseModel | list[BaseModel] | dict[str, Any], status: int = 200) -> JSONResponse:
    if isinstance(body, BaseModel):
        content: Any = body.model_dump(mode="json")
    elif isinstance(body, list):
        content = [item.model_dump(mode="json") for item in body]
    else:
        content = body
    return JSONResponse(content, status_code=status)

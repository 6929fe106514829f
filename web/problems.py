"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every failure a client can cause ends here with a status, a title, a detail saying what is
wrong and, for invalid input, the JSON pointer of each offending field. Nothing else
(no traceback) ever reaches the client.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ca_interop.platform_seal import PlatformSealMissing
from ca_interop.tsa_config import TimestampAuthorityMissing
from core.errors import (
    BidhallError,
    Conflict,
    FieldError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
)

log = logging.getLogger("bidhall.web")

PROBLEM_CONTENT_TYPE = "application/problem+json"

STATUS_OF: dict[type[BidhallError], int] = {
    InvalidInput: 422,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    RuleViolation: 409,
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_CONTENT_TYPE


def problem(
    status: int, title: str, detail: str, *, code: str = "about:blank", **extra: Any
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": "about:blank" if code == "about:blank" else f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


def field_errors(errors: list[FieldError]) -> list[dict[str, str]] | None:
    return [{"pointer": e.pointer, "detail": e.message} for e in errors] or None


def from_domain_error(error: BidhallError) -> ProblemResponse:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 400)
    extra: dict[str, Any] = {}
    if isinstance(error, InvalidInput):
        extra["errors"] = field_errors(error.errors)
    if isinstance(error, RuleViolation):
        extra["rule"] = error.rule
    return problem(status, error.title, error.detail, code=error.code, **extra)


def from_validation_error(error: ValidationError) -> InvalidInput:
    """Pydantic's errors as field errors with JSON-pointer-like paths (``$.roles[0]``)."""
    fields = [FieldError(pointer=_pointer(item["loc"]), message=_message(item)) for item in error.errors()]
    summary = "; ".join(f"{f.pointer}: {f.message}" for f in fields[:5])
    return InvalidInput(f"invalid fields: {summary}", fields)


def _pointer(location: tuple[Any, ...]) -> str:
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown field"
    message = str(item["msg"])
    return message.removeprefix("Value error, ")


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BidhallError)
    return from_domain_error(exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return problem(exc.status_code, _http_title(exc.status_code), detail)


async def handle_missing_platform_key(request: Request, exc: Exception) -> Response:
    """The platform's TSA or e-seal is not configured: the service cannot do this yet."""
    log.error("platform key material missing on %s %s: %s", request.method, request.url.path, exc)
    return problem(503, "Service unavailable", f"the platform is not fully configured: {exc}")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed; the error was logged")


def _http_title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS = {
    BidhallError: handle_domain_error,
    HTTPException: handle_http_error,
    TimestampAuthorityMissing: handle_missing_platform_key,
    PlatformSealMissing: handle_missing_platform_key,
    Exception: handle_unexpected,
}

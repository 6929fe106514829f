"""The registry of use cases and the role check every one of them runs first.

Every service function that a person can trigger is declared with :func:`use_case`, naming
the roles allowed to call it. The check happens inside the service, so no endpoint, task
or command can forget it, and a test walks the registry with every role.
Finer rules (own records only, jurisdiction) are checked in the function body.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from core.actors import Actor, Role
from core.errors import NotAuthenticated, PermissionDenied

P = ParamSpec("P")
R = TypeVar("R")

ANY_ROLE = frozenset(Role)


@dataclass(frozen=True)
class UseCase:
    name: str
    roles: frozenset[Role]
    function: Callable[..., Awaitable[Any]]


USE_CASES: dict[str, UseCase] = {}


def use_case(
    name: str, roles: frozenset[Role] | set[Role]
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Declare a service function as the use case ``name``, callable by ``roles``.

    The wrapped function must take ``(session, actor, ...)``.
    """
    allowed = frozenset(roles)

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            actor = kwargs.get("actor", args[1] if len(args) > 1 else None)
            require_role(actor, allowed, name)  # type: ignore[arg-type]
            return await function(*args, **kwargs)

        if name in USE_CASES:
            raise RuntimeError(f"use case {name} declared twice")
        USE_CASES[name] = UseCase(name=name, roles=allowed, function=guarded)
        guarded.use_case_name = name  # type: ignore[attr-defined]
        return guarded

    return decorate


def require_role(actor: Actor | None, allowed: frozenset[Role], what: str) -> None:
    if actor is None:
        raise NotAuthenticated(f"{what} needs a signed-in user")
    if not actor.has_any(allowed):
        needed = ", ".join(sorted(allowed))
        raise PermissionDenied(f"{what} is reserved to: {needed}")

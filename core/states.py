"""One guarded way to change a status: the allowed transitions are a table, not a ``match``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from core.errors import Conflict

S = TypeVar("S", bound=StrEnum)


def check_transition(what: str, current: S, target: S, allowed: Mapping[S, frozenset[S]]) -> None:
    """Raise :class:`Conflict` naming the current status unless ``current -> target`` is allowed."""
    if target not in allowed.get(current, frozenset()):
        possible = ", ".join(sorted(allowed.get(current, frozenset()))) or "none (final)"
        raise Conflict(f"{what} is {current}; it cannot become {target} (possible: {possible})")

"""The registry of warning rules, and what a rule is.

Supervision knows no domain: each domain declares its rules in its own
``warning_rules.py`` and registers them here on import (the composition root and the
worker import them). A rule is a small object with a code, a title, its documentation
(the function's docstring: what it looks for and why it matters), its parameters with
their defaults, and ``evaluate(session, window)`` returning :class:`Finding` objects.

Parameters are data: each domain keeps the defaults of its rules in a JSON file beside its
rules module (``<domain>/data/warning_rules.json``, ``{rule_code: {name: value}}``), and a
run may override any of them (``bidhall warnings run --parameters FILE``, or the file named
by ``BIDHALL_WARNING_PARAMETERS_FILE`` for the periodic job). Values are JSON: decimals are
written as strings and read with :meth:`Window.decimal`, never as floats.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.blobs import BlobStore
from core.errors import FieldError, InvalidInput
from supervision.scopes import Scope
from supervision.warnings import events as _events  # noqa: F401 - registers the scope of warning streams


@dataclass(frozen=True)
class Subject:
    """What a warning is about. ``key`` identifies it for deduplication: the same rule
    finding the same key again updates the existing warning instead of raising another."""

    kind: str  # project, lot, party, expert or stream
    key: str


@dataclass(frozen=True)
class Finding:
    """One thing a rule found: about whom, what it saw (JSON evidence) and where (scope)."""

    subject: Subject
    summary: str
    evidence: dict[str, Any]
    scope: Scope


@dataclass(frozen=True)
class Window:
    """The period a run reviews, and what the run hands to each rule: the rule's effective
    parameters and the blob store (for rules that read opened bid packages)."""

    since: datetime
    until: datetime
    parameters: Mapping[str, Any] = field(default_factory=dict)
    blobs: BlobStore | None = None

    def integer(self, name: str) -> int:
        return int(self.parameters[name])

    def decimal(self, name: str) -> Decimal:
        return Decimal(str(self.parameters[name]))

    def with_parameters(self, parameters: Mapping[str, Any]) -> Window:
        return Window(self.since, self.until, dict(parameters), self.blobs)


class Rule(Protocol):
    code: str
    title: str
    documentation: str
    defaults: Mapping[str, Any]

    async def evaluate(self, session: AsyncSession, window: Window) -> list[Finding]: ...


Evaluate = Callable[[AsyncSession, Window], Awaitable[list[Finding]]]


@dataclass(frozen=True)
class FunctionRule:
    """A rule written as one async function; its docstring is its documentation."""

    code: str
    title: str
    documentation: str
    defaults: Mapping[str, Any]
    function: Evaluate

    async def evaluate(self, session: AsyncSession, window: Window) -> list[Finding]:
        return await self.function(session, window)


_RULES: dict[str, Rule] = {}


def register(rule: Rule) -> None:
    """Add ``rule`` (idempotent for the same code and function: modules may be re-imported)."""
    _RULES[rule.code] = rule


def registered_rules() -> list[Rule]:
    return [_RULES[code] for code in sorted(_RULES)]


def rule_by_code(code: str) -> Rule | None:
    return _RULES.get(code)


def load_defaults(package: str, name: str = "data/warning_rules.json") -> dict[str, dict[str, Any]]:
    """The per-rule defaults a domain ships beside its rules module."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def warning_rule(code: str, title: str, defaults: Mapping[str, Mapping[str, Any]]) -> Callable[[Evaluate], Evaluate]:
    """Declare ``function`` as the rule ``code`` with its defaults taken from ``defaults[code]``."""

    def declare(function: Evaluate) -> Evaluate:
        documentation = " ".join((function.__doc__ or "").split())
        register(FunctionRule(code, title, documentation, dict(defaults.get(code, {})), function))
        return function

    return declare


def effective_parameters(rule: Rule, overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The rule's defaults with the run's overrides for it; an unknown parameter is refused
    (a typo must not silently leave a default in force)."""
    mine = dict((overrides or {}).get(rule.code, {}))
    unknown = sorted(set(mine) - set(rule.defaults))
    if unknown:
        raise InvalidInput(f"rule {rule.code} has no parameter {', '.join(unknown)}",
                           [FieldError(f"$.{rule.code}.{name}", "unknown parameter") for name in unknown])
    for name, value in mine.items():
        _check_like(rule.code, name, rule.defaults[name], value)
    return {**rule.defaults, **mine}


def _check_like(code: str, name: str, default: Any, value: Any) -> None:
    """An override has the default's kind: a whole number for a whole number, a decimal
    string for a decimal string, a list of strings for a list."""
    pointer = f"$.{code}.{name}"
    if isinstance(default, int):  # bool is an int too
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"{code}.{name} must be a whole number >= 0", [FieldError(pointer, "not a count")])
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidInput(f"{code}.{name} must be a list of strings", [FieldError(pointer, "not a list")])
    elif isinstance(default, str):
        try:
            ok = isinstance(value, str) and Decimal(value) >= 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise InvalidInput(f"{code}.{name} must be a decimal string >= 0 like {default!r}",
                               [FieldError(pointer, "not a decimal string")])


def read_overrides(text: str, source: str) -> dict[str, dict[str, Any]]:
    """Parse an overrides file: ``{rule_code: {parameter: value}}`` for known rules."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{source} is not JSON: {error}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidInput(f"{source} must be an object of rule codes to objects of parameters")
    unknown = sorted(set(data) - set(_RULES))
    if unknown:
        raise InvalidInput(f"{source} names unknown rules: {', '.join(unknown)}",
                           [FieldError(f"$.{code}", "unknown rule") for code in unknown])
    return data

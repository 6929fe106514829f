"""Errors the use cases raise. They know nothing of HTTP; ``web`` maps them to problems."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with one input field, named by its JSON path (``$.party.uscc``)."""

    pointer: str
    message: str


class BidhallError(Exception):
    """Base of every expected failure; ``code`` is a stable machine-readable name."""

    code = "error"
    title = "Request failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(BidhallError):
    code = "invalid-input"
    title = "The input is not valid"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class NotAuthenticated(BidhallError):
    code = "not-authenticated"
    title = "Authentication required"


class PermissionDenied(BidhallError):
    code = "permission-denied"
    title = "Not allowed"


class NotFound(BidhallError):
    code = "not-found"
    title = "Not found"


class Conflict(BidhallError):
    code = "conflict"
    title = "Conflicts with the current state"


class RuleViolation(BidhallError):
    """A legal or business rule refuses the change; ``rule`` names which one."""

    code = "rule-violation"
    title = "Refused by a rule"

    def __init__(self, detail: str, rule: str) -> None:
        super().__init__(detail)
        self.rule = rule


@dataclass
class ErrorReport:
    """Per-item errors of a batch (imports), so one bad row stops nothing else."""

    errors: list[FieldError] = field(default_factory=list)

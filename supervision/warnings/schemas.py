"""Inputs and outputs of the warnings' use cases (HTTP and the command line)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from core.schemas import Input, Output


class WarningOut(Output):
    id: int
    rule_code: str
    subject_kind: str
    subject_key: str
    summary: str
    evidence: dict[str, Any]
    project_id: int | None
    region_code: str | None
    segment: str | None
    status: str
    status_reason: str | None
    handled_by: int | None
    raised_at: datetime
    updated_at: datetime


class WarningSummary(Output):
    """A warning in a list: everything but the evidence."""

    id: int
    rule_code: str
    subject_key: str
    summary: str
    project_id: int | None
    region_code: str | None
    segment: str | None
    status: str
    raised_at: datetime


class CloseWarningIn(Input):
    reason: str = Field(min_length=1, max_length=4000, description="what the investigation found, or why the sign "
                                                                   "was not one")


class RuleOut(Output):
    code: str
    title: str
    documentation: str
    parameters: dict[str, Any]

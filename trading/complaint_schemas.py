"""Inputs and outputs of complaints and monitoring cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from core.schemas import Input, Output
from trading.states import CaseSource, ComplaintOutcome

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Matter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24)]


class ComplaintCreate(Input):
    matter: Matter = Field(description="What the complaint is about: documents, opening, result or process "
                                       "(trading/data/complaint_rules.json).")
    grounds: Text = Field(description="The legal grounds (投诉事项及依据).")
    requests: Text = Field(description="What the complainant asks the regulator to do.")
    facts: Text = Field(description="The facts, with reference to the evidence files.")
    known_at: AwareDatetime | None = Field(
        default=None, description="When the complainant knew (or should have known) of the breach; needed when "
                                  "the window counts from it.")
    objection_id: int | None = Field(default=None, ge=1,
                                     description="The objection or challenge raised first, where the law needs one.")


class AcceptanceDecision(Input):
    accept: bool
    reason: Text | None = Field(default=None, description="Required when the complaint is not accepted.")


class SuspensionOrder(Input):
    reason: Text
    until: AwareDatetime | None = Field(
        default=None, description="Procurement: at most the legal maximum (default: the maximum). Construction: "
                                  "optional; without it the suspension lasts until the decision.")


class ComplaintDecisionIn(Input):
    outcome: ComplaintOutcome
    reasons: Text


class EvidenceOut(Output):
    id: int
    complaint_id: int
    name: str
    media_type: str
    sha256: str
    size: int
    uploaded_at: datetime


class ComplaintOut(Output):
    id: int
    project_id: int
    lot_id: int
    party_id: int
    matter: str
    objection_id: int | None
    grounds: str
    requests: str
    facts: str
    known_at: datetime | None
    filed_at: datetime
    window_rule: str
    window_until: datetime
    status: str
    acceptance_rule: str
    acceptance_due: datetime
    acceptance_decided_at: datetime | None
    acceptance_late: bool | None
    acceptance_reason: str | None
    decision_rule: str | None
    decision_due: datetime | None
    outcome: str | None
    decision_reasons: str | None
    decided_at: datetime | None
    decision_late: bool | None
    decision_notice_id: int | None
    suspended_at: datetime | None
    suspended_until: datetime | None
    resumed_at: datetime | None
    evidence: list[EvidenceOut] = []


class CaseOpen(Input):
    project_id: int = Field(ge=1)
    lot_id: int | None = Field(default=None, ge=1)
    source: CaseSource
    warning_id: int | None = Field(default=None, ge=1, description="Required when the source is a warning.")
    subject: Text


class FindingIn(Input):
    text: Text


class ResponseRequest(Input):
    request: Text
    due: AwareDatetime


class CaseResponse(Input):
    response: Text


class CaseConclusion(Input):
    conclusion: Text


class FindingOut(Output):
    id: int
    case_id: int
    text: str
    recorded_at: datetime


class CaseOut(Output):
    id: int
    project_id: int
    lot_id: int | None
    source: str
    warning_id: int | None
    subject: str
    status: str
    opened_at: datetime
    response_request: str | None
    response_due: datetime | None
    response: str | None
    responded_at: datetime | None
    conclusion: str | None
    closed_at: datetime | None
    findings: list[FindingOut] = []

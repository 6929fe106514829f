"""Inputs and outputs of projects and lots.

Money is ``Decimal`` yuan given as JSON text ("12500000.00"): positive, at most two
decimal places. Times are RFC 3339 with an offset (a time without one is refused).
The legal time limits are not checked here but at publication (trading.rules), where the
whole timetable and the procedure are known.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

from core.schemas import Input, Output
from trading.states import PROCEDURES_BY_SEGMENT, Procedure, Segment

MAX_MONEY = Decimal("9999999999999999.99")  # Numeric(18, 2)


def _money_text(value: object) -> Decimal:
    """Amounts travel as JSON text: a JSON number may have passed through a float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f'an amount is given as text with 2 decimal places, e.g. "12500000.00", not {value!r}')
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount of yuan") from None


def _money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("an amount must be a finite number of yuan")
    if value <= 0:
        raise ValueError(f"an amount must be positive, got {value}")
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise ValueError(f"an amount has at most 2 decimal places (fen), got {value}")
    if value > MAX_MONEY:
        raise ValueError(f"an amount is at most {MAX_MONEY} yuan")
    return value.quantize(Decimal("0.01"))


Money = Annotated[Decimal, BeforeValidator(_money_text), AfterValidator(_money)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
Pem = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


def check_segment_procedure(segment: Segment | str, procedure: Procedure | str) -> None:
    """Raise ValueError naming the procedures of ``segment`` unless ``procedure`` is one."""
    allowed = PROCEDURES_BY_SEGMENT[Segment(segment)]
    if procedure not in allowed:
        raise ValueError(f"procedure {procedure} is not a procedure of segment {segment}; "
                         f"use one of {', '.join(allowed)}")


class ProjectCreate(Input):
    title: Title
    segment: Segment = Field(description="construction, government_procurement, land_mining or state_property.")
    procedure: Procedure = Field(description="One of the procedures of the segment (GET /rules/procedures).")
    region_code: RegionCode = Field(description="Administrative division code (GB/T 2260), 6 digits.")
    industry: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    tenderer_party_id: int | None = Field(default=None, ge=1,
                                          description="The tenderer, when an agency creates the project.")

    @model_validator(mode="after")
    def _procedure_of_segment(self) -> ProjectCreate:
        check_segment_procedure(self.segment, self.procedure)
        return self


class TimetableIn(Input):
    documents_from: AwareDatetime
    documents_until: AwareDatetime
    bid_deadline: AwareDatetime
    opening_at: AwareDatetime
    clarification_until: AwareDatetime | None = None
    objection_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _in_order(self) -> TimetableIn:
        if self.documents_until <= self.documents_from:
            raise ValueError("documents_until must be after documents_from")
        if self.bid_deadline <= self.documents_from:
            raise ValueError("bid_deadline must be after documents_from")
        if self.opening_at < self.bid_deadline:
            raise ValueError("opening_at cannot be before bid_deadline")
        for name in ("clarification_until", "objection_until"):
            moment = getattr(self, name)
            if moment is not None and moment > self.bid_deadline:
                raise ValueError(f"{name} cannot be after bid_deadline")
        return self


class LotFields(Input):
    """What a lot is made of; ``LotCreate`` needs the core of it, ``LotEdit`` any part."""

    title: Title | None = None
    budget: Money | None = Field(default=None, description="Budget (预算), yuan, 2 places, as text.")
    ceiling_price: Money | None = Field(default=None, description="Ceiling price (最高投标限价), yuan.")
    evaluation_method: str | None = Field(default=None, description="A method of GET /rules/evaluation-methods.")
    evaluation_parameters: dict[str, Any] | None = None
    bid_bond_amount: Money | None = None
    min_bidders: int | None = Field(default=None, ge=1, le=100,
                                    description="Fewest bids to open (default: the procedure's legal minimum).")
    custodian_fallback: bool | None = None
    custodian_certificates: list[Pem] | None = Field(default=None, max_length=255,
                                                     description="PEM encryption certificates of the custodians.")
    custodian_threshold: int | None = Field(default=None, ge=2, le=255)
    timetable: TimetableIn | None = None


class LotCreate(LotFields):
    title: Title
    evaluation_method: str
    evaluation_parameters: dict[str, Any] = Field(default_factory=dict)
    timetable: TimetableIn

    @model_validator(mode="after")
    def _a_price(self) -> LotCreate:
        if self.budget is None and self.ceiling_price is None:
            raise ValueError("a lot needs a budget or a ceiling price")
        return self


class LotEdit(LotFields):
    """Only the fields given change (PATCH)."""


class LotOut(Output):
    id: int
    project_id: int
    number: int
    code: str
    title: str
    budget: Decimal | None
    ceiling_price: Decimal | None
    evaluation_method: str
    evaluation_parameters: dict[str, Any]
    bid_bond_amount: Decimal | None
    min_bidders: int
    custodian_fallback: bool
    custodian_threshold: int | None
    opening_certificate_fingerprint: str | None
    opening_certificate_pem: str | None = Field(default=None, description="Bids' key is sealed to it too "
                                                "when the custodian fallback applies.")
    documents_from: datetime | None
    documents_until: datetime | None
    clarification_until: datetime | None
    objection_until: datetime | None
    bid_deadline: datetime | None
    opening_at: datetime | None
    status: str
    created_at: datetime
    updated_at: datetime


class ProjectOut(Output):
    id: int
    code: str
    title: str
    segment: str
    procedure: str
    tenderer_party_id: int
    agency_party_id: int | None
    region_code: str
    industry: str
    status: str
    created_at: datetime
    updated_at: datetime
    lots: list[LotOut] = Field(default_factory=list)


class ProjectPage(Output):
    items: list[ProjectOut]
    total: int
    offset: int
    limit: int


class CancelLot(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]

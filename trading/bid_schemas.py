"""Inputs and outputs of party credit, uploads, bids and bonds (validation lives here)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from core.schemas import Input, Output
from trading.bid_states import BondForm
from trading.states import CreditKind

SHA256_HEX = r"^[0-9a-f]{64}$"
MAX_SIGNATURE_B64 = 400_000  # a detached CMS with a certificate chain is a few KB


# --- parties and credit -------------------------------------------------------------------


class QualificationCreate(Input):
    kind: str = Field(min_length=1, max_length=64, description="e.g. construction_general_contracting")
    grade: str = Field(min_length=1, max_length=32, description="e.g. grade_1, special")
    certificate_number: str = Field(min_length=1, max_length=64)
    expires_on: date


class CreditRecordCreate(Input):
    kind: CreditKind
    reason: str = Field(min_length=1, max_length=4000)
    authority: str = Field(min_length=1, max_length=200, description="who decided it, e.g. the provincial housing department")
    start_date: date
    end_date: date | None = Field(default=None, description="empty: open-ended")

    @model_validator(mode="after")
    def _ordered(self) -> CreditRecordCreate:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class CreditRecordEnd(Input):
    end_date: date


class QualificationOut(Output):
    id: int
    party_id: int
    kind: str
    grade: str
    certificate_number: str
    expires_on: date
    created_at: datetime


class CreditRecordOut(Output):
    id: int
    party_id: int
    kind: str
    reason: str
    authority: str
    start_date: date
    end_date: date | None
    created_at: datetime


class PartyCreditOut(Output):
    party_id: int
    qualifications: list[QualificationOut]
    credit_records: list[CreditRecordOut]
    bidding_refused: str | None = Field(description="why the party may not bid today, if it may not")


# --- uploads ------------------------------------------------------------------------------


class UploadCreate(Input):
    size: int = Field(ge=1, description="bytes of the sealed envelope")
    sha256: str = Field(pattern=SHA256_HEX, description="lowercase hex SHA-256 of the whole envelope")


class UploadOut(Output):
    id: str
    lot_id: int
    size: int = Field(validation_alias="declared_size")
    sha256: str = Field(validation_alias="declared_sha256")
    received: int
    status: str
    created_at: datetime
    updated_at: datetime


# --- bids ---------------------------------------------------------------------------------


class BidSubmit(Input):
    upload_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    signature: str = Field(min_length=1, max_length=MAX_SIGNATURE_B64,
                           description="base64 detached CMS by the bidder's signing certificate over "
                                       "'bidhall-bid\\n<lot code>\\n<envelope sha256>\\n'")


class BidWithdraw(Input):
    reason: str = Field(default="withdrawn by the bidder", min_length=1, max_length=2000)


class BidOut(Output):
    id: int
    lot_id: int
    party_id: int
    status: str
    status_reason: str | None
    envelope_sha256: str
    envelope_size: int
    cert_fingerprint: str
    submitted_at: datetime
    replaces_bid_id: int | None
    updated_at: datetime


class SubmittedBidOut(Output):
    bid: BidOut
    receipt: dict[str, Any]


# --- bonds --------------------------------------------------------------------------------


class BondRecord(Input):
    form: BondForm
    reference: str = Field(min_length=1, max_length=100, description="guarantee, transfer or policy number")
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2, description="yuan")


class BondOut(Output):
    id: int
    lot_id: int
    party_id: int
    form: str
    reference: str
    amount: Decimal
    verified: bool
    verified_by: int | None
    verified_at: datetime | None
    recorded_at: datetime

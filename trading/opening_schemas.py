"""Inputs and outputs of the remote opening. Binary values (content keys, key shares,
signatures) travel as base64 text and are decoded here, so a bad one is a 422 naming the
field before any service runs."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator

from core.schemas import Input, Output

MAX_SIGNATURE_BYTES = 256 * 1024


class OpeningStatus(StrEnum):
    AWAITING_DECISION = "awaiting_decision"  # fewer bids than the lot's minimum: the host decides
    DECRYPTING = "decrypting"  # the decryption window is open
    FALLBACK = "fallback"  # the window closed; custodians are rebuilding the opening key
    RECORDING = "recording"  # every bid decided; the record is shown, objected to, confirmed
    PUBLISHED = "published"  # the record is published; the lot is evaluated
    FAILED = "failed"  # a failed tender (too few bids), declared by the host


class RowOutcome(StrEnum):
    PENDING = "pending"  # not decrypted yet
    OPENED = "opened"  # decrypted; the sheet is read (or its problem recorded)
    REVOKED = "revoked"  # not decrypted through the bidder's fault
    WITHDRAWN = "withdrawn"  # not decrypted through another cause (the bidder may claim its loss)


class DecryptionMethod(StrEnum):
    BIDDER_KEY = "bidder_key"  # the content key the bidder unwrapped on its own machine
    CUSTODIAN_KEY = "custodian_key"  # the lot's opening key rebuilt from custodians' shares


def _base64(value: str, what: str, *, max_bytes: int) -> bytes:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} must be base64") from None
    if not decoded:
        raise ValueError(f"{what} is empty")
    if len(decoded) > max_bytes:
        raise ValueError(f"{what} is over {max_bytes} bytes")
    return decoded


class OpeningStart(Input):
    window_minutes: int = Field(default=30, ge=5, le=240, description="length of the decryption window")


class QuorumDecision(Input):
    decision: Literal["continue", "fail"]
    reason: str = Field(min_length=1, max_length=2000)


class KeyHandover(Input):
    bid_id: int
    content_key: str = Field(description="base64 of the content-encryption key unwrapped by the bidder")

    @field_validator("content_key")
    @classmethod
    def _key(cls, value: str) -> str:
        _base64(value, "content_key", max_bytes=64)
        return value

    @property
    def key_bytes(self) -> bytes:
        return base64.b64decode(self.content_key)


class OtherCause(Input):
    bid_id: int
    reason: str = Field(min_length=1, max_length=2000)


class WindowClose(Input):
    other_causes: list[OtherCause] = Field(default_factory=list, description=(
        "bids not decrypted for a cause other than the bidder (platform, network...): withdrawn, not revoked"))
    use_fallback: bool = Field(default=True, description="open the rest with the custodians' keys, where allowed")


class ShareHandover(Input):
    index: int = Field(ge=1, le=255)
    value: str = Field(description="base64 of the decrypted share value")
    custodian_certificate: str = Field(min_length=1, max_length=20000, description="PEM of the custodian certificate")

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        _base64(value, "value", max_bytes=16384)
        return value

    @property
    def value_bytes(self) -> bytes:
        return base64.b64decode(self.value)


class ObjectionText(Input):
    text: str = Field(min_length=1, max_length=4000)


class ObjectionAnswer(Input):
    reply: str = Field(min_length=1, max_length=4000)


class RecordSignature(Input):
    signature: str = Field(description="base64 of a detached CMS signature over the record's canonical bytes")

    @field_validator("signature")
    @classmethod
    def _signature(cls, value: str) -> str:
        _base64(value, "signature", max_bytes=MAX_SIGNATURE_BYTES)
        return value

    @property
    def signature_bytes(self) -> bytes:
        return base64.b64decode(self.signature)


class OpeningRowOut(Output):
    id: int
    bid_id: int
    party_id: int
    bidder_name: str
    bidder_uscc: str
    outcome: RowOutcome
    method: DecryptionMethod | None
    total_price: Decimal | None
    sheet_items: dict[str, Any] | None
    problem: str | None
    package_sha256: str | None
    failed_attempts: int
    decided_at: datetime | None


class OpeningOut(Output):
    id: int
    lot_id: int
    project_id: int
    status: OpeningStatus
    bid_count: int
    min_bidders: int
    warning: str | None
    decision: str | None
    decision_reason: str | None
    window_minutes: int
    window_opened_at: datetime | None
    window_ends_at: datetime | None
    window_closed_at: datetime | None
    record_sha256: str | None
    published_at: datetime | None
    started_at: datetime
    rows: list[OpeningRowOut] = Field(default_factory=list)
    confirmed_party_ids: list[int] = Field(default_factory=list)


class KeyHandoverOut(Output):
    accepted: bool
    detail: str
    row: OpeningRowOut


class ShareHandoverOut(Output):
    shares_held: int
    threshold: int
    opened_bid_ids: list[int]
    detail: str

"""Inputs and outputs of the award, the contract and the archive.

Money is ``Decimal`` yuan given as JSON text with at most two decimal places; scores are
``Decimal`` too (at most two places, 0 to 1000). Times are RFC 3339 UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from core.errors import FieldError, InvalidInput
from core.schemas import Input, Output
from trading.award_models import PublicityObjectionOutcome
from trading.schemas import Money

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
MAX_CANDIDATES = 10  # the rule tables may allow fewer (construction: 3)


def _score(value: Decimal) -> Decimal:
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1000):
        raise ValueError(f"a score is a number from 0 to 1000, got {value}")
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise ValueError(f"a score has at most 2 decimal places, got {value}")
    return value.quantize(Decimal("0.01"))


Score = Annotated[Decimal, AfterValidator(_score)]


class CandidateIn(Input):
    bid_id: int = Field(ge=1, description="An opened bid of the lot.")
    price: Money = Field(description="The evaluated bid price, yuan.")
    score: Score | None = Field(default=None, description="The committee's total score, if the method scores.")


class CandidateList(Input):
    """The ranked candidates from the evaluation report, best first."""

    candidates: list[CandidateIn] = Field(min_length=1, max_length=MAX_CANDIDATES)
    report_sha256: Sha256 | None = Field(default=None, description="SHA-256 of the signed evaluation report blob.")

    @model_validator(mode="after")
    def _distinct_bids(self) -> CandidateList:
        ids = [candidate.bid_id for candidate in self.candidates]
        if len(set(ids)) != len(ids):
            raise ValueError("a bid appears twice in the candidate list")
        return self


class PublicityObjectionIn(Input):
    text: Text


class ObjectionReplyIn(Input):
    """The tenderer's answer to an objection to the candidates, with what it decides.

    ``upheld_evaluation`` (the evaluation was wrong) withdraws the publicity and sends the
    lot back to evaluation; it needs the tenderer's ``reasons``, which the change notice
    publishes and the re-evaluation session quotes. A dismissed objection takes no reasons:
    its reply is the answer."""

    reply: Text
    outcome: PublicityObjectionOutcome = Field(
        default=PublicityObjectionOutcome.DISMISSED,
        description="dismissed (the candidates stand) or upheld_evaluation (the evaluation was wrong: "
                    "the publicity is withdrawn and the lot is evaluated again).")
    reasons: Text | None = Field(default=None, description="Why the evaluation was wrong; required when upheld.")

    @model_validator(mode="after")
    def _reasons_with_upheld_only(self) -> ObjectionReplyIn:
        upheld = self.outcome == PublicityObjectionOutcome.UPHELD_EVALUATION
        if upheld and self.reasons is None:
            raise InvalidInput("an upheld objection needs the tenderer's reasons",
                               [FieldError("$.reasons", "required when the outcome is upheld_evaluation")])
        if not upheld and self.reasons is not None:
            raise InvalidInput("only an upheld objection takes reasons; the reply answers a dismissed one",
                               [FieldError("$.reasons", "given with the outcome dismissed")])
        return self


class WinnerConfirmation(Input):
    bid_id: int = Field(ge=1, description="The candidate's bid; normally the first candidate's.")
    reason: Text | None = Field(default=None, description="Required when another candidate than the first is chosen.")


class ContractSignatureIn(Input):
    signature_base64: Annotated[str, StringConstraints(min_length=1, max_length=700_000)] = Field(
        description="DER detached CMS (PKCS #7) signature over the contract file, base64.")


class CandidateOut(Output):
    id: int
    rank: int
    bid_id: int
    party_id: int
    party_name: str | None = None
    party_uscc: str | None = None
    price: Decimal
    score: Decimal | None


class SignatureOut(Output):
    id: int
    role: str
    party_id: int
    signer_uscc: str
    cert_fingerprint: str
    signature_sha256: str
    contract_sha256: str
    signed_at: datetime


class WithdrawalOut(Output):
    """A withdrawn candidate publicity: why, and the candidates it had."""

    id: int
    round: int
    objection_id: int
    outcome: str
    reasons: str
    report_sha256: str | None
    publicity_notice_id: int | None
    publicity_start: datetime | None
    publicity_until: datetime | None
    candidates: list[dict[str, Any]]
    change_notice_id: int | None
    withdrawn_at: datetime


class AwardOut(Output):
    id: int
    lot_id: int
    status: str
    report_sha256: str | None
    recorded_at: datetime
    publicity_notice_id: int | None
    publicity_start: datetime | None
    publicity_until: datetime | None
    objection_until: datetime | None
    winner_bid_id: int | None
    winner_party_id: int | None
    price: Decimal | None
    deviation_reason: str | None
    confirmed_at: datetime | None
    award_notice_sha256: str | None
    seal_signature_sha256: str | None
    result_notice_id: int | None
    contract_sha256: str | None
    contract_media_type: str | None
    contracted_at: datetime | None
    candidates: list[CandidateOut] = []
    signatures: list[SignatureOut] = []
    withdrawals: list[WithdrawalOut] = []


class ArchiveOut(Output):
    id: int
    project_id: int
    sha256: str
    size: int
    file_count: int
    files_sha256: str
    tree_size: int
    made_at: datetime


class SealReportOut(Output):
    indication: str
    subindication: str | None
    detail: str
    report: dict[str, Any]

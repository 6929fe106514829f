"""The evaluation report as plain data.

The session gathers everything the report states into these frozen records; the
document builder (``evaluation.report``) and the signed bundle
(``evaluation.report_bundle``) read only these, never the database. Keeping the
report a pure function of this data is what makes its bytes reproducible, so every
member signs the very same document and anyone can rebuild it to check.

Times are UTC (the builder shows them in Asia/Shanghai); money is ``Decimal`` with
two places; scores are ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class ReportBidder:
    """One bid as the report shows it: opening figure, review outcome, score, rank."""

    bid_id: int
    name: str
    uscc: str
    opened_price: Decimal | None
    corrected_price: Decimal | None
    corrections: tuple[str, ...]
    review_passed: bool | None
    rejection_reasons: tuple[str, ...]
    abnormally_low: bool
    price_score: Decimal | None
    factor_scores: dict[str, Decimal]
    total_score: Decimal | None
    rank: int | None
    candidate: bool


@dataclass(frozen=True)
class ReportMember:
    """One committee seat; ``note`` tells a recusal or replacement in words.

    A note beginning with "recused" marks a member who left the committee: the report lists
    them among the members and replacements but not on its signature page.
    """

    seat: int
    name: str
    expert_code: str
    specialty: str
    venue: str | None
    chair: bool
    note: str | None  # e.g. "recused (conflict: ...); replaced by seat 6"


@dataclass(frozen=True)
class ReportClarification:
    """A clarification the committee asked of a bidder, and the answer if any."""

    bidder: str
    question: str
    asked_at: datetime
    due_at: datetime
    answer: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class ReportDissent:
    """A member's dissent, attached to the report with its reasons."""

    seat: int
    member: str
    stage: str
    bidder: str | None
    text: str


@dataclass(frozen=True)
class ReportContent:
    """Everything the evaluation report states, in the order a reader needs it."""

    session_id: int
    project_code: str
    project_title: str
    lot_code: str
    lot_title: str
    segment: str
    procedure: str
    tenderer: str
    agency: str | None
    notice_media: tuple[str, ...]
    opening_at: datetime | None
    opening_place: str
    method_code: str
    method_title: str
    parameters: dict[str, Any]
    review_criteria: tuple[str, ...]
    factors: dict[str, Decimal]
    benchmark_price: Decimal | None
    bidders: tuple[ReportBidder, ...]
    members: tuple[ReportMember, ...]
    clarifications: tuple[ReportClarification, ...]
    dissents: tuple[ReportDissent, ...]
    member_scores: dict[int, dict[int, dict[str, Decimal]]]  # seat -> bid_id -> factor -> points
    review_marks: dict[int, dict[int, dict[str, bool]]]  # seat -> bid_id -> criterion -> passed
    candidates: tuple[int, ...]  # bid ids, best first
    generated_at: datetime

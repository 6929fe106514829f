"""What goes into a method and what comes out: plain frozen records, no database.

The session builds ``BidInput`` from the opening (after price corrections) and the
committee's preliminary review, and records ``MethodResult`` in its ledger stream and in
the evaluation report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class BidInput:
    """One opened bid: its corrected price and whether it passed the preliminary review."""

    bid_id: int
    price: Decimal
    passed_review: bool


@dataclass(frozen=True)
class RankedBid:
    """A valid bid's place. Price-only methods leave the scores None and ``factor_scores`` empty."""

    bid_id: int
    price: Decimal
    price_score: Decimal | None
    factor_scores: dict[str, Decimal]
    total: Decimal | None
    rank: int
    candidate: bool


@dataclass(frozen=True)
class MethodResult:
    """The outcome of a method: valid bids best first, excluded bids with their reasons.

    ``abnormally_low`` only flags (the bidder explains); ``notes`` say which options and
    defaults applied, in sentences for the report.
    """

    method: str
    benchmark_price: Decimal | None
    ranking: list[RankedBid]
    excluded: dict[int, str] = field(default_factory=dict)
    abnormally_low: frozenset[int] = frozenset()
    notes: tuple[str, ...] = ()

"""Ordering valid bids, ties and joint ranks, and the ranked candidates.

Scoring methods order by total score, highest first; a tie goes to the lower price; bids
still tied share a rank (joint rank: same number, the next rank skips, 1, 2, 2, 4).
Price methods order by price alone (lowest first, or highest first for the highest-price
method); equal prices share a rank. Inside a joint rank, bids are listed by bid id so the
listing is stable.

A bid is a candidate when its rank is within the segment's candidate limit (construction:
at most 3, Regulations art. 53). A joint rank at the limit makes every bid of it a
candidate; the result says so and the committee settles it as the tender documents say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from evaluation.methods.results import RankedBid


def rank(rows: Sequence[RankedBid], *, order: str, limit: int | None) -> tuple[list[RankedBid], list[str]]:
    """Number ``rows`` (rank and candidate filled in) and return them best first, with notes.

    ``order`` is ``"score"`` (total high first, then price low first), ``"price_low"`` or
    ``"price_high"``.
    """
    key = _keys[order]
    ordered = sorted(rows, key=lambda row: (key(row), row.bid_id))
    ranked: list[RankedBid] = []
    for position, row in enumerate(ordered, start=1):
        tied = ranked and key(ranked[-1]) == key(row)
        number = ranked[-1].rank if tied else position
        candidate = limit is None or number <= limit
        ranked.append(RankedBid(row.bid_id, row.price, row.price_score, row.factor_scores, row.total,
                                number, candidate))
    notes = []
    candidates = sum(1 for row in ranked if row.candidate)
    if limit is not None and candidates > limit:
        notes.append(f"a joint rank makes {candidates} candidates where the segment allows {limit}; "
                     "the committee settles the order as the tender documents say")
    return ranked, notes


def _score_key(row: RankedBid) -> tuple[Any, ...]:
    total = row.total if row.total is not None else Decimal(0)
    return (-total, row.price)


_keys: dict[str, Callable[[RankedBid], Any]] = {
    "score": _score_key,
    "price_low": lambda row: row.price,
    "price_high": lambda row: -row.price,
}

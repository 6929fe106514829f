"""The evaluation method catalogue: pure computation over prices and member scores.

The formulas are published in docs/evaluation-methods.md so a bidder can recompute a
result; the figures they use are data in evaluation/data/.
"""

from evaluation.methods.anomalies import flag_scores
from evaluation.methods.catalogue import (
    KNOWN_METHODS,
    candidate_limit,
    review_criteria_for,
    scoring_factors,
)
from evaluation.methods.chinese_amounts import parse_chinese_amount
from evaluation.methods.evaluate import evaluate
from evaluation.methods.prices import PriceCorrection, correct_price
from evaluation.methods.results import BidInput, MethodResult, RankedBid

__all__ = [
    "KNOWN_METHODS", "BidInput", "MethodResult", "PriceCorrection", "RankedBid", "candidate_limit",
    "correct_price", "evaluate", "flag_scores", "parse_chinese_amount", "review_criteria_for", "scoring_factors",
]

"""Running a lot's evaluation method over its bids: exclusions, scores, flags, ranking.

One function, :func:`evaluate`, for every method of the trading catalogue, so the session
and the report never branch on the method. The steps, in order:

1. exclusion: a bid that failed the preliminary review, a price above the ceiling price
   (every method but the highest-price one, where no ceiling applies), and in government
   procurement a price above the budget; each with its reason;
2. the abnormally-low flag over the remaining (valid) bids, except for the highest-price
   method: a price below ``abnormally_low_ratio`` x the average valid price (default in
   evaluation/data/method_rules.json, unconfirmed and configurable);
3. the method's scores (see scoring.py and benchmark.py);
4. ranking, ties and candidates (ranking.py).

Inputs come from the session, which already checked the scores as they arrived; this
module checks them again and raises ValueError for anything it cannot compute with, so
a wrong call never yields a plausible but wrong ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from evaluation.methods import benchmark as benchmark_rules
from evaluation.methods.anomalies import abnormally_low
from evaluation.methods.catalogue import (
    candidate_limit,
    check_method,
    check_segment,
    decimal_parameter,
    rule_is_confirmed,
    rule_value,
    scoring_factors,
)
from evaluation.methods.ranking import rank
from evaluation.methods.results import BidInput, MethodResult, RankedBid
from evaluation.methods.scoring import (
    extremes_min_members,
    factor_scores,
    proportional_price_score,
)
from trading.states import Segment

MemberScores = Mapping[int, Mapping[int, Mapping[str, Decimal]]]
PRICE_ORDER = {"lowest_evaluated_price": "price_low", "reasonable_lowest_price": "price_low",
               "highest_price": "price_high"}


def evaluate(method: str, parameters: Mapping[str, Any], bids: Sequence[BidInput], member_scores: MemberScores,
             *, segment: str, ceiling_price: Decimal | None = None, budget: Decimal | None = None) -> MethodResult:
    """Compute the result of ``method`` with the lot's ``parameters`` (as stored: decimals as text).

    ``member_scores`` is member_id -> bid_id -> factor -> points; price-only methods ignore it.
    """
    check_method(method)
    check_segment(segment)
    _check_bids(bids)
    notes: list[str] = []
    excluded = _exclusions(method, bids, segment, ceiling_price, budget, notes)
    valid = [bid for bid in bids if bid.bid_id not in excluded]
    flagged = _abnormally_low(method, parameters, valid, notes)
    if not valid:
        notes.append("no valid bid remains")
        return MethodResult(method, None, [], excluded, flagged, tuple(notes))
    if method in PRICE_ORDER:
        rows = [RankedBid(bid.bid_id, bid.price, None, {}, None, 0, False) for bid in valid]
        order, benchmark = PRICE_ORDER[method], None
    else:
        rows, benchmark = _scored_rows(method, parameters, valid, member_scores, segment, ceiling_price, notes)
        order = "score"
    ranked, rank_notes = rank(rows, order=order, limit=candidate_limit(segment))
    return MethodResult(method, benchmark, ranked, excluded, flagged, tuple(notes + rank_notes))


def _check_bids(bids: Sequence[BidInput]) -> None:
    seen: set[int] = set()
    for bid in bids:
        if bid.bid_id in seen:
            raise ValueError(f"bid {bid.bid_id} is given twice")
        seen.add(bid.bid_id)
        if not isinstance(bid.price, Decimal) or not bid.price.is_finite() or bid.price <= 0:
            raise ValueError(f"bid {bid.bid_id} needs a positive Decimal price, got {bid.price!r}")


def _exclusions(method: str, bids: Sequence[BidInput], segment: str, ceiling_price: Decimal | None,
                budget: Decimal | None, notes: list[str]) -> dict[int, str]:
    check_ceiling = ceiling_price is not None and method != "highest_price"
    if ceiling_price is not None and not check_ceiling:
        notes.append("the ceiling price is not applied to the highest-price method")
    check_budget = budget is not None and segment == Segment.GOVERNMENT_PROCUREMENT and method != "highest_price"
    excluded: dict[int, str] = {}
    for bid in bids:
        if not bid.passed_review:
            excluded[bid.bid_id] = "failed the preliminary review"
        elif check_ceiling and bid.price > ceiling_price:
            excluded[bid.bid_id] = f"price {bid.price} is above the ceiling price {ceiling_price}"
        elif check_budget and bid.price > budget:
            excluded[bid.bid_id] = f"price {bid.price} is above the budget {budget}"
    return excluded


def _abnormally_low(method: str, parameters: Mapping[str, Any], valid: Sequence[BidInput],
                    notes: list[str]) -> frozenset[int]:
    if method == "highest_price" or not valid:
        return frozenset()
    given = decimal_parameter(parameters, "abnormally_low_ratio")
    ratio = given if given is not None else decimal_parameter(
        {"abnormally_low_ratio": rule_value("abnormally_low_ratio")}, "abnormally_low_ratio")
    flagged, threshold = abnormally_low({bid.bid_id: bid.price for bid in valid}, ratio)
    origin = "the lot's parameter" if given is not None else (
        "the default" + ("" if rule_is_confirmed("abnormally_low_ratio") else ", unconfirmed and configurable"))
    notes.append(f"abnormally low below {threshold} ({ratio} x the average valid price, {origin})")
    if flagged:
        listed = ", ".join(str(bid_id) for bid_id in sorted(flagged))
        notes.append(f"abnormally low price: bid(s) {listed}; the committee asks the bidder to explain in writing")
    return flagged


def _scored_rows(method: str, parameters: Mapping[str, Any], valid: Sequence[BidInput], member_scores: MemberScores,
                 segment: str, ceiling_price: Decimal | None,
                 notes: list[str]) -> tuple[list[RankedBid], Decimal]:
    factors = scoring_factors(method, parameters)
    price_weight = _required(parameters, "price_weight", method)
    drop = _drop_extremes(parameters, member_scores, notes)
    if method == "comprehensive_scoring":
        benchmark = min(bid.price for bid in valid)
        notes.append(f"benchmark price: the lowest valid price {benchmark}")
        if segment == Segment.GOVERNMENT_PROCUREMENT:
            notes.append("government procurement: the highest and lowest bid prices are kept")

        def price_score(price: Decimal) -> Decimal:
            return proportional_price_score(benchmark, price, price_weight)
    else:
        benchmark = _benchmark(parameters, valid, ceiling_price, notes)
        above = _required(parameters, "deduction_above_percent", method)
        below = _required(parameters, "deduction_below_percent", method)

        def price_score(price: Decimal) -> Decimal:
            return benchmark_rules.deviation_score(price, benchmark, price_weight=price_weight,
                                                   deduction_above=above, deduction_below=below)
    if not member_scores:
        raise ValueError(f"{method} needs the members' scores; none were given")
    rows = []
    for bid in valid:
        scores = factor_scores(bid.bid_id, factors, member_scores, drop_extremes=drop)
        score = price_score(bid.price)
        total = score + sum(scores.values(), Decimal(0))
        rows.append(RankedBid(bid.bid_id, bid.price, score, scores, total, 0, False))
    return rows, benchmark


def _benchmark(parameters: Mapping[str, Any], valid: Sequence[BidInput], ceiling_price: Decimal | None,
               notes: list[str]) -> Decimal:
    basis = parameters.get("benchmark_basis")
    if basis is None:
        raise ValueError("benchmark_price needs the parameter benchmark_basis")
    share = decimal_parameter(parameters, "ceiling_share", rule_value("ceiling_share"))
    base, base_notes = benchmark_rules.benchmark_base(basis, [bid.price for bid in valid],
                                                      ceiling_price=ceiling_price, ceiling_share=share)
    if basis == "ceiling_ratio" and "ceiling_share" not in parameters:
        base_notes.append(f"ceiling share {share} is the default (configurable)")
    downward = _required(parameters, "downward_float_percent", "benchmark_price")
    benchmark = benchmark_rules.lowered(base, downward)
    notes.extend(base_notes)
    notes.append(f"benchmark price {benchmark}: base {base} lowered by {downward}%")
    return benchmark


def _drop_extremes(parameters: Mapping[str, Any], member_scores: MemberScores, notes: list[str]) -> bool:
    wanted = parameters.get("drop_extreme_member_scores", False)
    if not isinstance(wanted, bool):
        raise ValueError(f"drop_extreme_member_scores must be true or false, got {wanted!r}")
    if not wanted:
        return False
    minimum = extremes_min_members()
    if len(member_scores) < minimum:
        notes.append(f"only {len(member_scores)} members scored: the highest and lowest member scores are kept "
                     f"(they are dropped with at least {minimum} members)")
        return False
    notes.append("each factor's highest and lowest member scores are dropped before averaging")
    return True


def _required(parameters: Mapping[str, Any], name: str, method: str) -> Decimal:
    value = decimal_parameter(parameters, name)
    if value is None:
        raise ValueError(f"{method} needs the parameter {name}")
    return value

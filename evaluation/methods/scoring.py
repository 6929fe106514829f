"""The score formulas shared by the scoring methods.

Members score each factor of each valid bid independently; the committee's factor score
is the average of the members' points (DOMAIN.md "Evaluation": average unless the tender
documents say otherwise). Some provinces drop each factor's single highest and single
lowest member score first; a lot asks for it with ``drop_extreme_member_scores``, and it
applies only when enough members scored (``drop_extreme_member_scores_min_members`` in
evaluation/data/method_rules.json, 5 by default) so that an average remains.

Rounding: every formula here is computed exactly and rounded once, at its end, to 0.01
with ROUND_HALF_UP. A bid's total is the sum of rounded scores, so it needs no rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from evaluation.methods.catalogue import rule_value

POINTS = Decimal("0.01")


def round_points(value: Decimal) -> Decimal:
    return value.quantize(POINTS, rounding=ROUND_HALF_UP)


def proportional_price_score(benchmark: Decimal, price: Decimal, price_weight: Decimal) -> Decimal:
    """Government procurement: benchmark / price x price weight, rounded at the end.

    The benchmark is the lowest valid price, so the lowest bid gets the whole weight.
    """
    return round_points(benchmark / price * price_weight)


def factor_scores(bid_id: int, factors: Mapping[str, Decimal],
                  member_scores: Mapping[int, Mapping[int, Mapping[str, Decimal]]],
                  *, drop_extremes: bool) -> dict[str, Decimal]:
    """The committee's score of each factor of one bid: the (trimmed) average of members' points."""
    by_factor: dict[str, list[Decimal]] = {factor: [] for factor in factors}
    for member_id, bids in sorted(member_scores.items()):
        scores = bids.get(bid_id)
        if scores is None:
            raise ValueError(f"member {member_id} has not scored bid {bid_id}")
        unknown = sorted(set(scores) - set(factors))
        if unknown:
            raise ValueError(f"member {member_id} scored unknown factor(s) {', '.join(unknown)} of bid {bid_id}; "
                             f"factors: {', '.join(factors)}")
        for factor, maximum in factors.items():
            if factor not in scores:
                raise ValueError(f"member {member_id} has not scored factor {factor!r} of bid {bid_id}")
            points = _points(scores[factor], f"member {member_id}, bid {bid_id}, factor {factor!r}")
            if not Decimal(0) <= points <= maximum:
                raise ValueError(f"member {member_id} gave {points} for factor {factor!r} of bid {bid_id}; "
                                 f"the factor is scored from 0 to {maximum}")
            by_factor[factor].append(points)
    return {factor: aggregate(points, drop_extremes=drop_extremes) for factor, points in by_factor.items()}


def aggregate(points: list[Decimal], *, drop_extremes: bool) -> Decimal:
    """Average of the members' points, without one highest and one lowest when asked and possible."""
    if not points:
        raise ValueError("no member score to aggregate")
    kept = sorted(points)
    if drop_extremes and len(kept) >= extremes_min_members():
        kept = kept[1:-1]
    return round_points(sum(kept, Decimal(0)) / len(kept))


def extremes_min_members() -> int:
    return int(rule_value("drop_extreme_member_scores_min_members"))


def _points(raw: object, where: str) -> Decimal:
    if isinstance(raw, Decimal) and raw.is_finite():
        return raw
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        try:
            value = Decimal(raw)
        except ArithmeticError:
            value = None
        if value is not None and value.is_finite():
            return value
    raise ValueError(f"{where}: points must be a decimal number, got {raw!r}")

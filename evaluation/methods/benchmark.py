"""Construction comprehensive evaluation: the benchmark price and the score by distance to it.

The tender documents choose how the benchmark (评标基准价) comes from the valid bids
(parameter ``benchmark_basis``):

* ``average``: the average of the valid prices;
* ``average_without_extremes``: the same without the single highest and single lowest
  price, when at least ``benchmark_without_extremes_min_bids`` (5 by default) bids are
  valid; with fewer, the plain average, and the result says so;
* ``ceiling_ratio``: a share of the ceiling price, parameter ``ceiling_share`` (0.95 by
  default in evaluation/data/method_rules.json; configurable, no national figure).

The base is then lowered by ``downward_float_percent`` (下浮). A bid at the benchmark gets
the whole price weight; each percent above it costs ``deduction_above_percent`` points and
each percent below ``deduction_below_percent`` points, in proportion for part of a percent
(interpolated), and the score never goes below 0.

Rounding: the average and the benchmark are prices, each rounded to the fen (0.01, half
up) where computed; the deviation is kept exact and only the price score is rounded, at
its end, to 0.01 half up.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from evaluation.methods.catalogue import rule_value
from evaluation.methods.scoring import round_points

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
BASES = ("average", "average_without_extremes", "ceiling_ratio")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def average_price(prices: Sequence[Decimal]) -> Decimal:
    """The average of ``prices`` rounded to the fen."""
    if not prices:
        raise ValueError("no valid price to average")
    return round_money(sum(prices, Decimal(0)) / len(prices))


def benchmark_base(basis: str, prices: Sequence[Decimal], *, ceiling_price: Decimal | None,
                   ceiling_share: Decimal) -> tuple[Decimal, list[str]]:
    """The benchmark before the downward float, with notes on how it was found."""
    if basis == "average":
        return average_price(prices), [f"benchmark base: average of {len(prices)} valid prices"]
    if basis == "average_without_extremes":
        minimum = int(rule_value("benchmark_without_extremes_min_bids"))
        if len(prices) < minimum:
            note = (f"benchmark base: plain average of {len(prices)} valid prices; the highest and lowest are "
                    f"dropped only with at least {minimum} valid bids")
            return average_price(prices), [note]
        kept = sorted(prices)[1:-1]
        return average_price(kept), [
            f"benchmark base: average of {len(kept)} valid prices without the highest and the lowest"]
    if basis == "ceiling_ratio":
        if ceiling_price is None:
            raise ValueError("benchmark_basis ceiling_ratio needs the lot's ceiling price")
        if not Decimal(0) < ceiling_share <= 1:
            raise ValueError(f"ceiling_share must be above 0 and at most 1, got {ceiling_share}")
        return round_money(ceiling_price * ceiling_share), [
            f"benchmark base: {ceiling_share} x the ceiling price {ceiling_price}"]
    raise ValueError(f"unknown benchmark_basis {basis!r}; known: {', '.join(BASES)}")


def lowered(base: Decimal, downward_float_percent: Decimal) -> Decimal:
    """The benchmark: the base lowered by the downward float, rounded to the fen."""
    return round_money(base * (HUNDRED - downward_float_percent) / HUNDRED)


def deviation_score(price: Decimal, benchmark: Decimal, *, price_weight: Decimal,
                    deduction_above: Decimal, deduction_below: Decimal) -> Decimal:
    """price_weight - |deviation %| x deduction per percent, at least 0, rounded at the end.

    deviation % = (price - benchmark) / benchmark x 100, kept exact.
    """
    deviation = (price - benchmark) / benchmark * HUNDRED
    per_percent = deduction_above if deviation > 0 else deduction_below
    return round_points(max(Decimal(0), price_weight - abs(deviation) * per_percent))

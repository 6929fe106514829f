"""docs/evaluation-methods.md states the same defaults, criteria and worked results as the code."""

from decimal import Decimal
from pathlib import Path

import pytest

from evaluation.methods import BidInput, evaluate, review_criteria_for
from evaluation.methods.catalogue import rule_value

D = Decimal
DOC = (Path(__file__).parents[2] / "docs" / "evaluation-methods.md").read_text(encoding="utf-8")


def bold(value: Decimal) -> str:
    return f"**{value:,.2f}**"


def test_default_figures_are_the_data():
    assert f"otherwise **{rule_value('abnormally_low_ratio')}**" in DOC
    assert f"defaults to **{rule_value('ceiling_share')}**" in DOC
    assert f"at least **{rule_value('benchmark_without_extremes_min_bids')}** bids" in DOC
    assert f"at least\n{rule_value('drop_extreme_member_scores_min_members')} members scored" in DOC
    assert f"**{rule_value('candidate_limits')['construction']}** in construction" in DOC


@pytest.mark.parametrize(("segment", "row"), [("construction", "| construction |"),
                                              ("government_procurement", "| government procurement |"),
                                              ("land_mining", "| land and mining, state property |"),
                                              ("state_property", "| land and mining, state property |")])
def test_review_criteria_table(segment, row):
    line = next(line for line in DOC.splitlines() if line.startswith(row))
    assert line == f"{row} {'; '.join(review_criteria_for(segment, 'lowest_evaluated_price'))} |"


def test_comprehensive_example():
    parameters = {"price_weight": "30", "factors": {"technical": "50", "service": "20"}}
    scores = {member: {1: {"technical": D(a_t), "service": D(a_s)}, 2: {"technical": D(b_t), "service": D(b_s)}}
              for member, (a_t, a_s, b_t, b_s) in enumerate([(40, 15, 48, 18), (42, 16, 47, 18), (44, 18, 49, 19)])}
    result = evaluate("comprehensive_scoring", parameters,
                      [BidInput(1, D("100000.00"), True), BidInput(2, D("120000.00"), True)], scores,
                      segment="government_procurement")
    for row, name in zip(result.ranking, "BA"):
        line = next(line for line in DOC.splitlines() if line.startswith(f"| {name} |"))
        figures = [row.price_score, row.factor_scores["technical"], row.factor_scores["service"], row.total]
        assert all(bold(value) in line for value in figures), (line, figures)


def test_benchmark_example():
    parameters = {"price_weight": "30", "factors": {"technical": "70"}, "benchmark_basis": "average",
                  "downward_float_percent": "2", "deduction_above_percent": "1", "deduction_below_percent": "0.5"}
    bids = [BidInput(number, D(price), True) for number, price in enumerate(("900", "1000", "1100"), 1)]
    scores = {1: {number: {"technical": D(0)} for number in (1, 2, 3)}}
    result = evaluate("benchmark_price", parameters, bids, scores, segment="construction")
    assert bold(result.benchmark_price) in DOC
    for row in result.ranking:
        line = next(line for line in DOC.splitlines() if line.startswith(f"| {row.price:,.2f} |"))
        assert line.endswith(f"{bold(row.price_score)} |"), line

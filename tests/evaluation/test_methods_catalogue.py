"""What each method asks of the session: factors, review criteria, candidate limits."""

from decimal import Decimal

import pytest

from evaluation.methods import (
    KNOWN_METHODS,
    candidate_limit,
    evaluate,
    review_criteria_for,
    scoring_factors,
)
from evaluation.methods.results import BidInput
from trading.evaluation_methods import CATALOGUE, validate_method


def test_every_method_of_the_lot_catalogue_is_computed():
    assert set(KNOWN_METHODS) == set(CATALOGUE)


def test_scoring_factors_of_scoring_methods():
    parameters = {"price_weight": "30", "factors": {"technical": "50", "service": "20.50"}}
    assert scoring_factors("comprehensive_scoring", parameters) == {"technical": Decimal(50),
                                                                    "service": Decimal("20.50")}
    assert scoring_factors("benchmark_price", parameters)["technical"] == Decimal(50)


@pytest.mark.parametrize("method", ["lowest_evaluated_price", "reasonable_lowest_price", "highest_price"])
def test_price_methods_have_no_factors(method):
    assert scoring_factors(method, {}) == {}


def test_scoring_method_without_factors_is_refused():
    with pytest.raises(ValueError, match="needs the parameter factors"):
        scoring_factors("comprehensive_scoring", {"price_weight": "100"})
    with pytest.raises(ValueError, match="points above 0"):
        scoring_factors("comprehensive_scoring", {"factors": {"technical": "0"}})


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown evaluation method 'lowest_price'; known methods: "
                                         "lowest_evaluated_price, comprehensive_scoring"):
        scoring_factors("lowest_price", {})
    with pytest.raises(ValueError, match="known methods"):
        review_criteria_for("construction", "lowest_price")
    with pytest.raises(ValueError, match="known methods"):
        evaluate("lowest_price", {}, [], {}, segment="construction")


def test_review_criteria_follow_the_invalid_bid_grounds():
    construction = review_criteria_for("construction", "lowest_evaluated_price")
    for criterion in ("qualification", "bid bond", "signature and seal", "responsiveness",
                      "no collusion or fraud", "price not below cost"):
        assert criterion in construction
    procurement = review_criteria_for("government_procurement", "comprehensive_scoring")
    assert "no unacceptable conditions" in procurement and "bid bond" in procurement
    assert "deposit" in review_criteria_for("land_mining", "highest_price")
    assert len(set(construction)) == len(construction)


def test_review_criteria_are_a_fresh_list():
    criteria = review_criteria_for("construction", "benchmark_price")
    criteria.append("changed")
    assert "changed" not in review_criteria_for("construction", "benchmark_price")


def test_unknown_segment():
    with pytest.raises(ValueError, match="unknown segment 'mining'"):
        review_criteria_for("mining", "highest_price")
    with pytest.raises(ValueError, match="unknown segment"):
        candidate_limit("mining")


def test_candidate_limits():
    assert candidate_limit("construction") == 3
    assert candidate_limit("government_procurement") == 3
    assert candidate_limit("land_mining") is None
    assert candidate_limit("state_property") is None


def test_parameters_as_the_lot_stores_them_are_computed():
    # validate_method normalises decimals to text ("40", "0.85"): evaluate reads that spelling
    stored = validate_method("government_procurement", "comprehensive_scoring", {
        "price_weight": 40, "factors": {"technical": "60"}, "procurement_category": "goods"})
    bids = [BidInput(1, Decimal("100.00"), True), BidInput(2, Decimal("200.00"), True)]
    scores = {7: {1: {"technical": Decimal(30)}, 2: {"technical": Decimal(60)}}}
    result = evaluate("comprehensive_scoring", stored, bids, scores, segment="government_procurement")
    # bid 1: 100/100 x 40 = 40.00 + 30.00 = 70.00; bid 2: 100/200 x 40 = 20.00 + 60.00 = 80.00
    assert [(row.bid_id, row.total) for row in result.ranking] == [(2, Decimal("80.00")), (1, Decimal("70.00"))]

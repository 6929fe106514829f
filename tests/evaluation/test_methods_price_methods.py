"""Price-only methods: lowest evaluated price, reasonable lowest price, highest price."""

from decimal import Decimal

import pytest

from evaluation.methods import BidInput, evaluate

D = Decimal


def bids_at(*prices, failed=()):
    return [BidInput(number, D(price), number not in failed) for number, price in enumerate(prices, start=1)]


def test_lowest_evaluated_price_construction():
    bids = bids_at("1000.00", "1100.00", "1200.00", "1300.00", "700.00", "1500.00")
    result = evaluate("lowest_evaluated_price", {}, bids, {}, segment="construction", ceiling_price=D("1400.00"))
    assert result.excluded == {6: "price 1500.00 is above the ceiling price 1400.00"}
    assert result.benchmark_price is None
    assert [(row.bid_id, row.rank, row.candidate) for row in result.ranking] == [
        (5, 1, True), (1, 2, True), (2, 3, True), (3, 4, False), (4, 5, False)]
    assert all(row.price_score is None and row.total is None and row.factor_scores == {}
               for row in result.ranking)
    # average valid price (1000 + 1100 + 1200 + 1300 + 700) / 5 = 1060.00; x 0.80 = 848.00: 700 is below
    assert result.abnormally_low == frozenset({5})
    assert "abnormally low below 848.00 (0.80 x the average valid price, the default, unconfirmed and " \
           "configurable)" in result.notes


def test_price_at_the_ceiling_is_valid():
    result = evaluate("lowest_evaluated_price", {}, bids_at("1400.00"), {}, segment="construction",
                      ceiling_price=D("1400.00"))
    assert result.excluded == {} and result.ranking[0].bid_id == 1


def test_procurement_budget_and_ceiling():
    bids = bids_at("90.00", "101.00", "95.00", "120.00", failed=(3,))
    result = evaluate("lowest_evaluated_price", {}, bids, {}, segment="government_procurement",
                      budget=D("100.00"), ceiling_price=D("110.00"))
    assert result.excluded == {2: "price 101.00 is above the budget 100.00",
                               3: "failed the preliminary review",
                               4: "price 120.00 is above the ceiling price 110.00"}
    assert [row.bid_id for row in result.ranking] == [1]


def test_budget_is_a_procurement_rule():
    result = evaluate("lowest_evaluated_price", {}, bids_at("101.00"), {}, segment="construction",
                      budget=D("100.00"))
    assert result.excluded == {}


def test_reasonable_lowest_price_flags_with_the_lot_ratio():
    bids = bids_at("1000.00", "1100.00", "1200.00", "1300.00", "700.00", "960.00")
    result = evaluate("reasonable_lowest_price", {"abnormally_low_ratio": "0.90"}, bids, {}, segment="construction")
    # average (1000 + 1100 + 1200 + 1300 + 700 + 960) / 6 = 6260 / 6 = 1043.333.. -> 1043.33;
    # x 0.90 = 938.997 -> 939.00: 700 is below, 960 is not
    assert result.abnormally_low == frozenset({5})
    assert "abnormally low below 939.00 (0.90 x the average valid price, the lot's parameter)" in result.notes
    assert any("bid(s) 5; the committee asks the bidder to explain" in note for note in result.notes)
    # a flag only: the flagged bid is still ranked first
    assert result.ranking[0].bid_id == 5 and result.excluded == {}


def test_highest_price_wins_and_ties_share_the_rank():
    bids = bids_at("500.00", "700.00", "700.00", "600.00", "900.00", failed=(5,))
    result = evaluate("highest_price", {}, bids, {}, segment="land_mining", ceiling_price=D("650.00"))
    # the ceiling does not apply to a sale; 700 and 700 share rank 1, the next rank is 3
    assert [(row.bid_id, row.rank, row.candidate) for row in result.ranking] == [
        (2, 1, True), (3, 1, True), (4, 3, True), (1, 4, True)]
    assert result.excluded == {5: "failed the preliminary review"}
    assert result.abnormally_low == frozenset()
    assert "the ceiling price is not applied to the highest-price method" in result.notes


def test_no_valid_bid():
    result = evaluate("lowest_evaluated_price", {}, bids_at("1.00", failed=(1,)), {}, segment="construction")
    assert result.ranking == [] and result.excluded == {1: "failed the preliminary review"}
    assert "no valid bid remains" in result.notes


@pytest.mark.parametrize(("bids", "message"), [
    ([BidInput(1, D("1.00"), True), BidInput(1, D("2.00"), True)], "bid 1 is given twice"),
    ([BidInput(1, D("0"), True)], "positive Decimal price"),
    ([BidInput(1, 1.5, True)], "positive Decimal price"),  # type: ignore[arg-type]
    ([BidInput(1, D("NaN"), True)], "positive Decimal price"),
])
def test_bad_bids(bids, message):
    with pytest.raises(ValueError, match=message):
        evaluate("lowest_evaluated_price", {}, bids, {}, segment="construction")


def test_unknown_segment():
    with pytest.raises(ValueError, match="unknown segment"):
        evaluate("lowest_evaluated_price", {}, bids_at("1.00"), {}, segment="mining")


def test_bad_abnormally_low_ratio():
    with pytest.raises(ValueError, match="abnormally_low_ratio must be a decimal number"):
        evaluate("reasonable_lowest_price", {"abnormally_low_ratio": "low"}, bids_at("1.00"), {},
                 segment="construction")

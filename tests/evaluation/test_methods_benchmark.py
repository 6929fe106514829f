"""Construction comprehensive evaluation with a benchmark price (基准价法)."""

from decimal import Decimal

import pytest

from evaluation.methods import BidInput, evaluate

D = Decimal
BASE = {"price_weight": "30", "factors": {"technical": "70"}, "benchmark_basis": "average",
        "downward_float_percent": "2", "deduction_above_percent": "1", "deduction_below_percent": "0.5"}


def technical(table):
    return {member: {bid: {"technical": D(points)} for bid, points in bids.items()} for member, bids in table.items()}


def same_scores(bid_ids, points="0"):
    return technical({1: {bid: points for bid in bid_ids}})


def bids_at(*prices):
    return [BidInput(number, D(price), True) for number, price in enumerate(prices, start=1)]


def test_average_basis_example():
    bids = bids_at("900.00", "1000.00", "1100.00")
    members = technical({1: {1: "50", 2: "60", 3: "70"}, 2: {1: "52", 2: "61", 3: "70"}})
    result = evaluate("benchmark_price", BASE, bids, members, segment="construction")
    # base: (900 + 1000 + 1100) / 3 = 1000.00; lowered by 2%: 1000 x 98 / 100 = 980.00
    assert result.benchmark_price == D("980.00")
    by_bid = {row.bid_id: row for row in result.ranking}
    # bid 1: (900 - 980) / 980 x 100 = -8.1632..%; below: 30 - 8.1632.. x 0.5 = 25.918.. -> 25.92
    assert by_bid[1].price_score == D("25.92")
    # bid 2: (1000 - 980) / 980 x 100 = 2.0408..%; above: 30 - 2.0408.. x 1 = 27.959.. -> 27.96
    assert by_bid[2].price_score == D("27.96")
    # bid 3: (1100 - 980) / 980 x 100 = 12.2448..%; 30 - 12.2448.. = 17.755.. -> 17.76
    assert by_bid[3].price_score == D("17.76")
    # totals: bid 2 27.96 + (60 + 61) / 2 = 27.96 + 60.50 = 88.46; bid 3 17.76 + 70.00 = 87.76;
    #         bid 1 25.92 + 51.00 = 76.92
    assert [(row.bid_id, row.total, row.rank) for row in result.ranking] == [
        (2, D("88.46"), 1), (3, D("87.76"), 2), (1, D("76.92"), 3)]
    assert "benchmark price 980.00: base 1000.00 lowered by 2%" in result.notes


def test_bid_at_the_benchmark_gets_the_whole_weight():
    parameters = dict(BASE, downward_float_percent="0")
    result = evaluate("benchmark_price", parameters, bids_at("900.00", "1000.00", "1100.00"),
                      same_scores([1, 2, 3]), segment="construction")
    # benchmark (900 + 1000 + 1100) / 3 = 1000.00: bid 2 deviates 0% -> 30.00
    assert {row.bid_id: row.price_score for row in result.ranking}[2] == D("30.00")


def test_price_score_never_below_zero():
    parameters = dict(BASE, downward_float_percent="0", deduction_above_percent="5")
    result = evaluate("benchmark_price", parameters, bids_at("500.00", "1500.00"), same_scores([1, 2]),
                      segment="construction")
    # benchmark 1000.00; bid 2 is 50% above: 30 - 50 x 5 = -220 -> 0.00; bid 1 is 50% below: 30 - 50 x 0.5 = 5.00
    assert {row.bid_id: row.price_score for row in result.ranking} == {1: D("5.00"), 2: D("0.00")}


def test_average_without_extremes_with_five_bids():
    parameters = dict(BASE, benchmark_basis="average_without_extremes", downward_float_percent="0")
    result = evaluate("benchmark_price", parameters, bids_at("800.00", "900.00", "1000.00", "1100.00", "1500.00"),
                      same_scores(range(1, 6)), segment="construction")
    # drop 800 and 1500: (900 + 1000 + 1100) / 3 = 1000.00
    assert result.benchmark_price == D("1000.00")
    assert "benchmark base: average of 3 valid prices without the highest and the lowest" in result.notes


def test_average_without_extremes_falls_back_below_five_bids():
    parameters = dict(BASE, benchmark_basis="average_without_extremes", downward_float_percent="0")
    result = evaluate("benchmark_price", parameters, bids_at("800.00", "900.00", "1000.00", "1500.00"),
                      same_scores(range(1, 5)), segment="construction")
    # 4 bids: plain average (800 + 900 + 1000 + 1500) / 4 = 4200 / 4 = 1050.00
    assert result.benchmark_price == D("1050.00")
    assert any(note.startswith("benchmark base: plain average of 4 valid prices") for note in result.notes)


def test_average_is_rounded_to_the_fen():
    parameters = dict(BASE, downward_float_percent="3")
    result = evaluate("benchmark_price", parameters, bids_at("100.00", "100.00", "100.01"), same_scores([1, 2, 3]),
                      segment="construction")
    # (100 + 100 + 100.01) / 3 = 100.00333.. -> 100.00; x 97 / 100 = 97.00
    assert result.benchmark_price == D("97.00")


def test_ceiling_ratio_default_share():
    parameters = dict(BASE, benchmark_basis="ceiling_ratio", downward_float_percent="5")
    result = evaluate("benchmark_price", parameters, bids_at("1700.00", "1900.00"), same_scores([1, 2]),
                      segment="construction", ceiling_price=D("2000.00"))
    # default share 0.95: 2000 x 0.95 = 1900.00; lowered by 5%: 1900 x 95 / 100 = 1805.00
    assert result.benchmark_price == D("1805.00")
    assert "ceiling share 0.95 is the default (configurable)" in result.notes


def test_ceiling_ratio_with_a_share_of_the_lot():
    parameters = dict(BASE, benchmark_basis="ceiling_ratio", downward_float_percent="5", ceiling_share="0.90")
    result = evaluate("benchmark_price", parameters, bids_at("1700.00"), same_scores([1]),
                      segment="construction", ceiling_price=D("2000.00"))
    # 2000 x 0.90 = 1800.00; x 95 / 100 = 1710.00
    assert result.benchmark_price == D("1710.00")


def test_ceiling_ratio_needs_a_ceiling():
    parameters = dict(BASE, benchmark_basis="ceiling_ratio")
    with pytest.raises(ValueError, match="needs the lot's ceiling price"):
        evaluate("benchmark_price", parameters, bids_at("1.00"), same_scores([1]), segment="construction")


@pytest.mark.parametrize(("change", "message"), [
    ({"benchmark_basis": "median"}, "unknown benchmark_basis 'median'"),
    ({"benchmark_basis": None}, "needs the parameter benchmark_basis"),
    ({"downward_float_percent": None}, "needs the parameter downward_float_percent"),
    ({"deduction_above_percent": 1.5}, "must be a decimal number as text"),
    ({"benchmark_basis": "ceiling_ratio", "ceiling_share": "1.5"}, "ceiling_share must be above 0"),
])
def test_bad_parameters(change, message):
    parameters = {name: value for name, value in dict(BASE, **change).items() if value is not None}
    with pytest.raises(ValueError, match=message):
        evaluate("benchmark_price", parameters, bids_at("1.00"), same_scores([1]), segment="construction",
                 ceiling_price=D("2.00"))


def test_ceiling_exclusion_comes_before_the_benchmark():
    parameters = dict(BASE, downward_float_percent="0")
    bids = bids_at("900.00", "1100.00", "5000.00")
    result = evaluate("benchmark_price", parameters, bids, same_scores([1, 2]), segment="construction",
                      ceiling_price=D("2000.00"))
    # bid 3 is above the ceiling: the benchmark is (900 + 1100) / 2 = 1000.00
    assert result.excluded == {3: "price 5000.00 is above the ceiling price 2000.00"}
    assert result.benchmark_price == D("1000.00")

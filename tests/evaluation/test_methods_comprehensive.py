"""Comprehensive scoring (综合评分法): price score against the lowest valid price, plus factor averages."""

from decimal import Decimal

import pytest

from evaluation.methods import BidInput, evaluate
from evaluation.methods.scoring import aggregate

D = Decimal
PARAMETERS = {"price_weight": "30", "factors": {"technical": "50", "service": "20"},
              "procurement_category": "goods", "drop_extreme_member_scores": False}


def scores(table):
    """{member: {bid: (technical, service)}} -> member -> bid -> factor -> points."""
    return {member: {bid: {"technical": D(t), "service": D(s)} for bid, (t, s) in bids.items()}
            for member, bids in table.items()}


THREE_MEMBERS = scores({
    1: {101: ("40", "15"), 102: ("48", "18")},
    2: {101: ("42", "16"), 102: ("47", "18")},
    3: {101: ("44", "18"), 102: ("49", "19")},
})


def test_procurement_example():
    bids = [BidInput(101, D("100000.00"), True), BidInput(102, D("120000.00"), True),
            BidInput(103, D("90000.00"), False), BidInput(104, D("125000.00"), True)]
    result = evaluate("comprehensive_scoring", PARAMETERS, bids, THREE_MEMBERS,
                      segment="government_procurement", budget=D("121000.00"))
    # excluded: 103 failed the review; 104 at 125,000 is above the budget 121,000
    assert result.excluded == {103: "failed the preliminary review",
                               104: "price 125000.00 is above the budget 121000.00"}
    # benchmark: the lowest valid price, 100,000.00
    assert result.benchmark_price == D("100000.00")
    first, second = result.ranking
    # bid 102: price 100,000 / 120,000 x 30 = 25.00; technical (48+47+49)/3 = 48.00;
    #          service (18+18+19)/3 = 18.333.. -> 18.33; total 25.00 + 48.00 + 18.33 = 91.33
    assert (first.bid_id, first.price_score, first.factor_scores, first.total, first.rank) == (
        102, D("25.00"), {"technical": D("48.00"), "service": D("18.33")}, D("91.33"), 1)
    # bid 101: 100,000 / 100,000 x 30 = 30.00; technical (40+42+44)/3 = 42.00;
    #          service (15+16+18)/3 = 16.333.. -> 16.33; total 88.33
    assert (second.bid_id, second.price_score, second.total, second.rank) == (101, D("30.00"), D("88.33"), 2)
    assert first.candidate and second.candidate
    assert "government procurement: the highest and lowest bid prices are kept" in result.notes
    # average valid price 110,000 x 0.80 = 88,000: nothing is abnormally low
    assert result.abnormally_low == frozenset()


def test_price_score_rounds_at_the_end():
    bids = [BidInput(1, D("100000.00"), True), BidInput(2, D("110000.00"), True)]
    member = {9: {1: {"technical": D(0), "service": D(0)}, 2: {"technical": D(0), "service": D(0)}}}
    result = evaluate("comprehensive_scoring", PARAMETERS, bids, member, segment="government_procurement")
    # 100,000 / 110,000 x 30 = 27.2727.. -> 27.27
    assert {row.bid_id: row.price_score for row in result.ranking} == {1: D("30.00"), 2: D("27.27")}


def test_average_rounds_half_up():
    # (0 + 0.25 + 0.125) / 3 = 0.125 -> 0.13 (half up; half even would give 0.12)
    assert aggregate([D(0), D("0.25"), D("0.125")], drop_extremes=False) == D("0.13")


FIVE_MEMBERS = {member: {1: {"technical": D(t), "service": D(10)}}
                for member, t in zip(range(1, 6), ("30", "35", "36", "37", "50"))}


def test_drop_extreme_member_scores_with_five_members():
    parameters = dict(PARAMETERS, drop_extreme_member_scores=True)
    result = evaluate("comprehensive_scoring", parameters, [BidInput(1, D("50.00"), True)], FIVE_MEMBERS,
                      segment="construction")
    # technical 30 35 36 37 50: drop 30 and 50 -> (35 + 36 + 37) / 3 = 36.00
    assert result.ranking[0].factor_scores["technical"] == D("36.00")
    assert "each factor's highest and lowest member scores are dropped before averaging" in result.notes


def test_no_dropping_unless_asked():
    result = evaluate("comprehensive_scoring", PARAMETERS, [BidInput(1, D("50.00"), True)], FIVE_MEMBERS,
                      segment="construction")
    # (30 + 35 + 36 + 37 + 50) / 5 = 188 / 5 = 37.60
    assert result.ranking[0].factor_scores["technical"] == D("37.60")


def test_drop_extremes_needs_five_members():
    parameters = dict(PARAMETERS, drop_extreme_member_scores=True)
    four = {member: FIVE_MEMBERS[member] for member in (1, 2, 3, 5)}
    result = evaluate("comprehensive_scoring", parameters, [BidInput(1, D("50.00"), True)], four,
                      segment="construction")
    # 4 members: kept, (30 + 35 + 36 + 50) / 4 = 151 / 4 = 37.75
    assert result.ranking[0].factor_scores["technical"] == D("37.75")
    assert any(note.startswith("only 4 members scored: the highest and lowest member scores are kept")
               for note in result.notes)


def test_scores_of_excluded_bids_are_ignored():
    bids = [BidInput(101, D("100000.00"), True), BidInput(102, D("120000.00"), False)]
    only_101 = {member: {101: bids_[101]} for member, bids_ in THREE_MEMBERS.items()}
    result = evaluate("comprehensive_scoring", PARAMETERS, bids, only_101, segment="government_procurement")
    assert [row.bid_id for row in result.ranking] == [101]


@pytest.mark.parametrize(("member_scores", "message"), [
    ({}, "needs the members' scores"),
    ({1: {}}, "member 1 has not scored bid 101"),
    ({1: {101: {"technical": D(40)}}}, "member 1 has not scored factor 'service' of bid 101"),
    ({1: {101: {"technical": D(40), "service": D(5), "price": D(1)}}}, "unknown factor"),
    ({1: {101: {"technical": D(51), "service": D(5)}}}, "gave 51 for factor 'technical' of bid 101; .* 0 to 50"),
    ({1: {101: {"technical": D(-1), "service": D(5)}}}, "gave -1"),
    ({1: {101: {"technical": 40.5, "service": D(5)}}}, "points must be a decimal number"),
])
def test_bad_member_scores(member_scores, message):
    with pytest.raises(ValueError, match=message):
        evaluate("comprehensive_scoring", PARAMETERS, [BidInput(101, D("100.00"), True)], member_scores,
                 segment="government_procurement")


def test_missing_price_weight():
    with pytest.raises(ValueError, match="needs the parameter price_weight"):
        evaluate("comprehensive_scoring", {"factors": {"technical": "50"}}, [BidInput(1, D("1.00"), True)],
                 {1: {1: {"technical": D(1)}}}, segment="construction")

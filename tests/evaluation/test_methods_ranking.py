"""Ranking, ties (lower price first, then joint rank) and the candidate limit."""

from decimal import Decimal

from evaluation.methods import BidInput, evaluate

D = Decimal
PARAMETERS = {"price_weight": "20", "factors": {"quality": "80"}, "procurement_category": "services"}


def quality(points_by_bid):
    return {1: {bid: {"quality": D(points)} for bid, points in points_by_bid.items()}}


def test_equal_totals_go_to_the_lower_price():
    bids = [BidInput(1, D("125.00"), True), BidInput(2, D("100.00"), True)]
    result = evaluate("comprehensive_scoring", PARAMETERS, bids, quality({1: "64", 2: "60"}),
                      segment="government_procurement")
    # bid 2: 100 / 100 x 20 = 20.00 + 60 = 80.00; bid 1: 100 / 125 x 20 = 16.00 + 64 = 80.00
    # equal totals: the lower price (bid 2) ranks first, no joint rank
    assert [(row.bid_id, row.total, row.rank) for row in result.ranking] == [
        (2, D("80.00"), 1), (1, D("80.00"), 2)]


def test_equal_totals_and_prices_share_the_rank():
    bids = [BidInput(3, D("100.00"), True), BidInput(1, D("100.00"), True), BidInput(2, D("100.00"), True),
            BidInput(4, D("200.00"), True)]
    result = evaluate("comprehensive_scoring", PARAMETERS, bids,
                      quality({1: "70", 2: "75", 3: "70", 4: "80"}), segment="government_procurement")
    # bid 2: 20.00 + 75 = 95.00; bids 1 and 3: 20.00 + 70 = 90.00, same price; bid 4: 10.00 + 80 = 90.00
    # but dearer -> ranks 1, 2, 2, 4 (joint rank skips the next number); joint bids by id
    assert [(row.bid_id, row.rank) for row in result.ranking] == [(2, 1), (1, 2), (3, 2), (4, 4)]


def test_construction_has_at_most_three_candidates():
    bids = [BidInput(number, D(price), True) for number, price in enumerate(("500", "400", "300", "200", "100"), 1)]
    result = evaluate("lowest_evaluated_price", {}, bids, {}, segment="construction")
    assert [row.bid_id for row in result.ranking if row.candidate] == [5, 4, 3]
    assert [row.rank for row in result.ranking] == [1, 2, 3, 4, 5]


def test_procurement_has_at_most_three_candidates():
    bids = [BidInput(number, D(price), True) for number, price in enumerate(("500", "400", "300", "200"), 1)]
    result = evaluate("lowest_evaluated_price", {}, bids, {}, segment="government_procurement")
    assert sum(row.candidate for row in result.ranking) == 3


def test_joint_rank_at_the_limit_is_said():
    bids = [BidInput(number, D(price), True) for number, price in enumerate(("100", "200", "300", "300"), 1)]
    result = evaluate("lowest_evaluated_price", {}, bids, {}, segment="construction")
    # ranks 1, 2, 3, 3: both bids of joint rank 3 are within the limit of 3
    assert [(row.bid_id, row.rank, row.candidate) for row in result.ranking] == [
        (1, 1, True), (2, 2, True), (3, 3, True), (4, 3, True)]
    assert any(note.startswith("a joint rank makes 4 candidates where the segment allows 3")
               for note in result.notes)


def test_no_limit_outside_construction_and_procurement():
    bids = [BidInput(number, D(price), True) for number, price in enumerate(("1", "2", "3", "4", "5"), 1)]
    result = evaluate("highest_price", {}, bids, {}, segment="state_property")
    assert all(row.candidate for row in result.ranking)
    assert [row.bid_id for row in result.ranking] == [5, 4, 3, 2, 1]

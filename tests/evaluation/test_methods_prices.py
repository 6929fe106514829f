"""Price corrections: words beat figures, unit price beats total, and both in that order."""

from decimal import Decimal

from evaluation.methods import PriceCorrection, correct_price

D = Decimal


def test_no_items_keeps_the_figures():
    assert correct_price(D("1180000.00"), None) == PriceCorrection(D("1180000.00"), (), None)
    assert correct_price(D("1180000.00"), {"duration_days": 365}) == PriceCorrection(D("1180000.00"), (), None)


def test_words_that_agree_change_nothing():
    result = correct_price(D("11800000.00"), {"total_price_words": "人民币壹仟壹佰捌拾万元整"})
    assert result == PriceCorrection(D("11800000.00"), (), None)


def test_words_beat_figures():
    # figures 12,000,000.00; words 壹仟壹佰捌拾万 = 11,800,000.00 -> the words prevail
    result = correct_price(D("12000000.00"), {"total_price_words": "人民币壹仟壹佰捌拾万元整"})
    assert result.price == D("11800000.00")
    assert result.problem is None
    (correction,) = result.corrections
    assert "from 12,000,000.00 (figures) to 11,800,000.00" in correction
    assert "words prevail over figures" in correction


def test_words_supply_missing_figures():
    result = correct_price(None, {"total_price_words": "伍万元整"})
    assert result.price == D("50000.00")
    assert "figures are missing" in result.corrections[0]


def test_unit_price_beats_total():
    # line a: 3 x 1,250.50 = 3,751.50 (stated 3,700.00); line b: 2.5 x 100.01 = 250.025 -> 250.03 (half up)
    # sum of lines 3,751.50 + 250.03 = 4,001.53 replaces the figures 3,950.00
    items = {"price_items": [
        {"name": "pump", "quantity": "3", "unit_price": "1250.50", "total": "3700.00"},
        {"name": "pipe", "quantity": "2.5", "unit_price": "100.01", "total": "250.03"},
    ]}
    result = correct_price(D("3950.00"), items)
    assert result.price == D("4001.53")
    assert len(result.corrections) == 2
    assert "line 'pump': total corrected from 3,700.00 to 3,751.50 (quantity 3 x unit price 1,250.50)" \
        in result.corrections[0]
    assert "from 3,950.00 to 4,001.53, the sum of the line totals" in result.corrections[1]


def test_lines_right_but_total_wrong():
    # 10 x 99.90 = 999.00 and 1 x 1.00 = 1.00: sum 1,000.00 against figures 1,100.00
    items = {"price_items": [{"name": "a", "quantity": 10, "unit_price": "99.90", "total": "999.00"},
                             {"name": "b", "quantity": "1", "unit_price": "1.00"}]}
    result = correct_price(D("1100.00"), items)
    assert result.price == D("1000.00")
    (correction,) = result.corrections
    assert correction.startswith("total price corrected from 1,100.00 to 1,000.00")


def test_consistent_lines_change_nothing():
    items = {"price_items": [{"name": "a", "quantity": "2", "unit_price": "50.00", "total": "100.00"}]}
    assert correct_price(D("100.00"), items) == PriceCorrection(D("100.00"), (), None)


def test_both_rules_words_first_then_unit_price():
    # figures 1,200,000.00 -> words 壹佰壹拾捌万 1,180,000.00 (words beat figures)
    # lines: 2 x 500,000.00 = 1,000,000.00 (stated 900,000.00) + 1 x 170,000.00 = 1,170,000.00
    # -> the sum of lines 1,170,000.00 replaces the words' total (unit price beats total)
    items = {"total_price_words": "人民币壹佰壹拾捌万元整", "price_items": [
        {"name": "steel", "quantity": "2", "unit_price": "500000.00", "total": "900000.00"},
        {"name": "labour", "quantity": "1", "unit_price": "170000.00", "total": "170000.00"},
    ]}
    result = correct_price(D("1200000.00"), items)
    assert result.price == D("1170000.00")
    assert result.problem is None
    words, line, total = result.corrections
    assert "to 1,180,000.00 (words" in words
    assert "line 'steel'" in line and "to 1,000,000.00" in line
    assert "from 1,180,000.00 to 1,170,000.00" in total


def test_unreadable_words_keep_the_figures_and_say_why():
    result = correct_price(D("1200000.00"), {"total_price_words": "壹佰贰拾万伍元整",
                                             "price_items": [{"name": "a", "quantity": "1", "unit_price": "5"}]})
    assert result.price == D("1200000.00")
    assert result.corrections == ()
    assert result.problem.startswith("the total price in words cannot be read:")
    assert "ambiguous" in result.problem


def test_words_not_text():
    result = correct_price(D("10.00"), {"total_price_words": 10})
    assert result.price == D("10.00") and "Chinese capital numerals" in result.problem


def test_malformed_lines_keep_the_figures():
    for lines, message in [
        ("not a list", "must be a list"),
        (["x"], "line 1 must be an object"),
        ([{"name": "a", "quantity": 1.5, "unit_price": "1"}], "quantity must be a number written as text"),
        ([{"name": "a", "quantity": "1", "unit_price": "abc"}], "unit_price must be a number"),
        ([{"name": "a", "quantity": "-1", "unit_price": "1"}], "at least 0"),
        ([{"name": "a", "quantity": "1"}], "unit_price must be a number written as text"),
        ([{"name": "a", "quantity": "1", "unit_price": "1", "total": "NaN"}], "total must be a number of at least 0"),
    ]:
        result = correct_price(D("10.00"), {"price_items": lines})
        assert result.price == D("10.00") and result.corrections == ()
        assert message in result.problem, (lines, result.problem)


def test_no_price_at_all():
    result = correct_price(None, {})
    assert result.price is None and result.problem == "the opening sheet states no total price"

"""Amounts in Chinese capital numerals, as written on opening sheets."""

from decimal import Decimal

import pytest

from evaluation.methods import parse_chinese_amount


@pytest.mark.parametrize(("text", "amount"), [
    ("人民币壹仟壹佰捌拾万元整", "11800000.00"),  # (1000 + 100 + 80) x 10,000
    ("壹佰壹拾捌万元整", "1180000.00"),
    ("伍元整", "5.00"),
    ("伍元正", "5.00"),
    ("伍圆整", "5.00"),
    ("伍元", "5.00"),
    ("壹拾元整", "10.00"),
    ("拾元整", "10.00"),  # a leading 拾 without 壹
    ("拾万元整", "100000.00"),
    ("玖仟玖佰玖拾玖元", "9999.00"),
    ("壹佰零伍元整", "105.00"),  # 零 for the missing tens
    ("壹仟零伍元整", "1005.00"),  # one 零 for missing hundreds and tens
    ("壹仟零伍拾元整", "1050.00"),
    ("壹仟伍佰元整", "1500.00"),
    ("壹万零伍佰元整", "10500.00"),  # 零 at the start of the section after 万
    ("壹万伍佰元整", "10500.00"),  # the same without 零: the unit makes it plain
    ("壹佰万零伍元整", "1000005.00"),
    ("壹拾万零贰仟元整", "102000.00"),
    ("贰亿元整", "200000000.00"),
    ("壹亿零伍万元整", "100050000.00"),  # 10^8 + 5 x 10^4
    ("壹亿伍仟万元整", "150000000.00"),
    ("叁亿贰仟万零壹佰元整", "320000100.00"),
    ("壹万亿元整", "1000000000000.00"),  # 万 inside the part before 亿
    ("壹仟陆佰捌拾元零叁角贰分", "1680.32"),
    ("壹佰元零伍分", "100.05"),  # 零 for the missing 角
    ("壹佰元伍分", "100.05"),
    ("壹佰元伍角", "100.50"),
    ("壹佰元伍角整", "100.50"),
    ("伍角", "0.50"),
    ("人民币伍角陆分", "0.56"),
    ("零元伍角", "0.50"),
    ("零元整", "0.00"),
    (" 人民币 壹仟 壹佰 元整 ", "1100.00"),  # whitespace is ignored
])
def test_reads_amounts(text, amount):
    assert parse_chinese_amount(text) == Decimal(amount)


def test_result_has_two_places():
    assert str(parse_chinese_amount("伍元整")) == "5.00"


@pytest.mark.parametrize(("text", "message"), [
    ("", "holds no amount"),
    ("人民币整", "holds no amount"),
    ("壹佰", "does not say 元"),
    ("abc元", "unexpected character 'a'"),
    ("一百元", "unexpected character '一'"),
    ("1180000元", "unexpected character '1'"),
    ("元整", "no number before 元"),
    ("佰元", "佰 without a digit before it"),
    ("壹壹元", "two digits in a row"),
    ("壹佰壹仟元", "仟 is out of order"),
    ("壹拾壹佰元", "佰 is out of order"),
    ("壹佰仟元", "仟 without a digit"),
    ("伍零元", "零 after the digit 伍"),
    ("壹仟零元", "零 at the end of a number"),
    ("壹仟零零伍元", "零 is written twice"),
    ("零伍元", "does not start with 零"),
    ("壹仟伍元", "ambiguous"),  # 1,500 spoken, or 1,005 with 零 left out
    ("壹万伍元", "ambiguous"),
    ("壹亿伍元", "ambiguous"),
    ("亿元", "亿 without a number"),
    ("壹亿壹亿元", "亿 appears twice"),
    ("万元", "万 without a number"),
    ("壹佰元零", "cannot read"),
    ("壹佰元伍", "cannot read"),
    ("壹佰元零角伍分", "cannot read"),
    ("壹佰元拾角", "is not a digit"),
    ("壹佰元伍分伍角", "cannot read"),
])
def test_refuses_what_it_cannot_read(text, message):
    with pytest.raises(ValueError, match=message):
        parse_chinese_amount(text)


def test_refuses_non_text():
    with pytest.raises(ValueError, match="must be text"):
        parse_chinese_amount(1180000)  # type: ignore[arg-type]

"""Reading an amount written in Chinese capital numerals (大写金额), as on an opening sheet.

A bid states its total price twice, in figures and in words; when they disagree the words
prevail (DOMAIN.md "Evaluation", price corrections). The words follow the accounting
convention for capital amounts: digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 inside a
section of four digits, section marks 万 and 亿, the currency unit 元 (or 圆), then 角 and
分, and 整 (or 正) closing an amount without 分. An optional 人民币 prefix is allowed and
whitespace is ignored.

The reader is strict where a loose reading could change the amount: 壹仟伍元 may mean
1,500 (spoken style) or 1,005 (a missing 零), so a bare last digit after a unit other than
拾 must be preceded by 零 and is otherwise refused as ambiguous. Everything it cannot read
raises :class:`ValueError` with a sentence saying what is wrong; the price correction turns
that sentence into the problem recorded against the bid.
"""

from __future__ import annotations

from decimal import Decimal

DIGITS = {"壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
UNITS = {"拾": 10, "佰": 100, "仟": 1000}
ZERO = "零"
YUAN = ("元", "圆")
CLOSING = ("整", "正")
PREFIX = "人民币"
CENT = Decimal("0.01")
TEN_THOUSAND = 10_000
HUNDRED_MILLION = 100_000_000


def parse_chinese_amount(text: str) -> Decimal:
    """Return the amount of yuan written in ``text``, with 2 decimal places.

    ``人民币壹仟壹佰捌拾万元整`` -> ``Decimal("11800000.00")``;
    ``壹佰元零伍分`` -> ``Decimal("100.05")``. Raises ValueError naming the problem.
    """
    if not isinstance(text, str):
        raise ValueError(f"an amount in words must be text, got {type(text).__name__}")
    compact = "".join(text.split())
    body = compact.removeprefix(PREFIX)
    if body.endswith(CLOSING):
        body = body[:-1]
    if not body:
        raise ValueError(f"{text!r} holds no amount")
    allowed = set(DIGITS) | set(UNITS) | {ZERO, "万", "亿", "角", "分", *YUAN, *CLOSING}
    strange = [char for char in body if char not in allowed]
    if strange:
        raise ValueError(f"{text!r}: unexpected character {strange[0]!r} (expected 零壹贰叁肆伍陆柒捌玖, "
                         "拾佰仟, 万亿, 元, 角分, 整)")
    if ZERO * 2 in body:
        raise ValueError(f"{text!r}: 零 is written twice in a row")
    yuan_at = min((body.index(mark) for mark in YUAN if mark in body), default=-1)
    if yuan_at < 0:
        if not body.endswith(("角", "分")):
            raise ValueError(f"{text!r} does not say 元: an amount in words ends its whole yuan with 元")
        whole_text, fraction_text = "", body
    else:
        whole_text, fraction_text = body[:yuan_at], body[yuan_at + 1:]
        if not whole_text:
            raise ValueError(f"{text!r}: no number before 元")
    try:
        whole = _whole_yuan(whole_text) if whole_text else 0
        fraction = _fraction(fraction_text)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    return (Decimal(whole) + fraction).quantize(CENT)


def _whole_yuan(text: str) -> int:
    """Whole yuan: ``[sections 亿] [section 万] [section]``, below 10^16."""
    if text == ZERO:
        return 0
    if text.startswith(ZERO):
        raise ValueError("a number does not start with 零")
    if "亿" in text:
        high, _, low = text.partition("亿")
        if not high:
            raise ValueError("亿 without a number before it")
        high_value = _below_hundred_million(high, first=True, above=None)
        if high_value == 0:
            raise ValueError("亿 without a number before it")
        return high_value * HUNDRED_MILLION + _below_hundred_million(low, first=False, above=HUNDRED_MILLION)
    return _below_hundred_million(text, first=True, above=None)


def _below_hundred_million(text: str, *, first: bool, above: int | None) -> int:
    """``[section 万] [section]``; ``above`` is the unit written before this part, if any."""
    if "亿" in text:
        raise ValueError("亿 appears twice")
    if "万" in text:
        high, _, low = text.partition("万")
        high_value = _section(high, first=first, above=None)
        if high_value == 0:
            raise ValueError("万 without a number before it")
        return high_value * TEN_THOUSAND + _section(low, first=False, above=TEN_THOUSAND)
    return _section(text, first=first, above=above)


def _section(text: str, *, first: bool, above: int | None) -> int:
    """One section below 10,000: digits each followed by 仟, 佰 or 拾, then a last digit.

    ``first`` allows a leading 拾 without a digit (拾万 = 100,000). ``above`` is the unit
    written just before this section (万 or 亿) and counts for the ambiguity rule.
    """
    value, pending, zero_before = 0, None, False
    last_unit = above
    for position, char in enumerate(text):
        if char == ZERO:
            if pending is not None:
                raise ValueError(f"零 after the digit {_digit_name(pending)} (a unit is missing)")
            zero_before = True
        elif char in DIGITS:
            if pending is not None:
                raise ValueError("two digits in a row without a unit between them")
            pending = DIGITS[char]
        elif char in UNITS:
            unit = UNITS[char]
            if pending is None:
                if not (char == "拾" and first and position == 0):
                    raise ValueError(f"{char} without a digit before it")
                pending = 1
            if last_unit is not None and unit >= last_unit:
                raise ValueError(f"{char} is out of order (units go down: 仟 佰 拾)")
            value += pending * unit
            last_unit, pending, zero_before = unit, None, False
        else:
            raise ValueError(f"unexpected character {char!r} (expected 零壹贰叁肆伍陆柒捌玖, 拾佰仟, 万亿, 元, 角分, 整)")
    if pending is not None:
        if last_unit is not None and last_unit != 10 and not zero_before:
            raise ValueError(f"the last digit {_digit_name(pending)} is ambiguous: write 零 before it "
                             f"or name its unit")
        value += pending
    elif zero_before:
        raise ValueError("零 at the end of a number")
    return value


def _fraction(text: str) -> Decimal:
    """What follows 元: nothing, ``[零] D角 [[零] D分]`` or ``[零] D分``."""
    if not text:
        return Decimal(0)
    rest = text.removeprefix(ZERO)
    jiao = fen = 0
    if len(rest) >= 2 and rest[1] == "角":
        jiao = _fraction_digit(rest[0], "角")
        rest = rest[2:].removeprefix(ZERO)
    if len(rest) >= 2 and rest[1] == "分":
        fen = _fraction_digit(rest[0], "分")
        rest = rest[2:]
    if rest or (jiao == 0 and fen == 0):
        raise ValueError(f"cannot read {text!r} after 元 (expected 角 and 分, e.g. 伍角陆分)")
    return Decimal(jiao) / 10 + Decimal(fen) / 100


def _fraction_digit(char: str, unit: str) -> int:
    if char not in DIGITS:
        raise ValueError(f"{char!r} before {unit} is not a digit from 壹 to 玖")
    return DIGITS[char]


def _digit_name(value: int) -> str:
    return next(name for name, digit in DIGITS.items() if digit == value)

"""Correcting a bid's price before it is evaluated (DOMAIN.md "Evaluation", price corrections).

The price read at the opening is the opening sheet's total in figures. Two rules may
change it, applied in this order (MOF Order 87 art. 59; construction tender documents use
the same order):

1. words beat figures: when the sheet also states the total in Chinese capital numerals
   (item ``total_price_words``) and the two disagree, the words are the price;
2. unit price beats total: when the sheet lists priced lines (item ``price_items``, each
   ``{"name", "quantity", "unit_price", "total"}``), each line total is recomputed as
   quantity x unit price (rounded to the fen, half up) and the price becomes the sum of
   the lines, whatever total the words or figures gave.

Every change is described in words (what, from, to) for the evaluation report. When the
sheet cannot be read (words that are not an amount, a malformed line), nothing is
corrected: the price stays the figures and ``problem`` says what is wrong, for the
committee to settle by clarification. An obvious misplaced decimal point in a unit price
is such a matter of judgement and is left to the committee as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from evaluation.methods.chinese_amounts import parse_chinese_amount

CENT = Decimal("0.01")
WORDS_ITEM = "total_price_words"
LINES_ITEM = "price_items"


@dataclass(frozen=True)
class PriceCorrection:
    """The price to evaluate, the corrections that led to it, and a problem if any."""

    price: Decimal | None
    corrections: tuple[str, ...] = ()
    problem: str | None = None


class _Unreadable(ValueError):
    """The opening sheet's words or lines cannot be used; the message is the problem."""


def money(value: Decimal) -> str:
    """How an amount is written in corrections: ``1,180,000.00``."""
    return f"{value:,.2f}"


def correct_price(total_price: Decimal | None, sheet_items: Mapping[str, Any] | None) -> PriceCorrection:
    """Apply words-beat-figures then unit-price-beats-total to the opening sheet of one bid."""
    items = sheet_items or {}
    try:
        words = _words_amount(items.get(WORDS_ITEM))
        lines = _lines(items.get(LINES_ITEM))
    except _Unreadable as problem:
        return PriceCorrection(total_price, (), str(problem))
    price = total_price
    corrections: list[str] = []
    if words is not None:
        amount, text = words
        if price is None:
            corrections.append(f"total price taken from the words {text} ({money(amount)}): "
                               "the figures are missing")
        elif amount != price:
            corrections.append(f"total price corrected from {money(price)} (figures) to {money(amount)} "
                               f"(words {text}): words prevail over figures")
        price = amount
    if lines:
        price = _apply_lines(price, lines, corrections)
    if price is None:
        return PriceCorrection(None, (), "the opening sheet states no total price")
    return PriceCorrection(price, tuple(corrections), None)


def _apply_lines(price: Decimal | None, lines: list[tuple[str, Decimal, Decimal, Decimal | None]],
                 corrections: list[str]) -> Decimal:
    total = Decimal(0)
    for name, quantity, unit_price, stated in lines:
        line_total = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        if stated is not None and stated != line_total:
            corrections.append(f"line {name!r}: total corrected from {money(stated)} to {money(line_total)} "
                               f"(quantity {quantity} x unit price {money(unit_price)}): unit price prevails "
                               "over total")
        total += line_total
    if price is None:
        corrections.append(f"total price taken from the sum of the lines ({money(total)}): the figures are missing")
    elif total != price:
        corrections.append(f"total price corrected from {money(price)} to {money(total)}, the sum of the line "
                           "totals recomputed from unit prices: unit price prevails over total")
    return total


def _words_amount(raw: Any) -> tuple[Decimal, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise _Unreadable(f"{WORDS_ITEM} must be an amount in Chinese capital numerals, got {raw!r}")
    try:
        return parse_chinese_amount(raw), raw.strip()
    except ValueError as error:
        raise _Unreadable(f"the total price in words cannot be read: {error}") from None


def _lines(raw: Any) -> list[tuple[str, Decimal, Decimal, Decimal | None]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Unreadable(f"{LINES_ITEM} must be a list of priced lines")
    lines = []
    for number, line in enumerate(raw, start=1):
        if not isinstance(line, Mapping):
            raise _Unreadable(f"{LINES_ITEM} line {number} must be an object with name, quantity, unit_price, total")
        name = str(line.get("name") or f"line {number}")
        quantity = _amount(line.get("quantity"), f"line {name!r} quantity")
        unit_price = _amount(line.get("unit_price"), f"line {name!r} unit_price")
        stated = line.get("total")
        lines.append((name, quantity, unit_price,
                      None if stated is None else _amount(stated, f"line {name!r} total")))
    return lines


def _amount(raw: Any, what: str) -> Decimal:
    if isinstance(raw, (bool, float)) or not isinstance(raw, (int, str, Decimal)):
        raise _Unreadable(f"{LINES_ITEM}: {what} must be a number written as text, got {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _Unreadable(f"{LINES_ITEM}: {what} must be a number, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise _Unreadable(f"{LINES_ITEM}: {what} must be a number of at least 0, got {raw!r}")
    return value

"""The rules of price competitions, driven by ``trading/data/price_bidding_rules.json``.

Which modes a segment's procedure runs, which legal time rules (``trading.rules``) bound
the competition's times, the platform's limits, and the arithmetic every mode shares:
the lowest acceptable quote, the Dutch clock, and the salted SHA-256 commitments that keep
the reserve price and sealed quotes hidden until the close yet verifiable after it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from core.errors import FieldError, InvalidInput, RuleViolation
from trading import rules
from trading.calendar import WorkingCalendar

RULES_FILE = "data/price_bidding_rules.json"
CENTS = Decimal("0.01")

LISTING, AUCTION, MULTI_ROUND, SEALED_QUOTE, DUTCH = "listing", "auction", "multi_round", "sealed_quote", "dutch"
MODES = (LISTING, AUCTION, MULTI_ROUND, SEALED_QUOTE, DUTCH)
ASCENDING = frozenset({LISTING, AUCTION, MULTI_ROUND, SEALED_QUOTE})


@functools.cache
def rule_data() -> dict[str, Any]:
    text = resources.files("trading").joinpath(RULES_FILE).read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def limit(name: str) -> dict[str, Any]:
    return rule_data()["limits"][name]  # type: ignore[no-any-return]


def modes_for(segment: str, procedure: str) -> list[str]:
    """The modes a procedure runs; empty when it has no price competition (tenders, construction...)."""
    return list(rule_data()["modes"].get(segment, {}).get(procedure, []))


def catalogue() -> str:
    """``land_mining.listing: listing; ...``, for messages."""
    return "; ".join(f"{segment}.{procedure}: {', '.join(modes)}"
                     for segment, procedures in rule_data()["modes"].items() for procedure, modes in procedures.items())


def check_mode(segment: str, procedure: str, mode: str, lot_code: str) -> None:
    allowed = modes_for(segment, procedure)
    if not allowed:
        raise RuleViolation(f"lot {lot_code} is run by {segment}.{procedure}, which has no price competition; "
                            f"price competitions exist for {catalogue()}", rule="price_competition_procedure")
    if mode not in allowed:
        raise InvalidInput(f"mode {mode!r} is not used by {segment}.{procedure}; use {', '.join(allowed)}",
                           [FieldError("$.mode", f"one of {', '.join(allowed)}")])


def time_rule_breaches(segment: str, procedure: str, mode: str, *, published_at: datetime,
                       times: dict[str, datetime], calendar: WorkingCalendar | None = None) -> list[rules.RuleBreach]:
    """The legal time rules the competition's times break (land notice and listing period,
    state-property disclosure), checked by ``trading.rules`` on a timetable made of them."""
    points = {point: times[name] for point, name in rule_data()["timetable"][mode].items()}
    timetable = rules.Timetable(published_at=published_at, documents_from=None, documents_until=None,  # type: ignore[arg-type]
                                bid_deadline=points["bid_deadline"], opening_at=points["opening_at"],
                                bidding_from=points["bidding_from"])
    kinds = set(rule_data()["time_rule_kinds"].get(segment, []))
    return [breach for breach in rules.timetable_breaches(segment, procedure, timetable, calendar)
            if breach.rule.rsplit(".", 1)[-1] in kinds]


# --- prices ---------------------------------------------------------------------------------


def minimum_quote(starting_price: Decimal, increment: Decimal, current_price: Decimal | None) -> Decimal:
    """The first quote is at least the starting price; each later one the current price plus one increment."""
    return starting_price if current_price is None else current_price + increment


def is_whole_steps(amount: Decimal, starting_price: Decimal, increment: Decimal) -> bool:
    """Raises are whole multiples of the increment above the starting price."""
    return (amount - starting_price) % increment == 0


def dutch_price(starting_price: Decimal, step: Decimal, floor: Decimal, interval_seconds: int,
                starts_at: datetime, now: datetime) -> Decimal:
    """The Dutch price at ``now``: one step down per whole interval since the start, never below the floor."""
    steps = max(0, int((now - starts_at).total_seconds() // interval_seconds))
    return max(floor, starting_price - step * steps)


def dutch_end(starting_price: Decimal, step: Decimal, floor: Decimal, interval_seconds: int,
              starts_at: datetime) -> datetime:
    """When the Dutch clock ends unaccepted: the floor is offered for one whole interval."""
    steps_to_floor = math.ceil((starting_price - floor) / step)
    return starts_at + timedelta(seconds=interval_seconds * (steps_to_floor + 1))


# --- commitments ------------------------------------------------------------------------------


def new_salt() -> str:
    return secrets.token_hex(32)


def commitment(amount: Decimal, salt: str) -> str:
    """SHA-256 over ``"<amount with 2 places>|<salt>"`` (UTF-8), lower-case hex: what the
    ledger holds of a hidden price until the close reveals amount and salt."""
    return hashlib.sha256(f"{amount.quantize(CENTS)}|{salt}".encode()).hexdigest()


def verify_commitment(amount: Decimal | str, salt: str, expected: str) -> bool:
    return secrets.compare_digest(commitment(Decimal(amount), salt), expected)


def new_bidder_number(taken: set[str]) -> str:
    """A random bidder number not yet used in the competition (no order of registration shows in it)."""
    digits = int(limit("bidder_number_digits")["value"])
    while True:
        number = str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))
        if number not in taken:
            return number

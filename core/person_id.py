"""Resident identity card numbers (居民身份证号码), GB 11643-1999.

18 characters: a 6-digit address code, the birth date (YYYYMMDD), a 3-digit sequence
number and a check character computed MOD 11-2 over the first 17 (``X`` stands for 10).
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


class InvalidPersonId(ValueError):
    """Not a valid resident ID number; the message says why."""


def person_id_check_character(first17: str) -> str:
    return _CHECK[sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_person_id(text: str) -> str:
    """The normalised number (upper-case X) or :class:`InvalidPersonId`."""
    number = text.strip().upper()
    if len(number) != 18:
        raise InvalidPersonId(f"an ID number has 18 characters, {text!r} has {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidPersonId(f"ID number {text!r}: 17 digits then a digit or X are expected")
    birth_date_of(number)
    expected = person_id_check_character(number[:17])
    if number[17] != expected:
        raise InvalidPersonId(f"ID number {text!r} fails its check character: expected {expected!r}")
    return number


def birth_date_of(number: str) -> date:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidPersonId(f"ID number {number!r} holds no real birth date ({number[6:14]})") from None


def make_person_id(first17: str) -> str:
    """Complete 17 digits into a valid number (demo data and tests)."""
    return first17 + person_id_check_character(first17)

"""Unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters: registration authority (1), organisation type (1), administrative
division (6 digits), organisation code (9, GB 11714 with its own check character) and a
check character computed over the first 17 with weights 3^i mod 31.
"""

from __future__ import annotations

# The 31 characters of the code, in value order; I, O, Z, S and V are never used.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: value for value, char in enumerate(USCC_ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]


class InvalidUSCC(ValueError):
    """The text is not a valid unified social credit code; the message says why."""


def uscc_check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters."""
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(text: str) -> str:
    """Return the normalised (upper-case, stripped) code or raise :class:`InvalidUSCC`."""
    code = text.strip().upper()
    if len(code) != 18:
        raise InvalidUSCC(f"a credit code has 18 characters, {text!r} has {len(code)}")
    bad = [char for char in code if char not in _VALUE]
    if bad:
        raise InvalidUSCC(f"credit code {text!r} contains characters not allowed: {''.join(bad)!r}")
    if not code[2:8].isdigit():
        raise InvalidUSCC(f"credit code {text!r}: characters 3-8 must be the division code digits")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(
            f"credit code {text!r} fails its check character: expected {expected!r}, got {code[17]!r}"
        )
    return code


def make_uscc(first17: str) -> str:
    """Complete 17 characters into a valid code (demo data and tests)."""
    return first17 + uscc_check_character(first17)

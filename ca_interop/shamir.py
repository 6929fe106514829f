"""Shamir secret sharing, k-of-n, over GF(2^8): the byte-wise scheme of ``ssss``,
HashiCorp Vault and most libraries.

Used to split a lot's opening private key among custodians (:mod:`ca_interop.opening_keys`):
any ``threshold`` shares rebuild the secret, fewer reveal nothing about it.

Why GF(2^8) and not a prime field
=================================

* Each byte of the secret is shared on its own (one polynomial per byte), so a secret of
  any length — a 138-byte P-256 PKCS#8 key or a 1.8 KB RSA-3072 one — needs no chunking,
  no integer encoding and no prime bigger than the secret, and a share is exactly as
  long as the secret (plus its index).
* Its 255 non-zero elements are the share indices: n <= 255 custodians, far more than an
  opening ever needs.
* Perfect secrecy holds per byte: with k-1 shares every value of a secret byte is
  consistent with exactly the same number of polynomials (``tests/ca_interop/test_shamir.py``
  checks this exhaustively on one byte).
* Arithmetic is XOR and table look-ups; with a multiplication table per constant the
  whole secret is processed at once by ``bytes.translate`` instead of a Python loop per
  byte.

The field is GF(2)[x] / (x^8 + x^4 + x^3 + x + 1) (0x11B, the AES polynomial, as Vault),
with generator 0x03 for the log/exp tables.

The share of custodian x is, byte by byte, f(x) = s + a1*x + ... + a(k-1)*x^(k-1), where
s is the secret byte and the a's are uniformly random bytes (zero included: forcing the
top coefficient to be non-zero would exclude one secret value given k-1 shares). The
randomness comes from :func:`secrets.token_bytes`; tests may inject their own.

Limits of the scheme (not of this code): Shamir shares carry no integrity. Too few
shares, or a wrong one, combine to a wrong secret without any error, so the caller must
check the result against a commitment (``opening_keys`` compares a SHA-256 and the
certificate's public key). Python gives no constant-time guarantee: the table look-ups
depend on secret bytes, which matters only to code sharing the machine (a split happens
once per lot, a combine once per opening).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

__all__ = ["FIELD", "MAX_SHARES", "Share", "ShamirError", "combine", "split"]

FIELD: Final = "GF(2^8) mod x^8+x^4+x^3+x+1 (0x11B)"
"""The field, as a label for records that describe how shares were made."""

MAX_SHARES: Final = 255
"""Share indices are the non-zero field elements 1..255."""

_POLYNOMIAL: Final = 0x11B
_GENERATOR: Final = 0x03


class ShamirError(ValueError):
    """Bad parameters or shares: the message says what is wrong and never contains a share
    value or the secret."""


def _tables() -> tuple[bytes, bytes]:
    exp = bytearray(510)
    log = bytearray(256)
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        # value *= 3, i.e. value*2 + value, reduced modulo the polynomial
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= _POLYNOMIAL
        value = doubled ^ value
    return bytes(exp), bytes(log)


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _inverse(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return _EXP[255 - _LOG[a]]


@lru_cache(maxsize=256)
def _mul_table(constant: int) -> bytes:
    """Multiplication by ``constant`` as a translation table for ``bytes.translate``."""
    return bytes(_mul(constant, value) for value in range(256))


def _xor(left: bytes, right: bytes) -> bytes:
    size = len(left)
    return (int.from_bytes(left, "little") ^ int.from_bytes(right, "little")).to_bytes(size, "little")


@dataclass(frozen=True)
class Share:
    """One share: its index x (1..255, the point it was evaluated at) and f(x) for every
    byte of the secret. The value is kept out of ``repr`` so it does not end up in logs."""

    index: int
    value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise ShamirError(f"a share index is an integer, not {type(self.index).__name__}")
        if not 1 <= self.index <= MAX_SHARES:
            raise ShamirError(f"share index {self.index} is outside 1..{MAX_SHARES}")
        if isinstance(self.value, (bytearray, memoryview)):
            object.__setattr__(self, "value", bytes(self.value))
        if not isinstance(self.value, bytes):
            raise ShamirError(f"a share value is bytes, not {type(self.value).__name__}")
        if not self.value:
            raise ShamirError(f"share {self.index} is empty")


def _check_parameters(threshold: int, shares: int) -> None:
    for name, number in (("threshold", threshold), ("shares", shares)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise ShamirError(f"{name} must be an integer, not {type(number).__name__}")
    if not 1 <= shares <= MAX_SHARES:
        raise ShamirError(f"the number of shares must be 1..{MAX_SHARES}, not {shares}")
    if not 1 <= threshold <= shares:
        raise ShamirError(f"the threshold must be 1..{shares} (the number of shares), not {threshold}")
    if threshold == 1:
        # f(x) = s: every share would BE the secret. That is copying, not sharing; a
        # caller who wants copies can make them without pretending otherwise.
        raise ShamirError("a threshold of 1 makes every share a plain copy of the secret; use 2 or more")


def split(
    secret: bytes,
    threshold: int,
    shares: int,
    *,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[Share]:
    """Split ``secret`` into ``shares`` shares (indices 1..shares), any ``threshold`` of
    which rebuild it with :func:`combine`; 2 <= threshold <= shares <= 255.

    ``random_bytes(n)`` supplies the coefficients (tests inject fixed ones): it is called
    once for ``(threshold - 1) * len(secret)`` bytes, read as ``threshold - 1`` blocks of
    ``len(secret)`` bytes, block j - 1 holding the coefficient of x^j for every secret byte
    (so with threshold 2, byte i of the randomness is the slope of secret byte i).
    """
    _check_parameters(threshold, shares)
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise ShamirError(f"the secret must be bytes, not {type(secret).__name__}")
    secret = bytes(secret)
    if not secret:
        raise ShamirError("the secret is empty: there is nothing to share")
    size = len(secret)
    wanted = (threshold - 1) * size
    randomness = random_bytes(wanted)
    if not isinstance(randomness, (bytes, bytearray)) or len(randomness) != wanted:
        raise ShamirError(f"the random source returned {len(randomness) if hasattr(randomness, '__len__') else '?'} "
                          f"bytes instead of {wanted}")
    randomness = bytes(randomness)
    coefficients = [secret] + [randomness[j * size:(j + 1) * size] for j in range(threshold - 1)]
    result: list[Share] = []
    for x in range(1, shares + 1):
        table = _mul_table(x)
        value = coefficients[-1]
        for coefficient in reversed(coefficients[:-1]):  # Horner's rule, every byte at once
            value = _xor(value.translate(table), coefficient)
        result.append(Share(x, value))
    return result


def combine(shares: Iterable[Share], *, threshold: int | None = None) -> bytes:
    """Rebuild the secret from shares of one :func:`split` (Lagrange interpolation at 0).

    Give at least the threshold: fewer (or a share of another secret) yield a wrong secret
    and Shamir cannot notice, so pass ``threshold`` when known to have too few refused
    here, and check the result against a commitment. All shares given are used, so an
    inconsistent extra share also changes the result rather than being ignored.
    """
    given = list(shares)
    for share in given:
        if not isinstance(share, Share):
            raise ShamirError(f"expected Share objects, not {type(share).__name__}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
            raise ShamirError(f"the threshold must be an integer of at least 2, not {threshold!r}")
        if len(given) < threshold:
            raise ShamirError(f"{len(given)} share(s) given; {threshold} are needed")
    if len(given) < 2:
        raise ShamirError(f"{len(given)} share(s) given; at least 2 are needed (and no fewer than the threshold)")
    seen: set[int] = set()
    for share in given:
        if share.index in seen:
            raise ShamirError(f"share index {share.index} is given more than once")
        seen.add(share.index)
    size = len(given[0].value)
    for share in given:
        if len(share.value) != size:
            raise ShamirError(
                f"shares differ in length (share {given[0].index}: {size} bytes, share {share.index}: "
                f"{len(share.value)} bytes): they are not from the same split"
            )
    secret = bytes(size)
    for share in given:
        # Lagrange basis polynomial of this share, at 0: prod x_m / (x_m - x_j) (minus is XOR)
        numerator, denominator = 1, 1
        for other in given:
            if other.index != share.index:
                numerator = _mul(numerator, other.index)
                denominator = _mul(denominator, other.index ^ share.index)
        weight = _mul(numerator, _inverse(denominator))
        secret = _xor(secret, share.value.translate(_mul_table(weight)))
    return secret

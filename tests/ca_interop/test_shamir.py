"""Tests for ca_interop.shamir: known answers (against an independent bit-by-bit GF(2^8)
multiplication), every k-subset recombining, perfect secrecy of k-1 shares checked
exhaustively on one byte, random round trips, and the refusals."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from ca_interop import shamir
from ca_interop.shamir import ShamirError, Share, combine, split


def slow_mul(a: int, b: int) -> int:
    """Russian-peasant multiplication modulo x^8+x^4+x^3+x+1, independent of the tables."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def slow_eval(coefficients: list[int], x: int) -> int:
    result, power = 0, 1
    for coefficient in coefficients:
        result ^= slow_mul(coefficient, power)
        power = slow_mul(power, x)
    return result


def fixed(data: bytes):  # noqa: ANN201
    def random_bytes(count: int) -> bytes:
        assert count == len(data)
        return data
    return random_bytes


# --------------------------------------------------------------------------- the field


def test_field_tables_agree_with_bitwise_multiplication() -> None:
    assert sorted(shamir._EXP[:255]) == list(range(1, 256))  # 0x03 generates the group
    for a in range(256):
        for b in range(0, 256, 7):
            assert shamir._mul(a, b) == slow_mul(a, b)
        if a:
            assert slow_mul(a, shamir._inverse(a)) == 1
    assert slow_mul(0x53, 0xCA) == 0x01  # the FIPS-197 example of inverses


# --------------------------------------------------------------------------- known answers


def test_known_answer_one_byte_two_of_three() -> None:
    # f(x) = 0x53 + 0xCA x: f(1) = 0x99, f(2) = 0x53 ^ 0x8F = 0xDC, f(3) = 0x53 ^ 0x45 = 0x16
    shares = split(b"\x53", 2, 3, random_bytes=fixed(b"\xca"))
    assert [(share.index, share.value) for share in shares] == [(1, b"\x99"), (2, b"\xdc"), (3, b"\x16")]
    assert combine(shares[1:]) == b"\x53"


def test_known_answer_three_of_five() -> None:
    secret = b"bid"
    # coefficient blocks: x^1 for each byte, then x^2 for each byte
    randomness = bytes([0x01, 0x02, 0x03, 0xFE, 0x80, 0x1B])
    shares = split(secret, 3, 5, random_bytes=fixed(randomness))
    expected = {
        x: bytes(slow_eval([secret[i], randomness[i], randomness[3 + i]], x) for i in range(3)) for x in range(1, 6)
    }
    assert {share.index: share.value for share in shares} == expected
    # pinned, so a change of field, layout or evaluation order is noticed
    assert [share.value.hex() for share in shares] == ["9deb7c", "b55b0e", "4ad916", "1fb9c3", "e03bdb"]
    assert combine([shares[4], shares[0], shares[2]]) == secret


# --------------------------------------------------------------------------- recombination


def test_every_three_subset_of_a_three_of_five_split_recombines() -> None:
    secret = random.Random(5).randbytes(200)
    shares = split(secret, 3, 5)
    for size in (3, 4, 5):
        for subset in itertools.combinations(shares, size):
            assert combine(subset, threshold=3) == secret
            assert combine(reversed(subset)) == secret


def test_two_shares_of_a_three_of_five_split_give_a_wrong_secret() -> None:
    secret = bytes(range(64))
    shares = split(secret, 3, 5)
    # Shamir cannot notice too few shares: it interpolates a line, not the parabola
    assert all(combine(pair) != secret for pair in itertools.combinations(shares, 2))
    with pytest.raises(ShamirError, match="2 share\\(s\\) given; 3 are needed"):
        combine(shares[:2], threshold=3)


def test_random_round_trips() -> None:
    rng = random.Random(20240611)
    for _ in range(200):
        n = rng.randint(2, 12)
        k = rng.randint(2, n)
        secret = rng.randbytes(rng.randint(1, 96))
        shares = split(secret, k, n)
        assert len(shares) == n and [s.index for s in shares] == list(range(1, n + 1))
        assert all(len(share.value) == len(secret) for share in shares)
        chosen = rng.sample(shares, rng.randint(k, n))
        assert combine(chosen, threshold=k) == secret
        if k > 2:
            assert combine(rng.sample(shares, k - 1)) != secret or len(secret) < 4


def test_large_secret_and_many_shares() -> None:
    secret = random.Random(1).randbytes(4096)
    shares = split(secret, 200, 255)
    assert combine(shares[55:]) == secret
    assert combine(shares[:200]) == secret


# --------------------------------------------------------------------------- secrecy


def test_one_share_of_two_reveals_nothing_exhaustively() -> None:
    """Every (secret byte s, slope a) pair, in one split: byte 256*s + a of the secret is s
    and its slope is a. For each share index the 256 slopes map each s onto all 256 share
    values exactly once, so any observed share value is consistent with every secret byte
    with the same number (one) of polynomials."""
    secret = bytes(i >> 8 for i in range(65536))
    slopes = bytes(i & 0xFF for i in range(65536))
    shares = split(secret, 2, 255, random_bytes=fixed(slopes))
    for share in (shares[0], shares[1], shares[116], shares[254]):
        table: dict[int, Counter[int]] = {}
        for s in range(256):
            block = share.value[256 * s:256 * (s + 1)]
            assert sorted(block) == list(range(256)), (share.index, s)
            for value in block:
                table.setdefault(value, Counter())[s] += 1
        assert all(sorted(counter) == list(range(256)) and set(counter.values()) == {1}
                   for counter in table.values())


def test_two_shares_of_three_reveal_nothing_exhaustively() -> None:
    """Two shares of a 3-of-5 split of one byte: for EVERY candidate secret byte there is
    exactly one coefficient pair (a1, a2) — found by going through all 256 values of a1 and
    solving for a2 — under which split() produces exactly the two shares observed."""
    observed = split(b"\x42", 3, 5)
    (x1, y1), (x2, y2) = [(share.index, share.value[0]) for share in (observed[1], observed[3])]
    for candidate in range(256):
        solutions = []
        for a1 in range(256):
            # y1 = s + a1 x1 + a2 x1^2  =>  a2 = (y1 + s + a1 x1) / x1^2  (characteristic 2)
            a2 = shamir._mul(y1 ^ candidate ^ slow_mul(a1, x1), shamir._inverse(slow_mul(x1, x1)))
            if slow_eval([candidate, a1, a2], x2) == y2:
                solutions.append((a1, a2))
        assert len(solutions) == 1, candidate
        a1, a2 = solutions[0]
        again = split(bytes([candidate]), 3, 5, random_bytes=fixed(bytes([a1, a2])))
        assert (again[x1 - 1].value[0], again[x2 - 1].value[0]) == (y1, y2)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("threshold", "count", "message"), [
    (1, 3, "threshold of 1"),
    (0, 3, "threshold must be 1..3"),
    (4, 3, "threshold must be 1..3"),
    (2, 256, "1..255"),
    (2, 0, "1..255"),
    (2.0, 3, "must be an integer"),
    (True, 3, "must be an integer"),
])
def test_bad_parameters_are_refused(threshold: object, count: int, message: str) -> None:
    with pytest.raises(ShamirError, match=message):
        split(b"secret", threshold, count)  # type: ignore[arg-type]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ShamirError, match="empty"):
        split(b"", 2, 3)
    with pytest.raises(ShamirError, match="must be bytes"):
        split("text", 2, 3)  # type: ignore[arg-type]
    with pytest.raises(ShamirError, match="returned 1 bytes instead of 4"):
        split(b"ab", 3, 3, random_bytes=lambda n: b"x")
    assert issubclass(ShamirError, ValueError)


def test_bad_shares_are_refused() -> None:
    shares = split(b"secret", 2, 4)
    with pytest.raises(ShamirError, match="index 2 is given more than once"):
        combine([shares[0], shares[1], shares[1]])
    with pytest.raises(ShamirError, match="index 2 is given more than once"):
        combine([shares[1], Share(2, b"xxxxxx")])
    with pytest.raises(ShamirError, match="differ in length"):
        combine([shares[0], Share(2, shares[1].value[:-1])])
    with pytest.raises(ShamirError, match="at least 2"):
        combine(shares[:1])
    with pytest.raises(ShamirError, match="at least 2"):
        combine([])
    with pytest.raises(ShamirError, match="expected Share"):
        combine([(1, b"x"), (2, b"y")])  # type: ignore[list-item]
    with pytest.raises(ShamirError, match="outside 1..255"):
        Share(0, b"x")
    with pytest.raises(ShamirError, match="outside 1..255"):
        Share(256, b"x")
    with pytest.raises(ShamirError, match="empty"):
        Share(1, b"")


def test_share_repr_hides_the_value() -> None:
    share = split(b"top secret", 2, 2)[0]
    assert share.value.hex() not in repr(share) and repr(share) == "Share(index=1)"
    assert Share(3, bytearray(b"ab")).value == b"ab"

"""The expert draw: a verifiable, deterministic random draw of evaluation experts.

This module is the algorithm only: pure functions and small value types, no database and no
I/O, standard library only. ``docs/draw-algorithm.md`` is the normative description (byte
formats, a worked example and a stdlib-only reference implementation that the test suite runs
against this module), so that anyone can re-run a draw without bidhall.

In short:

* Before the draw the platform commits, in the ledger, to ``seed_commitment(seed)`` and to
  ``snapshot_commitment(snapshot)`` (the eligible pool).
* Each requested specialty gets its own order of its eligible experts: a Fisher–Yates shuffle
  of the sorted ids driven by HMAC-SHA256(seed, ...) in counter mode, computed lazily, so
  calling the first few experts of a pool of a million costs a few dozen HMACs.
* Experts are called along that order. An expert is called at most once per draw: anyone
  already called in this draw (for any specialty, whatever they answered) is passed over. A
  specialty stops being called once its quota of acceptances is reached; a decline or no answer
  is followed by the next expert of the same order ("replacements continue the sequence").
* An accepted expert may later leave the committee (a conflict found at the evaluation): the
  call's answer becomes ``recused``, which frees the slot like a decline, and the sequence
  continues with the next expert of the same order.
* After the draw the seed is revealed; ``verify_draw`` replays the logged calls and says
  whether every call was the one the seed gives, pointing at the first one that was not.

A draw for remote off-site evaluation spans a main venue and secondary venues, each with its
own eligible pool and quotas (``VenueSnapshot``, ``VenueDraw``, ``verify_venue_draw``). Each
(venue, specialty) pair has its own order, driven by the same seed with the venue in the HMAC
input; the snapshot lines carry the venue too. A draw without venues keeps the formats above
byte for byte, so draws made before venues existed still verify.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import combinations, islice
from typing import Any

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_LENGTH",
    "SEED_LENGTH",
    "Answer",
    "Draw",
    "DrawCall",
    "DrawError",
    "DrawLog",
    "DrawMismatch",
    "INVITATION_ANSWERS",
    "Snapshot",
    "SpecialtyOrder",
    "VenueDraw",
    "VenueSnapshot",
    "VerifyResult",
    "call_sequence",
    "check_quotas",
    "check_venue_quotas",
    "new_seed",
    "run_draw",
    "run_venue_draw",
    "seed_commitment",
    "seed_from_hex",
    "snapshot_bytes",
    "snapshot_commitment",
    "venue_call_sequence",
    "venue_snapshot_bytes",
    "verify_draw",
    "verify_venue_draw",
]

ALGORITHM = "bidhall-draw-v1"
SEED_LENGTH = 32
MAX_TOKEN_LENGTH = 128

SEED_DOMAIN = b"bidhall draw seed v1\x00"
SNAPSHOT_HEADER = b"bidhall draw snapshot v1\n"
ORDER_DOMAIN = b"bidhall draw order v1\x00"
# Draws across venues: the venue is part of every snapshot line and of every order's stream.
VENUE_SNAPSHOT_HEADER = b"bidhall draw venue snapshot v1\n"
VENUE_ORDER_DOMAIN = b"bidhall draw venue order v1\x00"

_TWO_256 = 1 << 256
# Above this many "scarce" specialties the combined (Hall) quota check only looks at pairs and
# at the whole scarce set instead of every subset (2**12 subsets is still instant).
_HALL_EXACT_LIMIT = 12


# --------------------------------------------------------------------------- errors


class DrawError(ValueError):
    """A draw cannot be made or replayed as asked.

    ``unknown``: requested specialties with no eligible expert in the snapshot.
    ``shortfalls``: ``{code: missing}`` for specialties whose quota exceeds their eligible count.
    ``combined``: ``[(codes, needed, available)]`` for sets of specialties that together need
    more distinct experts than they have (experts shared between specialties count once); in a
    venue draw each "code" there is ``"venue/code"``.
    ``venues``: in a venue draw, ``{venue: DrawError}`` for each venue that cannot be filled on
    its own pool (its ``unknown`` and ``shortfalls`` say why).
    When any of these is set, nothing was drawn.
    """

    def __init__(
        self,
        message: str,
        *,
        unknown: Sequence[str] = (),
        shortfalls: Mapping[str, int] | None = None,
        combined: Sequence[tuple[tuple[str, ...], int, int]] = (),
        venues: Mapping[str, DrawError] | None = None,
    ) -> None:
        super().__init__(message)
        self.unknown: tuple[str, ...] = tuple(unknown)
        self.shortfalls: dict[str, int] = dict(shortfalls or {})
        self.combined: tuple[tuple[tuple[str, ...], int, int], ...] = tuple(combined)
        self.venues: dict[str, DrawError] = dict(venues or {})


class DrawMismatch(DrawError):
    """A logged call is not the one the seed gives. ``expected`` is ``(code, expert_id)``; the
    expert id is ``None`` when no call at all was due for that specialty."""

    def __init__(self, message: str, *, expected: tuple[str, str | None]) -> None:
        super().__init__(message)
        self.expected = expected


# --------------------------------------------------------------------------- seed


def new_seed() -> bytes:
    """A fresh secret seed: 32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_LENGTH)


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise DrawError(f"the seed must be {SEED_LENGTH} bytes, not {type(seed).__name__}")
    seed = bytes(seed)
    if len(seed) != SEED_LENGTH:
        raise DrawError(f"the seed must be {SEED_LENGTH} bytes, got {len(seed)}")
    return seed


def seed_from_hex(text: str) -> bytes:
    """Parse a revealed seed written as 64 hex digits."""
    try:
        seed = bytes.fromhex(text.strip())
    except (ValueError, AttributeError) as error:
        raise DrawError(f"the seed is not hexadecimal: {text!r}") from error
    return _check_seed(seed)


def seed_commitment(seed: bytes) -> str:
    """Lower-case hex SHA-256 of ``b"bidhall draw seed v1\\x00" + seed``."""
    return hashlib.sha256(SEED_DOMAIN + _check_seed(seed)).hexdigest()


# --------------------------------------------------------------------------- snapshot


def _check_tokens(kind: str, tokens: Sequence[str], where: str = "") -> None:
    """Every token: 1..128 characters, each printable ASCII other than space (0x21-0x7E)."""
    _joined_tokens(kind, tokens, where)


# What a newline-joined list of valid tokens may contain: printable ASCII without space, and LF.
_LINE_BYTES = bytes(range(0x21, 0x7F)) + b"\n"


def _joined_tokens(kind: str, tokens: Sequence[str], where: str = "") -> str:
    """The tokens joined by newlines, once each is checked as ``_check_tokens`` does.

    The join is the one pass over the tokens at Python speed; the checks run on the joined
    text in C (a big pool's ids are checked in well under a millisecond), and the text serves
    the commitment and the stored form too. Only a bad token is looked for one by one, to name it.
    """
    if not tokens:
        return ""
    try:
        joined = "\n".join(tokens)
    except TypeError:
        bad = next(token for token in tokens if not isinstance(token, str))
        raise DrawError(f"{kind} must be text, got {type(bad).__name__} {bad!r}{where}") from None
    if _well_formed_lines(joined, len(tokens)) and _longest_line(joined, tokens) <= MAX_TOKEN_LENGTH:
        return joined
    for token in tokens:
        if not 1 <= len(token) <= MAX_TOKEN_LENGTH:
            raise DrawError(f"{kind} {token!r}{where} must be 1 to {MAX_TOKEN_LENGTH} characters")
        if not all("\x21" <= char <= "\x7e" for char in token):
            raise DrawError(
                f"{kind} {token!r}{where} may only use printable ASCII without spaces (0x21-0x7E)"
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _longest_line(joined: str, tokens: Sequence[str]) -> int:
    """The length of the longest token, for a ``joined`` text that passed ``_well_formed_lines``.
    When every token has the same length (a pool's ids usually do) one slice of the joined text
    proves it: its ``count - 1`` newlines are exactly one every ``width`` characters."""
    count = len(tokens)
    width, rest = divmod(len(joined) + 1, count)
    if not rest and joined[width - 1::width].count("\n") == count - 1:
        return width - 1
    return max(map(len, tokens))


def _well_formed_lines(joined: str, count: int) -> bool:
    """``joined`` is ``count`` non-empty lines of printable ASCII without space (lengths aside)."""
    return (
        joined.isascii()
        and joined.count("\n") == count - 1  # no token holds a newline of its own
        and not joined.encode("ascii").translate(None, _LINE_BYTES)
        and joined != ""
        and not joined.startswith("\n")
        and not joined.endswith("\n")
        and "\n\n" not in joined
    )


def _strictly_increasing(items: list[Any]) -> bool:
    try:
        return all(map(operator.lt, items, islice(items, 1, None)))
    except TypeError:  # not all text: the checks that follow say which
        return False


class Snapshot:
    """The eligible pool of one draw, in canonical form.

    For each specialty code (sorted), the sorted tuple of the ids of the experts eligible for it
    in this draw. Sorting is by Unicode code point, which for the allowed characters (printable
    ASCII) is byte order. Specialties with no eligible expert are dropped, so the structure (and
    its bytes) does not depend on the order or shape of the input, only on the set of
    ``(code, expert id)`` pairs. An expert may be eligible for several specialties.
    """

    __slots__ = ("_commitment", "_lines", "_pool")

    def __init__(self, pool: Mapping[str, Iterable[str]]) -> None:
        if not isinstance(pool, Mapping):
            raise DrawError(f"a snapshot is a mapping of specialty code to expert ids, not {type(pool).__name__}")
        codes = list(pool)
        _check_tokens("specialty code", codes)
        canonical: dict[str, tuple[str, ...]] = {}
        lines: dict[str, str] = {}
        for code in sorted(codes):
            ids = pool[code]
            if isinstance(ids, (str, bytes)):
                raise DrawError(f"the experts of specialty {code!r} must be a collection of ids, not one string")
            ids = list(ids)
            if not ids:
                continue
            # Pools usually come sorted (the eligibility query's order): one pass proves they are
            # sorted with each id once, and neither sort nor duplicate scan is needed.
            ordered = _strictly_increasing(ids)
            if not ordered:
                try:
                    ids.sort()
                except TypeError:
                    pass  # mixed types: _joined_tokens names the culprit
            lines[code] = _joined_tokens("expert id", ids, f" (specialty {code!r})")
            if not ordered and any(map(operator.eq, ids, islice(ids, 1, None))):
                duplicate = next(a for a, b in zip(ids, islice(ids, 1, None)) if a == b)
                raise DrawError(f"expert id {duplicate!r} is listed twice for specialty {code!r}")
            canonical[code] = tuple(ids)
        self._pool = canonical
        # Each code's sorted ids joined by newlines: checked once, then reused by the commitment
        # and by ``as_lines`` (the compact stored form) instead of walking the ids again.
        self._lines = lines
        self._commitment: str | None = None

    @classmethod
    def from_experts(cls, experts: Mapping[str, Iterable[str]]) -> Snapshot:
        """Build from ``{expert_id: specialty codes the expert is eligible for in this draw}``."""
        pool: dict[str, list[str]] = {}
        for expert_id, codes in experts.items():
            if isinstance(codes, (str, bytes)):
                raise DrawError(f"the specialties of expert {expert_id!r} must be a collection of codes, not one string")
            if not isinstance(codes, (set, frozenset)):
                codes = dict.fromkeys(codes)  # drop repeated codes, keep it cheap
            for code in codes:
                members = pool.get(code)
                if members is None:
                    members = pool[code] = []
                members.append(expert_id)
        return cls(pool)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._pool)

    def experts(self, code: str) -> tuple[str, ...]:
        """The sorted eligible ids for ``code`` (empty if none)."""
        return self._pool.get(code, ())

    def eligible_count(self, code: str) -> int:
        return len(self._pool.get(code, ()))

    def as_dict(self) -> dict[str, list[str]]:
        return {code: list(ids) for code, ids in self._pool.items()}

    def as_lines(self) -> dict[str, str]:
        """``{code: its sorted ids joined by newlines}``: the same content as ``as_dict`` in a
        compact form (an id never holds a newline), quick to store and to read back."""
        return dict(self._lines)

    @property
    def commitment(self) -> str:
        if self._commitment is None:
            self._commitment = _sha256_hex(SNAPSHOT_HEADER, _snapshot_chunks(self))
        return self._commitment

    def __len__(self) -> int:
        """Number of (specialty, expert) eligibility pairs."""
        return sum(map(len, self._pool.values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self._pool == other._pool

    def __hash__(self) -> int:
        return hash(self.commitment)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{code}: {len(ids)}" for code, ids in self._pool.items())
        return f"Snapshot({{{sizes}}})"


SnapshotLike = Snapshot | Mapping[str, Iterable[str]]


def _sha256_hex(header: bytes, chunks: Iterable[bytes]) -> str:
    """SHA-256 of ``header`` followed by ``chunks``, in hex (a snapshot commitment)."""
    digest = hashlib.sha256(header)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _as_snapshot(snapshot: SnapshotLike) -> Snapshot:
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)


def _prefixed_lines(prefix: str, lines: str) -> bytes:
    """``prefix + line + LF`` for each line of ``lines`` (newline-joined, checked ASCII)."""
    encoded = prefix.encode("ascii")
    return encoded + lines.encode("ascii").replace(b"\n", b"\n" + encoded) + b"\n"


def _snapshot_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    # One line "code TAB id LF" per eligibility pair, codes sorted, ids sorted within a code.
    for code, lines in snapshot._lines.items():
        yield _prefixed_lines(code + "\t", lines)


def snapshot_bytes(snapshot: SnapshotLike) -> bytes:
    """``b"bidhall draw snapshot v1\\n"`` then one ``code TAB id LF`` line per eligibility pair,
    sorted by code then id (ASCII)."""
    return SNAPSHOT_HEADER + b"".join(_snapshot_chunks(_as_snapshot(snapshot)))


def snapshot_commitment(snapshot: SnapshotLike) -> str:
    """Lower-case hex SHA-256 of ``snapshot_bytes(snapshot)``."""
    return _as_snapshot(snapshot).commitment


class VenueSnapshot:
    """The eligible pool of a draw across venues: for each venue key (sorted), the ``Snapshot``
    of the experts eligible there.

    A venue key is a token like a specialty code (the platform uses ``V1`` for the main venue,
    ``V2``... for the secondary ones, never a venue's name). An expert may be eligible in
    several venues (overlapping regions) and for several specialties; the draw still calls
    them at most once. Venues with nobody eligible are dropped, as empty specialties are.
    """

    __slots__ = ("_commitment", "_venues")

    def __init__(self, venues: Mapping[str, SnapshotLike]) -> None:
        if isinstance(venues, VenueSnapshot):
            venues = venues._venues
        if not isinstance(venues, Mapping):
            raise DrawError(f"a venue snapshot is a mapping of venue to its snapshot, not {type(venues).__name__}")
        keys = list(venues)
        _check_tokens("venue", keys)
        canonical: dict[str, Snapshot] = {}
        for key in sorted(keys):
            try:
                part = _as_snapshot(venues[key])
            except DrawError as error:
                raise DrawError(f"venue {key!r}: {error}") from None
            if len(part):
                canonical[key] = part
        self._venues = canonical
        self._commitment: str | None = None

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(self._venues)

    def venue(self, key: str) -> Snapshot:
        """The pool of one venue (empty if nobody is eligible there)."""
        return self._venues.get(key) or Snapshot({})

    def experts(self, venue: str, code: str) -> tuple[str, ...]:
        return self.venue(venue).experts(code)

    def eligible_count(self, venue: str, code: str) -> int:
        return self.venue(venue).eligible_count(code)

    def as_dict(self) -> dict[str, dict[str, list[str]]]:
        return {key: part.as_dict() for key, part in self._venues.items()}

    def as_lines(self) -> dict[str, dict[str, str]]:
        """``{venue: {code: its sorted ids joined by newlines}}`` (see ``Snapshot.as_lines``)."""
        return {key: part.as_lines() for key, part in self._venues.items()}

    @property
    def commitment(self) -> str:
        if self._commitment is None:
            self._commitment = _sha256_hex(VENUE_SNAPSHOT_HEADER, _venue_snapshot_chunks(self))
        return self._commitment

    def __len__(self) -> int:
        """Number of (venue, specialty, expert) eligibility triples."""
        return sum(map(len, self._venues.values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VenueSnapshot) and self._venues == other._venues

    def __hash__(self) -> int:
        return hash(self.commitment)

    def __repr__(self) -> str:
        return f"VenueSnapshot({{{', '.join(f'{key}: {part!r}' for key, part in self._venues.items())}}})"


VenueSnapshotLike = VenueSnapshot | Mapping[str, SnapshotLike]


def _as_venue_snapshot(snapshot: VenueSnapshotLike) -> VenueSnapshot:
    return snapshot if isinstance(snapshot, VenueSnapshot) else VenueSnapshot(snapshot)


def _venue_snapshot_chunks(snapshot: VenueSnapshot) -> Iterator[bytes]:
    # One line "venue TAB code TAB id LF" per triple: venues sorted, then codes, then ids.
    for venue, part in snapshot._venues.items():
        for code, lines in part._lines.items():
            yield _prefixed_lines(f"{venue}\t{code}\t", lines)


def venue_snapshot_bytes(snapshot: VenueSnapshotLike) -> bytes:
    """``b"bidhall draw venue snapshot v1\\n"`` then one ``venue TAB code TAB id LF`` line per
    eligibility triple, sorted by venue, code, then id (ASCII)."""
    return VENUE_SNAPSHOT_HEADER + b"".join(_venue_snapshot_chunks(_as_venue_snapshot(snapshot)))


# --------------------------------------------------------------------------- per-specialty order


class SpecialtyOrder(Iterator[str]):
    """The order in which the eligible experts of one specialty are to be called.

    A Fisher–Yates shuffle of the sorted ids, done lazily (only the positions asked for are
    computed; swaps are kept in a dict). Position ``i`` of ``n`` swaps ``a[i]`` with
    ``a[i + u]`` where ``u`` is uniform in ``[0, n - i)``, drawn from the block stream
    ``HMAC-SHA256(seed, ORDER_DOMAIN + snapshot commitment (64 hex) + 0x00 + code + 0x00 +
    counter (8 bytes, big-endian))`` read as a 256-bit big-endian integer, with rejection of
    values ``>= 2**256 - 2**256 % (n - i)``. Counters start at 0 and every block is used once.

    In a venue draw (``venue`` given, ``snapshot`` a ``VenueSnapshot``) the ids are those
    eligible for ``code`` at that venue and the stream is ``HMAC-SHA256(seed,
    VENUE_ORDER_DOMAIN + snapshot commitment + 0x00 + venue + 0x00 + code + 0x00 + counter)``.
    """

    __slots__ = ("_counter", "_ids", "_moved", "_position", "_prefix", "_seed", "code", "venue")

    def __init__(self, seed: bytes, snapshot: SnapshotLike | VenueSnapshot, code: str,
                 venue: str | None = None) -> None:
        self._seed = _check_seed(seed)
        _check_tokens("specialty code", [code])
        self.code, self.venue = code, venue
        if venue is None:
            single = _as_snapshot(snapshot)  # type: ignore[arg-type]
            self._ids = single.experts(code)
            self._prefix = (
                ORDER_DOMAIN + single.commitment.encode("ascii") + b"\x00" + code.encode("ascii") + b"\x00"
            )
        else:
            _check_tokens("venue", [venue])
            venues = _as_venue_snapshot(snapshot)  # type: ignore[arg-type]
            self._ids = venues.experts(venue, code)
            self._prefix = (VENUE_ORDER_DOMAIN + venues.commitment.encode("ascii") + b"\x00"
                            + venue.encode("ascii") + b"\x00" + code.encode("ascii") + b"\x00")
        self._counter = 0
        self._position = 0
        self._moved: dict[int, str] = {}

    @property
    def position(self) -> int:
        """How many experts of this order have been produced so far."""
        return self._position

    def __len__(self) -> int:
        return len(self._ids)

    def _block(self) -> int:
        message = self._prefix + self._counter.to_bytes(8, "big")
        self._counter += 1
        return int.from_bytes(hmac.digest(self._seed, message, "sha256"), "big")

    def _uniform(self, bound: int) -> int:
        limit = _TWO_256 - _TWO_256 % bound
        value = self._block()
        while value >= limit:  # probability below bound / 2**256: never in practice
            value = self._block()
        return value % bound

    def __iter__(self) -> SpecialtyOrder:
        return self

    def __next__(self) -> str:
        i = self._position
        n = len(self._ids)
        if i >= n:
            raise StopIteration
        j = i + self._uniform(n - i)
        moved = self._moved
        at_i = moved.pop(i, None)
        if at_i is None:
            at_i = self._ids[i]
        if j == i:
            chosen = at_i
        else:
            chosen = moved.get(j)
            if chosen is None:
                chosen = self._ids[j]
            moved[j] = at_i
        self._position = i + 1
        return chosen


# --------------------------------------------------------------------------- quotas


def check_quotas(snapshot: SnapshotLike, quotas: Mapping[str, int]) -> dict[str, int]:
    """Validate ``quotas`` against the snapshot before anything is drawn.

    Returns the quotas as a plain dict sorted by code. Raises ``DrawError`` when a quota is not
    a positive integer, when a requested specialty has no eligible expert (``unknown``), when a
    quota exceeds the eligible count of its specialty (``shortfalls``, one entry per
    specialty), or when a set of specialties needs more distinct experts than they have
    between them (``combined``; an expert eligible for several specialties serves only one).
    """
    snapshot = _as_snapshot(snapshot)
    if not isinstance(quotas, Mapping) or not quotas:
        raise DrawError("a draw needs at least one specialty quota, e.g. {'A04': 3}")
    _check_tokens("specialty code", list(quotas))
    normalized: dict[str, int] = {}
    for code in sorted(quotas):
        quota = quotas[code]
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
            raise DrawError(f"the quota for specialty {code!r} must be a positive integer, got {quota!r}")
        normalized[code] = quota
    unknown = [code for code in normalized if snapshot.eligible_count(code) == 0]
    shortfalls = {
        code: quota - snapshot.eligible_count(code)
        for code, quota in normalized.items()
        if code not in unknown and quota > snapshot.eligible_count(code)
    }
    if unknown or shortfalls:
        parts = []
        if unknown:
            parts.append("no eligible expert for " + ", ".join(
                f"{code} (quota {normalized[code]})" for code in unknown))
        if shortfalls:
            parts.append("not enough eligible experts for " + ", ".join(
                f"{code} (quota {normalized[code]}, eligible {snapshot.eligible_count(code)}, "
                f"short by {missing})" for code, missing in shortfalls.items()))
        raise DrawError("; ".join(parts) + "; nothing was drawn",
                        unknown=unknown, shortfalls=shortfalls)
    combined = _combined_shortfalls(snapshot, normalized)
    if combined:
        described = ", ".join(
            f"{'+'.join(codes)} need {needed} distinct experts but have {available}"
            for codes, needed, available in combined)
        raise DrawError(f"experts shared between specialties are too few: {described}; nothing was drawn",
                        combined=combined)
    return normalized


def check_venue_quotas(snapshot: VenueSnapshotLike,
                       quotas: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """``check_quotas`` for a draw across venues: ``quotas`` is ``{venue: {code: quota}}``.

    Each venue is checked on its own pool; every venue that cannot be filled is reported
    (``DrawError.venues``), not only the first. Then Hall's condition is checked across venues:
    an expert eligible in two venues (overlapping regions) serves in only one of them, so every
    set of (venue, specialty) streams needs as many distinct experts as its quotas add up to
    (``DrawError.combined``, streams written ``venue/code``). Returns the quotas sorted by venue
    then code.
    """
    snapshot = _as_venue_snapshot(snapshot)
    if not isinstance(quotas, Mapping) or not quotas:
        raise DrawError("a venue draw needs at least one venue with quotas, e.g. {'V1': {'A04': 3}}")
    _check_tokens("venue", list(quotas))
    normalized: dict[str, dict[str, int]] = {}
    problems: dict[str, DrawError] = {}
    for venue in sorted(quotas):
        try:
            normalized[venue] = check_quotas(snapshot.venue(venue), quotas[venue])
        except DrawError as error:
            problems[venue] = error
    if problems:
        described = "; ".join(f"venue {venue}: {str(error).removesuffix('; nothing was drawn')}"
                              for venue, error in problems.items())
        raise DrawError(f"{described}; nothing was drawn", venues=problems)
    streams = _Streams(snapshot, normalized)
    combined = _combined_shortfalls(streams, streams.quotas)
    if combined:
        described = ", ".join(f"{' + '.join(keys)} need {needed} distinct experts but have {available}"
                              for keys, needed, available in combined)
        raise DrawError(f"experts eligible in several venues or specialties are too few: {described}; "
                        "nothing was drawn", combined=combined)
    return normalized


class _Streams:
    """The (venue, specialty) streams of a venue draw seen as the specialties of one pool,
    named ``venue/code``, for the combined (Hall) check."""

    def __init__(self, snapshot: VenueSnapshot, quotas: Mapping[str, Mapping[str, int]]) -> None:
        self._experts = {f"{venue}/{code}": snapshot.experts(venue, code)
                         for venue, venue_quotas in quotas.items() for code in venue_quotas}
        self.quotas = {f"{venue}/{code}": quota
                       for venue, venue_quotas in quotas.items() for code, quota in venue_quotas.items()}

    def experts(self, key: str) -> tuple[str, ...]:
        return self._experts.get(key, ())

    def eligible_count(self, key: str) -> int:
        return len(self.experts(key))


def _combined_shortfalls(
    snapshot: Snapshot | _Streams, quotas: Mapping[str, int]
) -> list[tuple[tuple[str, ...], int, int]]:
    """Hall's condition: every set T of requested specialties must have at least sum(quota, T)
    distinct eligible experts. A set containing a specialty with at least the total quota of the
    draw cannot fail, so only the "scarce" specialties (fewer eligible than the total quota,
    hence small pools) are examined."""
    total = sum(quotas.values())
    scarce = [code for code in quotas if snapshot.eligible_count(code) < total]
    if len(scarce) < 2:
        return []
    masks: dict[str, int] = {}
    for bit, code in enumerate(scarce):
        for expert_id in snapshot.experts(code):
            masks[expert_id] = masks.get(expert_id, 0) | (1 << bit)
    signature_counts = Counter(masks.values())
    if len(scarce) <= _HALL_EXACT_LIMIT:
        subsets = [
            subset for size in range(2, len(scarce) + 1)
            for subset in combinations(range(len(scarce)), size)
        ]
    else:
        subsets = list(combinations(range(len(scarce)), 2)) + [tuple(range(len(scarce)))]
    failing: list[tuple[int, tuple[str, ...], int, int]] = []
    for subset in subsets:
        mask = sum(1 << bit for bit in subset)
        if any(m & ~mask == 0 and m != mask for m, *_ in failing):
            continue  # a smaller failing set already explains it
        needed = sum(quotas[scarce[bit]] for bit in subset)
        available = sum(count for signature, count in signature_counts.items() if signature & mask)
        if available < needed:
            failing.append((mask, tuple(scarce[bit] for bit in subset), needed, available))
    return [(codes, needed, available) for _, codes, needed, available in failing]


# --------------------------------------------------------------------------- orders, the draw


def call_sequence(
    seed: bytes, snapshot: SnapshotLike, quotas: Mapping[str, int], *, limit: int | None = None
) -> dict[str, list[str]]:
    """For each requested specialty (sorted), its order: the first ``limit`` positions (all by
    default) of ``SpecialtyOrder``.

    These are the raw per-specialty orders. An expert eligible for several specialties can
    appear in several of them; the draw calls each expert at most once and passes over, at call
    time, anyone already called in the draw (see ``Draw``). Computing a whole order costs one
    HMAC per eligible expert, so ask for a ``limit`` on large pools.
    """
    seed = _check_seed(seed)
    snapshot = _as_snapshot(snapshot)
    normalized = check_quotas(snapshot, quotas)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DrawError(f"limit must be a non-negative integer, got {limit!r}")
    return {
        code: list(islice(SpecialtyOrder(seed, snapshot, code), limit))
        for code in normalized
    }


def venue_call_sequence(
    seed: bytes, snapshot: VenueSnapshotLike, quotas: Mapping[str, Mapping[str, int]], *,
    limit: int | None = None,
) -> dict[str, dict[str, list[str]]]:
    """``call_sequence`` for a venue draw: ``{venue: {code: order}}``, the raw order of each
    (venue, specialty) stream. An expert eligible in several venues can appear in several
    orders; the draw calls them once (see ``VenueDraw``)."""
    seed = _check_seed(seed)
    snapshot = _as_venue_snapshot(snapshot)
    normalized = check_venue_quotas(snapshot, quotas)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DrawError(f"limit must be a non-negative integer, got {limit!r}")
    return {
        venue: {code: list(islice(SpecialtyOrder(seed, snapshot, code, venue), limit)) for code in codes}
        for venue, codes in normalized.items()
    }


class Answer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    # An accepted call later withdrawn (the expert recused at the evaluation). Never an answer
    # to an invitation: only ``Draw.recuse`` turns an acceptance into it.
    RECUSED = "recused"


# What an expert may answer an invitation; ``recused`` only ever follows ``accepted``.
INVITATION_ANSWERS = frozenset({Answer.ACCEPTED, Answer.DECLINED, Answer.NO_ANSWER})


@dataclass(frozen=True)
class DrawCall:
    """One call of the draw: the specialty, the expert called, and their answer (``None`` while
    the answer is awaited); in a venue draw, the venue the expert is called to."""

    specialty: str
    expert_id: str
    answer: Answer | None = None
    venue: str | None = None

    def as_record(self) -> dict[str, str | None]:
        record = {"specialty": self.specialty, "expert_id": self.expert_id,
                  "answer": None if self.answer is None else self.answer.value}
        return record if self.venue is None else {"venue": self.venue, **record}


CallLike = DrawCall | Sequence[object] | Mapping[str, object]


def _as_call(item: CallLike) -> DrawCall:
    """A call from a ``DrawCall``, a mapping, ``(specialty, expert_id[, answer])`` or, in a venue
    draw, ``(venue, specialty, expert_id, answer)``."""
    if isinstance(item, DrawCall):
        return item
    venue: object = None
    if isinstance(item, Mapping):
        specialty, expert_id, answer = item.get("specialty"), item.get("expert_id"), item.get("answer")
        venue = item.get("venue")
    else:
        values = tuple(item)
        if len(values) == 2:
            specialty, expert_id, answer = *values, None
        elif len(values) == 3:
            specialty, expert_id, answer = values
        elif len(values) == 4:
            venue, specialty, expert_id, answer = values
        else:
            raise DrawError(f"a call is (specialty, expert_id, answer) or (venue, specialty, expert_id, answer), "
                            f"got {item!r}")
    if not isinstance(specialty, str) or not isinstance(expert_id, str):
        raise DrawError(f"a call names a specialty and an expert id as text, got {item!r}")
    if venue is not None and not isinstance(venue, str):
        raise DrawError(f"a call names its venue as text, got {item!r}")
    if answer is not None:
        try:
            answer = Answer(answer)
        except ValueError:
            raise DrawError(f"unknown answer {answer!r}; expected one of "
                            + ", ".join(a.value for a in Answer)) from None
    return DrawCall(specialty, expert_id, answer, venue)


@dataclass(frozen=True)
class DrawLog:
    """The calls of one draw, in the order they were made."""

    calls: tuple[DrawCall, ...] = ()

    @classmethod
    def from_calls(cls, calls: Iterable[CallLike]) -> DrawLog:
        return cls(tuple(_as_call(call) for call in calls))

    def __iter__(self) -> Iterator[DrawCall]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    def __getitem__(self, index: int) -> DrawCall:
        return self.calls[index]

    def accepted(self) -> dict[str, list[str]]:
        """The experts who accepted, per specialty, in call order (in a venue draw, see
        ``accepted_by_venue``)."""
        result: dict[str, list[str]] = {}
        for call in self.calls:
            if call.answer is Answer.ACCEPTED:
                result.setdefault(call.specialty, []).append(call.expert_id)
        return result

    def accepted_by_venue(self) -> dict[str | None, dict[str, list[str]]]:
        """The experts who accepted, per venue and then specialty, in call order."""
        result: dict[str | None, dict[str, list[str]]] = {}
        for call in self.calls:
            if call.answer is Answer.ACCEPTED:
                result.setdefault(call.venue, {}).setdefault(call.specialty, []).append(call.expert_id)
        return result

    def as_records(self) -> list[dict[str, str | None]]:
        return [call.as_record() for call in self.calls]


class Draw:
    """The state of one draw while it is run or replayed.

    * ``peek(code)``: who is due next for ``code`` (the next expert of its order not yet called
      in this draw), ``None`` when the order is exhausted.
    * ``call(code)``: call that expert now (answer awaited); refused once the accepted plus
      awaited calls of ``code`` reach its quota.
    * ``answer(expert_id, answer)``: record the answer of an awaited call.
    * ``recuse(expert_id)``: an accepted expert leaves; the slot reopens and the next call of
      that specialty is the next expert of the same order.
    * ``record(code, expert_id, answer)``: replay one logged call, raising ``DrawMismatch`` if
      it is not the call the seed gives. The answer is the call's final one: ``recused``
      replays as accepted then recused.

    The state after a log is a function of the calls in order and their final answers only,
    not of when the answers arrived: the experts called depend on nobody's answer, and the
    counts of accepted and awaited calls are counts of final answers. So replaying a stored
    log gives exactly the state the live draw had.

    The methods taking a code also take ``venue=``, which must be ``None`` here; ``VenueDraw``
    has the same methods with a venue, so callers can drive both alike. A ``VenueDraw`` is made
    of one ``Draw`` per venue sharing who has been called and the log.
    """

    def __init__(self, seed: bytes, snapshot: SnapshotLike, quotas: Mapping[str, int]) -> None:
        seed = _check_seed(seed)
        snapshot = _as_snapshot(snapshot)
        self._start(seed, snapshot, check_quotas(snapshot, quotas), venue=None, orders_from=snapshot,
                    called={}, calls=[])

    @classmethod
    def _venue_part(cls, seed: bytes, snapshot: VenueSnapshot, venue: str, quotas: dict[str, int],
                    called: dict[str, int], calls: list[DrawCall]) -> Draw:
        part = cls.__new__(cls)
        part._start(seed, snapshot.venue(venue), quotas, venue=venue, orders_from=snapshot, called=called,
                    calls=calls)
        return part

    def _start(self, seed: bytes, snapshot: Snapshot, quotas: dict[str, int], *, venue: str | None,
               orders_from: Snapshot | VenueSnapshot, called: dict[str, int], calls: list[DrawCall]) -> None:
        self.seed, self.snapshot, self.quotas, self.venue = seed, snapshot, quotas, venue
        self._orders = {code: SpecialtyOrder(seed, orders_from, code, venue) for code in quotas}
        self._heads: dict[str, str | None] = {}
        self._called = called  # expert id -> index of the call in the log (shared across venues)
        self._calls = calls
        self._accepted = dict.fromkeys(quotas, 0)
        self._pending = dict.fromkeys(quotas, 0)

    @property
    def seed_commitment(self) -> str:
        return seed_commitment(self.seed)

    @property
    def snapshot_commitment(self) -> str:
        return self.snapshot.commitment

    @property
    def log(self) -> DrawLog:
        return DrawLog(tuple(self._calls))

    @property
    def streams(self) -> tuple[tuple[str | None, str], ...]:
        """The (venue, specialty) pairs called along their own order: here ``(None, code)``."""
        return tuple((self.venue, code) for code in self.quotas)

    def _where(self, code: str) -> str:
        return code if self.venue is None else f"{code} at venue {self.venue}"

    def _requested(self, code: str, venue: str | None = None) -> None:
        if venue != self.venue:
            raise DrawMismatch(f"venue {venue!r} is not part of this draw" if self.venue is None
                               else f"a call of venue {self.venue} was placed for venue {venue!r}",
                               expected=(code, None))
        if code not in self.quotas:
            raise DrawMismatch(f"specialty {code!r} is not part of this draw"
                               + ("" if self.venue is None else f" at venue {self.venue}"), expected=(code, None))

    def peek(self, code: str, venue: str | None = None) -> str | None:
        self._requested(code, venue)
        head = self._heads.get(code)
        if head is not None and head not in self._called:
            return head
        for expert_id in self._orders[code]:
            if expert_id not in self._called:
                self._heads[code] = expert_id
                return expert_id
        self._heads[code] = None
        return None

    def accepted_count(self, code: str, venue: str | None = None) -> int:
        self._requested(code, venue)
        return self._accepted[code]

    def open_slots(self, code: str, venue: str | None = None) -> int:
        """Quota minus acceptances minus awaited answers: how many calls may be placed now."""
        self._requested(code, venue)
        return self.quotas[code] - self._accepted[code] - self._pending[code]

    def exhausted(self, code: str, venue: str | None = None) -> bool:
        """True when ``code`` still needs experts and nobody is left to call."""
        self._requested(code, venue)
        return self._accepted[code] + self._pending[code] < self.quotas[code] and self.peek(code, venue) is None

    @property
    def complete(self) -> bool:
        return all(self._accepted[code] == quota for code, quota in self.quotas.items())

    def remaining(self) -> dict[str, int]:
        """Acceptances still needed, per specialty."""
        return {code: quota - self._accepted[code] for code, quota in self.quotas.items()}

    def still_needed(self, code: str, venue: str | None = None) -> int:
        self._requested(code, venue)
        return self.quotas[code] - self._accepted[code]

    def accepted(self) -> dict[str, list[str]]:
        return {code: [c.expert_id for c in self._calls
                       if c.specialty == code and c.venue == self.venue and c.answer is Answer.ACCEPTED]
                for code in self.quotas}

    def _expect(self, code: str, venue: str | None) -> str:
        self._requested(code, venue)
        if self.open_slots(code, venue) <= 0:
            raise DrawMismatch(
                f"specialty {self._where(code)} already has {self._accepted[code]} accepted and "
                f"{self._pending[code]} awaited of its quota {self.quotas[code]}: no call is due",
                expected=(code, None))
        expected = self.peek(code, venue)
        if expected is None:
            raise DrawMismatch(f"specialty {self._where(code)} is exhausted: every eligible expert has been called",
                               expected=(code, None))
        return expected

    def call(self, code: str, venue: str | None = None) -> str:
        expert_id = self._expect(code, venue)
        self._append(DrawCall(code, expert_id, None, self.venue))
        return expert_id

    def _own_call(self, expert_id: str) -> tuple[int, DrawCall] | None:
        index = self._called.get(expert_id)
        if index is None or self._calls[index].venue != self.venue:
            return None
        return index, self._calls[index]

    def answer(self, expert_id: str, answer: Answer | str) -> None:
        found = self._own_call(expert_id)
        if found is None or found[1].answer is not None:
            raise DrawError(f"no awaited call to expert {expert_id!r}")
        index, call = found
        answer = Answer(answer)
        if answer is Answer.RECUSED:
            raise DrawError(f"expert {expert_id!r} has not accepted: only an accepted call can be recused")
        self._pending[call.specialty] -= 1
        if answer is Answer.ACCEPTED:
            self._accepted[call.specialty] += 1
        self._calls[index] = replace(call, answer=answer)

    def record(self, code: str, expert_id: str, answer: Answer | str | None, venue: str | None = None) -> None:
        expected = self._expect(code, venue)
        if expert_id != expected:
            if expert_id in self._called:
                why = f"{expert_id} was already called in this draw (call {self._called[expert_id]})"
            elif expert_id not in self.snapshot.experts(code):
                why = f"{expert_id} is not eligible for {self._where(code)} in the snapshot"
            else:
                why = f"{expert_id} is not next in the order"
            raise DrawMismatch(f"for {self._where(code)} the seed gives {expected}; {why}", expected=(code, expected))
        self._append(DrawCall(code, expert_id, None, self.venue))
        if answer is None:
            return
        answer = Answer(answer)
        if answer is Answer.RECUSED:
            self.answer(expert_id, Answer.ACCEPTED)
            self.recuse(expert_id)
        else:
            self.answer(expert_id, answer)

    def recuse(self, expert_id: str) -> None:
        """An accepted expert leaves: their slot reopens (they are never called again)."""
        found = self._own_call(expert_id)
        if found is None or found[1].answer is not Answer.ACCEPTED:
            raise DrawError(f"expert {expert_id!r} has no accepted call in this draw to recuse")
        index, call = found
        self._accepted[call.specialty] -= 1
        self._calls[index] = replace(call, answer=Answer.RECUSED)

    def _append(self, call: DrawCall) -> None:
        self._called[call.expert_id] = len(self._calls)
        self._calls.append(call)
        self._pending[call.specialty] += 1


class VenueDraw:
    """A draw across a main venue and secondary venues: one ``Draw`` per venue, with its own
    pool, quotas and orders (``SpecialtyOrder`` with the venue), sharing one log and one set of
    experts called. An expert eligible in several venues is called at most once, by whichever
    (venue, specialty) reaches them first; the others pass over them, as across specialties.
    Replacements (declines, recusals) continue the order of the venue's own specialty.

    Same methods as ``Draw``, each taking the venue: ``peek(code, venue=...)``,
    ``call(code, venue=...)``, ``record(code, expert_id, answer, venue=...)``...; ``remaining()``
    and ``accepted()`` are keyed by venue, then specialty.
    """

    def __init__(self, seed: bytes, snapshot: VenueSnapshotLike,
                 quotas: Mapping[str, Mapping[str, int]]) -> None:
        self.seed = _check_seed(seed)
        self.snapshot = _as_venue_snapshot(snapshot)
        self.quotas = check_venue_quotas(self.snapshot, quotas)
        self._called: dict[str, int] = {}
        self._calls: list[DrawCall] = []
        self._parts = {venue: Draw._venue_part(self.seed, self.snapshot, venue, venue_quotas, self._called,
                                               self._calls)
                       for venue, venue_quotas in self.quotas.items()}

    @property
    def seed_commitment(self) -> str:
        return seed_commitment(self.seed)

    @property
    def snapshot_commitment(self) -> str:
        return self.snapshot.commitment

    @property
    def log(self) -> DrawLog:
        return DrawLog(tuple(self._calls))

    @property
    def streams(self) -> tuple[tuple[str | None, str], ...]:
        return tuple((venue, code) for venue, codes in self.quotas.items() for code in codes)

    def _part(self, code: str, venue: str | None) -> Draw:
        part = self._parts.get(venue) if venue is not None else None
        if part is None:
            raise DrawMismatch(f"venue {venue!r} is not part of this draw", expected=(code, None))
        return part

    def peek(self, code: str, venue: str | None = None) -> str | None:
        return self._part(code, venue).peek(code, venue)

    def accepted_count(self, code: str, venue: str | None = None) -> int:
        return self._part(code, venue).accepted_count(code, venue)

    def open_slots(self, code: str, venue: str | None = None) -> int:
        return self._part(code, venue).open_slots(code, venue)

    def exhausted(self, code: str, venue: str | None = None) -> bool:
        return self._part(code, venue).exhausted(code, venue)

    def still_needed(self, code: str, venue: str | None = None) -> int:
        return self._part(code, venue).still_needed(code, venue)

    @property
    def complete(self) -> bool:
        """Every venue's quotas are met."""
        return all(part.complete for part in self._parts.values())

    def remaining(self) -> dict[str, dict[str, int]]:
        return {venue: part.remaining() for venue, part in self._parts.items()}

    def accepted(self) -> dict[str, dict[str, list[str]]]:
        return {venue: part.accepted() for venue, part in self._parts.items()}

    def call(self, code: str, venue: str | None = None) -> str:
        return self._part(code, venue).call(code, venue)

    def record(self, code: str, expert_id: str, answer: Answer | str | None, venue: str | None = None) -> None:
        self._part(code, venue).record(code, expert_id, answer, venue)

    def _part_of(self, expert_id: str) -> Draw:
        index = self._called.get(expert_id)
        if index is None:
            raise DrawError(f"expert {expert_id!r} was not called in this draw")
        return self._parts[self._calls[index].venue]  # type: ignore[index]

    def answer(self, expert_id: str, answer: Answer | str) -> None:
        self._part_of(expert_id).answer(expert_id, answer)

    def recuse(self, expert_id: str) -> None:
        self._part_of(expert_id).recuse(expert_id)


def run_draw(
    seed: bytes,
    snapshot: SnapshotLike,
    quotas: Mapping[str, int],
    respond: Callable[[str, str], Answer | str],
) -> DrawLog:
    """Run a whole draw one call at a time, asking ``respond(code, expert_id)`` for each answer.

    Specialties are filled one after the other, scarcest first (fewest eligible experts beyond
    the quota, then code), which avoids most cross-specialty shortages; a specialty whose order
    runs out is left short. Any other interleaving that follows the rules is equally valid.
    """
    draw = Draw(seed, snapshot, quotas)
    by_slack = sorted(draw.quotas, key=lambda c: (draw.snapshot.eligible_count(c) - draw.quotas[c], c))
    for code in by_slack:
        while draw.open_slots(code) > 0 and draw.peek(code) is not None:
            expert_id = draw.call(code)
            draw.answer(expert_id, respond(code, expert_id))
    return draw.log


def run_venue_draw(
    seed: bytes,
    snapshot: VenueSnapshotLike,
    quotas: Mapping[str, Mapping[str, int]],
    respond: Callable[[str, str, str], Answer | str],
) -> DrawLog:
    """``run_draw`` across venues, asking ``respond(venue, code, expert_id)`` for each answer.

    The (venue, specialty) streams are filled one after the other, scarcest first (eligible
    count minus quota, then venue, then code)."""
    draw = VenueDraw(seed, snapshot, quotas)
    by_slack = sorted(draw.streams, key=lambda s: (
        draw.snapshot.eligible_count(s[0], s[1]) - draw.quotas[s[0]][s[1]], s[0], s[1]))  # type: ignore[arg-type,index]
    for venue, code in by_slack:
        while draw.open_slots(code, venue) > 0 and draw.peek(code, venue) is not None:
            expert_id = draw.call(code, venue)
            draw.answer(expert_id, respond(venue, code, expert_id))  # type: ignore[arg-type]
    return draw.log


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifyResult:
    """``ok``: the commitments match and every call is the one the seed gives.
    ``first_mismatch``: index in the log of the first wrong call (``None`` if the problem is not
    a call, e.g. a commitment). ``expected``: ``(code, expert id or None)`` due at that index.
    ``complete``: every quota was reached. ``accepted``: accepted experts per specialty (in a
    venue draw, per venue and then per specialty)."""

    ok: bool
    first_mismatch: int | None
    expected: tuple[str, str | None] | None
    detail: str
    complete: bool = False
    accepted: dict[str, Any] = field(default_factory=dict)


def verify_draw(
    seed: bytes,
    snapshot: SnapshotLike,
    quotas: Mapping[str, int],
    calls: DrawLog | Iterable[CallLike],
    *,
    seed_commitment_hex: str,
    snapshot_commitment_hex: str,
) -> VerifyResult:
    """Replay a draw from its revealed seed and logged calls.

    ``calls`` are in the order they were made, each ``(specialty, expert_id, answer)`` (a
    ``DrawCall``, a tuple, or a mapping with those keys; answer ``None`` = still awaited; the
    answer is the call's final one, ``recused`` for an acceptance later withdrawn).
    Checks that the seed and the snapshot match their commitments, then that each call is the
    next expert of its specialty's order not already called in the draw, and that no call was
    placed once a specialty's accepted plus awaited calls had reached its quota.
    """
    return _verify(seed, snapshot, quotas, calls, seed_commitment_hex, snapshot_commitment_hex, venues=False)


def verify_venue_draw(
    seed: bytes,
    snapshot: VenueSnapshotLike,
    quotas: Mapping[str, Mapping[str, int]],
    calls: DrawLog | Iterable[CallLike],
    *,
    seed_commitment_hex: str,
    snapshot_commitment_hex: str,
) -> VerifyResult:
    """``verify_draw`` for a draw across venues: ``snapshot`` is ``{venue: {code: ids}}``,
    ``quotas`` ``{venue: {code: quota}}`` and each call ``(venue, specialty, expert_id,
    answer)`` (or a ``DrawCall`` / mapping with a venue). Each call must be the next expert of
    its venue's order for its specialty not already called anywhere in the draw."""
    return _verify(seed, snapshot, quotas, calls, seed_commitment_hex, snapshot_commitment_hex, venues=True)


def _verify(seed: object, snapshot: Any, quotas: Any, calls: DrawLog | Iterable[CallLike],
            seed_commitment_hex: str, snapshot_commitment_hex: str, *, venues: bool) -> VerifyResult:
    try:
        seed = _check_seed(seed)
    except DrawError as error:
        return VerifyResult(False, None, None, str(error))
    if seed_commitment(seed) != str(seed_commitment_hex).strip().lower():
        return VerifyResult(False, None, None, "the seed does not match the seed commitment")
    try:
        snapshot = _as_venue_snapshot(snapshot) if venues else _as_snapshot(snapshot)
    except DrawError as error:
        return VerifyResult(False, None, None, f"malformed snapshot: {error}")
    if snapshot.commitment != str(snapshot_commitment_hex).strip().lower():
        return VerifyResult(False, None, None, "the snapshot does not match the snapshot commitment")
    try:
        draw: Draw | VenueDraw = VenueDraw(seed, snapshot, quotas) if venues else Draw(seed, snapshot, quotas)
    except DrawError as error:
        return VerifyResult(False, None, None, str(error))
    for index, item in enumerate(calls):
        try:
            call = _as_call(item)
            draw.record(call.specialty, call.expert_id, call.answer, venue=call.venue)
        except DrawMismatch as error:
            return VerifyResult(False, index, error.expected, f"call {index}: {error}",
                                accepted=draw.accepted())
        except DrawError as error:
            return VerifyResult(False, index, None, f"call {index}: {error}", accepted=draw.accepted())
    short = [(venue, code) for venue, code in draw.streams if draw.still_needed(code, venue)]
    if not short:
        detail = "every call is the one the seed gives; every quota is filled"
    else:
        states = ", ".join(
            f"{code if venue is None else f'{venue} {code}'} "
            f"{draw.accepted_count(code, venue)}/{draw.accepted_count(code, venue) + draw.still_needed(code, venue)}"
            + (" (exhausted)" if draw.exhausted(code, venue) else "")
            for venue, code in short)
        detail = f"every call is the one the seed gives; quotas not filled: {states}"
    return VerifyResult(True, None, None, detail, complete=not short, accepted=draw.accepted())

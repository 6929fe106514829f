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
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import combinations, islice

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
    "VerifyResult",
    "call_sequence",
    "check_quotas",
    "new_seed",
    "run_draw",
    "seed_commitment",
    "seed_from_hex",
    "snapshot_bytes",
    "snapshot_commitment",
    "verify_draw",
]

ALGORITHM = "bidhall-draw-v1"
SEED_LENGTH = 32
MAX_TOKEN_LENGTH = 128

SEED_DOMAIN = b"bidhall draw seed v1\x00"
SNAPSHOT_HEADER = b"bidhall draw snapshot v1\n"
ORDER_DOMAIN = b"bidhall draw order v1\x00"

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
    more distinct experts than they have (experts shared between specialties count once).
    When any of these is set, nothing was drawn.
    """

    def __init__(
        self,
        message: str,
        *,
        unknown: Sequence[str] = (),
        shortfalls: Mapping[str, int] | None = None,
        combined: Sequence[tuple[tuple[str, ...], int, int]] = (),
    ) -> None:
        super().__init__(message)
        self.unknown: tuple[str, ...] = tuple(unknown)
        self.shortfalls: dict[str, int] = dict(shortfalls or {})
        self.combined: tuple[tuple[tuple[str, ...], int, int], ...] = tuple(combined)


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


_TOKEN = rf"[\x21-\x7e]{{1,{MAX_TOKEN_LENGTH}}}"
_TOKEN_LINES = re.compile(f"{_TOKEN}(?:\n{_TOKEN})*")


def _check_tokens(kind: str, tokens: Sequence[str], where: str = "") -> None:
    """Every token: 1..128 characters, each printable ASCII other than space (0x21-0x7E)."""
    if not tokens:
        return
    try:
        joined = "\n".join(tokens)
    except TypeError:
        bad = next(token for token in tokens if not isinstance(token, str))
        raise DrawError(f"{kind} must be text, got {type(bad).__name__} {bad!r}{where}") from None
    if joined.count("\n") == len(tokens) - 1 and _TOKEN_LINES.fullmatch(joined):
        return
    for token in tokens:
        if not 1 <= len(token) <= MAX_TOKEN_LENGTH:
            raise DrawError(f"{kind} {token!r}{where} must be 1 to {MAX_TOKEN_LENGTH} characters")
        if not all("\x21" <= char <= "\x7e" for char in token):
            raise DrawError(
                f"{kind} {token!r}{where} may only use printable ASCII without spaces (0x21-0x7E)"
            )
    raise AssertionError("unreachable")  # pragma: no cover


class Snapshot:
    """The eligible pool of one draw, in canonical form.

    For each specialty code (sorted), the sorted tuple of the ids of the experts eligible for it
    in this draw. Sorting is by Unicode code point, which for the allowed characters (printable
    ASCII) is byte order. Specialties with no eligible expert are dropped, so the structure (and
    its bytes) does not depend on the order or shape of the input, only on the set of
    ``(code, expert id)`` pairs. An expert may be eligible for several specialties.
    """

    __slots__ = ("_commitment", "_pool")

    def __init__(self, pool: Mapping[str, Iterable[str]]) -> None:
        if not isinstance(pool, Mapping):
            raise DrawError(f"a snapshot is a mapping of specialty code to expert ids, not {type(pool).__name__}")
        codes = list(pool)
        _check_tokens("specialty code", codes)
        canonical: dict[str, tuple[str, ...]] = {}
        for code in sorted(codes):
            ids = pool[code]
            if isinstance(ids, (str, bytes)):
                raise DrawError(f"the experts of specialty {code!r} must be a collection of ids, not one string")
            ids = list(ids)
            if not ids:
                continue
            try:
                ids.sort()
            except TypeError:
                pass  # mixed types: _check_tokens names the culprit
            _check_tokens("expert id", ids, f" (specialty {code!r})")
            if any(map(str.__eq__, ids, islice(ids, 1, None))):
                duplicate = next(a for a, b in zip(ids, islice(ids, 1, None)) if a == b)
                raise DrawError(f"expert id {duplicate!r} is listed twice for specialty {code!r}")
            canonical[code] = tuple(ids)
        self._pool = canonical
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

    @property
    def commitment(self) -> str:
        if self._commitment is None:
            digest = hashlib.sha256(SNAPSHOT_HEADER)
            for chunk in _snapshot_chunks(self):
                digest.update(chunk)
            self._commitment = digest.hexdigest()
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


def _as_snapshot(snapshot: SnapshotLike) -> Snapshot:
    return snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)


def _snapshot_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    # One line "code TAB id LF" per eligibility pair, codes sorted, ids sorted within a code.
    for code, ids in snapshot._pool.items():
        prefix = code + "\t"
        yield (prefix + ("\n" + prefix).join(ids) + "\n").encode("ascii")


def snapshot_bytes(snapshot: SnapshotLike) -> bytes:
    """``b"bidhall draw snapshot v1\\n"`` then one ``code TAB id LF`` line per eligibility pair,
    sorted by code then id (ASCII)."""
    return SNAPSHOT_HEADER + b"".join(_snapshot_chunks(_as_snapshot(snapshot)))


def snapshot_commitment(snapshot: SnapshotLike) -> str:
    """Lower-case hex SHA-256 of ``snapshot_bytes(snapshot)``."""
    return _as_snapshot(snapshot).commitment


# --------------------------------------------------------------------------- per-specialty order


class SpecialtyOrder(Iterator[str]):
    """The order in which the eligible experts of one specialty are to be called.

    A Fisher–Yates shuffle of the sorted ids, done lazily (only the positions asked for are
    computed; swaps are kept in a dict). Position ``i`` of ``n`` swaps ``a[i]`` with
    ``a[i + u]`` where ``u`` is uniform in ``[0, n - i)``, drawn from the block stream
    ``HMAC-SHA256(seed, ORDER_DOMAIN + snapshot commitment (64 hex) + 0x00 + code + 0x00 +
    counter (8 bytes, big-endian))`` read as a 256-bit big-endian integer, with rejection of
    values ``>= 2**256 - 2**256 % (n - i)``. Counters start at 0 and every block is used once.
    """

    __slots__ = ("_counter", "_ids", "_moved", "_position", "_prefix", "_seed", "code")

    def __init__(self, seed: bytes, snapshot: SnapshotLike, code: str) -> None:
        snapshot = _as_snapshot(snapshot)
        self._seed = _check_seed(seed)
        _check_tokens("specialty code", [code])
        self.code = code
        self._ids = snapshot.experts(code)
        self._prefix = (
            ORDER_DOMAIN + snapshot.commitment.encode("ascii") + b"\x00" + code.encode("ascii") + b"\x00"
        )
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


def _combined_shortfalls(
    snapshot: Snapshot, quotas: Mapping[str, int]
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
    the answer is awaited)."""

    specialty: str
    expert_id: str
    answer: Answer | None = None

    def as_record(self) -> dict[str, str | None]:
        return {"specialty": self.specialty, "expert_id": self.expert_id,
                "answer": None if self.answer is None else self.answer.value}


CallLike = DrawCall | Sequence[object] | Mapping[str, object]


def _as_call(item: CallLike) -> DrawCall:
    if isinstance(item, DrawCall):
        return item
    if isinstance(item, Mapping):
        specialty, expert_id, answer = item.get("specialty"), item.get("expert_id"), item.get("answer")
    else:
        values = tuple(item)
        if len(values) == 2:
            specialty, expert_id, answer = *values, None
        elif len(values) == 3:
            specialty, expert_id, answer = values
        else:
            raise DrawError(f"a call is (specialty, expert_id, answer), got {item!r}")
    if not isinstance(specialty, str) or not isinstance(expert_id, str):
        raise DrawError(f"a call names a specialty and an expert id as text, got {item!r}")
    if answer is not None:
        try:
            answer = Answer(answer)
        except ValueError:
            raise DrawError(f"unknown answer {answer!r}; expected one of "
                            + ", ".join(a.value for a in Answer)) from None
    return DrawCall(specialty, expert_id, answer)


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
        """The experts who accepted, per specialty, in call order."""
        result: dict[str, list[str]] = {}
        for call in self.calls:
            if call.answer is Answer.ACCEPTED:
                result.setdefault(call.specialty, []).append(call.expert_id)
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
    """

    def __init__(self, seed: bytes, snapshot: SnapshotLike, quotas: Mapping[str, int]) -> None:
        self.seed = _check_seed(seed)
        self.snapshot = _as_snapshot(snapshot)
        self.quotas = check_quotas(self.snapshot, quotas)
        self._orders = {code: SpecialtyOrder(self.seed, self.snapshot, code) for code in self.quotas}
        self._heads: dict[str, str | None] = {}
        self._called: dict[str, int] = {}  # expert id -> index of the call in the log
        self._calls: list[DrawCall] = []
        self._accepted = dict.fromkeys(self.quotas, 0)
        self._pending = dict.fromkeys(self.quotas, 0)

    @property
    def seed_commitment(self) -> str:
        return seed_commitment(self.seed)

    @property
    def snapshot_commitment(self) -> str:
        return self.snapshot.commitment

    @property
    def log(self) -> DrawLog:
        return DrawLog(tuple(self._calls))

    def _requested(self, code: str) -> None:
        if code not in self.quotas:
            raise DrawMismatch(f"specialty {code!r} is not part of this draw", expected=(code, None))

    def peek(self, code: str) -> str | None:
        self._requested(code)
        head = self._heads.get(code)
        if head is not None and head not in self._called:
            return head
        for expert_id in self._orders[code]:
            if expert_id not in self._called:
                self._heads[code] = expert_id
                return expert_id
        self._heads[code] = None
        return None

    def accepted_count(self, code: str) -> int:
        self._requested(code)
        return self._accepted[code]

    def open_slots(self, code: str) -> int:
        """Quota minus acceptances minus awaited answers: how many calls may be placed now."""
        self._requested(code)
        return self.quotas[code] - self._accepted[code] - self._pending[code]

    def exhausted(self, code: str) -> bool:
        """True when ``code`` still needs experts and nobody is left to call."""
        return self._accepted[code] + self._pending[code] < self.quotas[code] and self.peek(code) is None

    @property
    def complete(self) -> bool:
        return all(self._accepted[code] == quota for code, quota in self.quotas.items())

    def remaining(self) -> dict[str, int]:
        """Acceptances still needed, per specialty."""
        return {code: quota - self._accepted[code] for code, quota in self.quotas.items()}

    def accepted(self) -> dict[str, list[str]]:
        return {code: [c.expert_id for c in self._calls
                       if c.specialty == code and c.answer is Answer.ACCEPTED]
                for code in self.quotas}

    def _expect(self, code: str) -> str:
        self._requested(code)
        if self.open_slots(code) <= 0:
            raise DrawMismatch(
                f"specialty {code} already has {self._accepted[code]} accepted and "
                f"{self._pending[code]} awaited of its quota {self.quotas[code]}: no call is due",
                expected=(code, None))
        expected = self.peek(code)
        if expected is None:
            raise DrawMismatch(f"specialty {code} is exhausted: every eligible expert has been called",
                               expected=(code, None))
        return expected

    def call(self, code: str) -> str:
        expert_id = self._expect(code)
        self._append(DrawCall(code, expert_id, None))
        return expert_id

    def answer(self, expert_id: str, answer: Answer | str) -> None:
        index = self._called.get(expert_id)
        if index is None or self._calls[index].answer is not None:
            raise DrawError(f"no awaited call to expert {expert_id!r}")
        call = self._calls[index]
        answer = Answer(answer)
        if answer is Answer.RECUSED:
            raise DrawError(f"expert {expert_id!r} has not accepted: only an accepted call can be recused")
        self._pending[call.specialty] -= 1
        if answer is Answer.ACCEPTED:
            self._accepted[call.specialty] += 1
        self._calls[index] = DrawCall(call.specialty, expert_id, answer)

    def record(self, code: str, expert_id: str, answer: Answer | str | None) -> None:
        expected = self._expect(code)
        if expert_id != expected:
            if expert_id in self._called:
                why = f"{expert_id} was already called in this draw (call {self._called[expert_id]})"
            elif expert_id not in self.snapshot.experts(code):
                why = f"{expert_id} is not eligible for {code} in the snapshot"
            else:
                why = f"{expert_id} is not next in the order"
            raise DrawMismatch(f"for {code} the seed gives {expected}; {why}", expected=(code, expected))
        self._append(DrawCall(code, expert_id, None))
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
        index = self._called.get(expert_id)
        if index is None or self._calls[index].answer is not Answer.ACCEPTED:
            raise DrawError(f"expert {expert_id!r} has no accepted call in this draw to recuse")
        call = self._calls[index]
        self._accepted[call.specialty] -= 1
        self._calls[index] = DrawCall(call.specialty, expert_id, Answer.RECUSED)

    def _append(self, call: DrawCall) -> None:
        self._called[call.expert_id] = len(self._calls)
        self._calls.append(call)
        self._pending[call.specialty] += 1


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


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifyResult:
    """``ok``: the commitments match and every call is the one the seed gives.
    ``first_mismatch``: index in the log of the first wrong call (``None`` if the problem is not
    a call, e.g. a commitment). ``expected``: ``(code, expert id or None)`` due at that index.
    ``complete``: every quota was reached. ``accepted``: accepted experts per specialty."""

    ok: bool
    first_mismatch: int | None
    expected: tuple[str, str | None] | None
    detail: str
    complete: bool = False
    accepted: dict[str, list[str]] = field(default_factory=dict)


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
    try:
        seed = _check_seed(seed)
    except DrawError as error:
        return VerifyResult(False, None, None, str(error))
    if seed_commitment(seed) != str(seed_commitment_hex).strip().lower():
        return VerifyResult(False, None, None, "the seed does not match the seed commitment")
    try:
        snapshot = _as_snapshot(snapshot)
    except DrawError as error:
        return VerifyResult(False, None, None, f"malformed snapshot: {error}")
    if snapshot.commitment != str(snapshot_commitment_hex).strip().lower():
        return VerifyResult(False, None, None, "the snapshot does not match the snapshot commitment")
    try:
        draw = Draw(seed, snapshot, quotas)
    except DrawError as error:
        return VerifyResult(False, None, None, str(error))
    for index, item in enumerate(calls):
        try:
            call = _as_call(item)
            draw.record(call.specialty, call.expert_id, call.answer)
        except DrawMismatch as error:
            return VerifyResult(False, index, error.expected, f"call {index}: {error}",
                                accepted=draw.accepted())
        except DrawError as error:
            return VerifyResult(False, index, None, f"call {index}: {error}", accepted=draw.accepted())
    remaining = {code: missing for code, missing in draw.remaining().items() if missing}
    if not remaining:
        detail = "every call is the one the seed gives; every quota is filled"
    else:
        states = ", ".join(
            f"{code} {draw.accepted_count(code)}/{draw.quotas[code]}"
            + (" (exhausted)" if draw.exhausted(code) else "")
            for code in remaining)
        detail = f"every call is the one the seed gives; quotas not filled: {states}"
    return VerifyResult(True, None, None, detail, complete=not remaining, accepted=draw.accepted())

"""RFC 6962 / RFC 9162 Merkle tree math for the supervision ledger.

Pure functions only: no database, no I/O. The storage layer keeps leaf hashes and,
lazily, the hashes of *complete aligned subtrees*; this module says which of those it
needs (``NodeRef``), and turns what it gets back into roots and proofs.

A complete aligned subtree at ``level`` k and ``index`` i covers the leaves
``[i * 2**k, (i + 1) * 2**k)``. Level 0 is the leaf hashes themselves. Such a node never
changes once the tree has grown past its last leaf, which is what makes storing it safe.

Every tree hash that a root or proof contains is ``MTH(D[start:end])`` for a range whose
start is aligned, so it splits into O(log n) aligned pieces: a proof in a tree of a
million leaves reads about 40 nodes, never the leaves themselves.

Two ways to use it:

* with a synchronous ``SubtreeSource`` (``tree_root``, ``inclusion_proof``, ...), or
* "plan then fetch": ``plan_inclusion(...).refs`` lists the nodes needed, the caller
  fetches them in one (possibly async) query, and ``plan.assemble(nodes)`` builds the
  proof. Plans are cheap and several can share a single fetch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

HASH_SIZE: Final = 32
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()

NodeMap = Mapping[tuple[int, int], bytes | bytearray | memoryview]
"""Fetched node hashes keyed by ``(level, index)``. Any 2-tuple works as a key (``NodeRef``
is one); buffers are accepted because some drivers return binary columns that way."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the prefix keeps a leaf from posing as an interior node."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the interior-node hash of RFC 6962."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


# --------------------------------------------------------------------------- node names


class NodeRef(NamedTuple):
    """A complete aligned subtree: leaves ``[index * 2**level, (index + 1) * 2**level)``."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the ledger's word

    @property
    def start(self) -> int:
        """First leaf covered."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf covered."""
        return (self.index + 1) << self.level


class Span(NamedTuple):
    """A half-open leaf range ``[start, end)``; its hash is ``MTH(D[start:end])``."""

    start: int
    end: int


class CompletedNode(NamedTuple):
    """A node that became complete, reported by ``TreeBuilder`` so it can be stored."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index, as in NodeRef
    hash: bytes

    @property
    def ref(self) -> NodeRef:
        """The node's name, for use as a storage key."""
        return NodeRef(self.level, self.index)


class MissingNodeError(LookupError):
    """A node a computation needs was not supplied (not stored yet, or out of range)."""


class SubtreeSource(Protocol):
    """Where complete aligned subtree hashes come from (a table, a cache, memory).

    ``get_many`` answers a whole plan in one round trip. It may omit refs it does not
    have; the caller raises ``MissingNodeError`` for those. It is only ever asked for
    nodes that are complete in the tree size being proven.
    """

    def get_many(self, refs: Sequence[NodeRef]) -> NodeMap:
        """Hashes of the requested nodes, keyed by ``(level, index)``."""
        ...


# --------------------------------------------------------------------------- small helpers


def _check_count(name: str, value: int) -> None:
    """Reject non-integers and negatives early: they would silently bend the bit math."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def _check_hash(value: bytes) -> None:
    """Every hash in this tree is a 32-byte SHA-256 digest; anything else is a bug upstream."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"expected a {HASH_SIZE}-byte hash, got {value!r:.80}")


def _split_point(size: int) -> int:
    """RFC 6962's k: the largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _perfect_ref(start: int, end: int) -> NodeRef | None:
    """The aligned node that is exactly ``[start, end)``, if there is one."""
    size = end - start
    if size <= 0 or size & (size - 1) or start % size:
        return None
    level = size.bit_length() - 1
    return NodeRef(level, start >> level)


# --------------------------------------------------------------------------- ranges


def span_refs(start: int, end: int) -> list[NodeRef]:
    """The aligned nodes that ``MTH(D[start:end])`` is built from, left to right.

    Follows the RFC 6962 split until each piece is an aligned power of two. For an
    aligned start (every span a root or proof uses) that is at most log2(n) + 1 nodes;
    an arbitrary start may need up to n leaves, because that tree really has that shape.
    """
    _check_count("start", start)
    _check_count("end", end)
    if end < start:
        raise ValueError(f"empty range [{start}, {end}) is reversed")
    refs: list[NodeRef] = []
    _collect_refs(start, end, refs)
    return refs


def _collect_refs(start: int, end: int, out: list[NodeRef]) -> None:
    """Recursive worker of ``span_refs``: depth is log2 of the range size."""
    if start == end:
        return
    ref = _perfect_ref(start, end)
    if ref is not None:
        out.append(ref)
        return
    mid = start + _split_point(end - start)
    _collect_refs(start, mid, out)
    _collect_refs(mid, end, out)


def span_hash(nodes: NodeMap, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` from already fetched nodes (see ``span_refs``)."""
    if start == end:
        return EMPTY_ROOT
    ref = _perfect_ref(start, end)
    if ref is not None:
        return _lookup(nodes, ref)
    mid = start + _split_point(end - start)
    return node_hash(span_hash(nodes, start, mid), span_hash(nodes, mid, end))


def _lookup(nodes: NodeMap, ref: NodeRef) -> bytes:
    """One node from a fetched batch; a missing or malformed one is an error, not a guess."""
    value: object = nodes.get(ref)
    if value is None:
        raise MissingNodeError(f"node level={ref.level} index={ref.index} was not supplied")
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)  # some DB drivers hand back binary columns as buffers
    if not isinstance(value, bytes):
        raise TypeError(f"node level={ref.level} index={ref.index} is {type(value).__name__}, not bytes")
    _check_hash(value)
    return value


def peak_refs(size: int) -> list[NodeRef]:
    """The perfect subtrees a tree of ``size`` leaves decomposes into, largest first.

    These are exactly what ``TreeBuilder.resume`` needs to continue building after a
    restart, and what ``tree_root`` folds.
    """
    return span_refs(0, size)


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The spans whose hashes, in order, form a root or proof.

    ``refs`` is what to fetch; ``assemble`` turns the fetched nodes into hashes. A plan
    is pure data, so an async caller can await its own query in between.
    """

    spans: tuple[Span, ...]

    @property
    def refs(self) -> list[NodeRef]:
        """Distinct nodes to fetch, in first-use order."""
        seen: dict[NodeRef, None] = {}
        for span in self.spans:
            seen.update(dict.fromkeys(span_refs(span.start, span.end)))
        return list(seen)

    def assemble(self, nodes: NodeMap) -> list[bytes]:
        """One hash per span, in plan order; raises ``MissingNodeError`` on a gap."""
        return [span_hash(nodes, span.start, span.end) for span in self.spans]


def plan_subtree(start: int, end: int) -> ProofPlan:
    """Plan for ``MTH(D[start:end])``: a single span (empty for an empty range)."""
    span_refs(start, end)  # validates the bounds
    return ProofPlan((Span(start, end),) if end > start else ())


def plan_root(size: int) -> ProofPlan:
    """Plan for the root of the tree of the first ``size`` leaves."""
    return plan_subtree(0, size)


def plan_inclusion(index: int, size: int) -> ProofPlan:
    """Plan for RFC 6962 PATH(index, D[size]), ordered leaf to root as RFC 9162 expects.

    Walks down from the root, choosing the half that holds ``index`` and recording the
    other half; the sibling recorded last is the one nearest the leaf.
    """
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    spans: list[Span] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split_point(hi - lo)
        if index < mid:
            spans.append(Span(mid, hi))
            hi = mid
        else:
            spans.append(Span(lo, mid))
            lo = mid
    spans.reverse()
    return ProofPlan(tuple(spans))


def plan_consistency(first: int, second: int) -> ProofPlan:
    """Plan for RFC 6962 PROOF(first, D[second]) (SUBPROOF with the ``b`` flag).

    ``b`` stays true while the old tree is a whole left subtree, whose hash the verifier
    already has as ``first_root``; once we step right it turns false and the subtree
    holding the old boundary must be sent. An empty plan when first is 0 or equal.
    """
    _check_count("first", first)
    _check_count("second", second)
    if first > second:
        raise ValueError(f"cannot prove size {first} is a prefix of size {second}")
    if first in (0, second):
        return ProofPlan(())
    spans: list[Span] = []
    lo, hi, whole_left = 0, second, True
    while first != hi:
        mid = lo + _split_point(hi - lo)
        if first <= mid:
            spans.append(Span(mid, hi))
            hi = mid
        else:
            spans.append(Span(lo, mid))
            lo, whole_left = mid, False
    if not whole_left:
        spans.append(Span(lo, hi))
    spans.reverse()
    return ProofPlan(tuple(spans))


def inclusion_proof_keys(index: int, size: int) -> list[NodeRef]:
    """Nodes to fetch for ``inclusion_proof(index, size)``: about 2·log2(size) at most."""
    return plan_inclusion(index, size).refs


def consistency_proof_keys(first: int, second: int) -> list[NodeRef]:
    """Nodes to fetch for ``consistency_proof(first, second)``."""
    return plan_consistency(first, second).refs


def root_keys(size: int) -> list[NodeRef]:
    """Nodes to fetch for ``tree_root(size)`` (the peaks)."""
    return peak_refs(size)


# --------------------------------------------------------------------------- with a source


def fetch(source: SubtreeSource, refs: Sequence[NodeRef]) -> NodeMap:
    """One ``get_many`` round trip; an empty request does not touch the source."""
    if not refs:
        return {}
    return source.get_many(list(refs))


def _run(source: SubtreeSource, plan: ProofPlan) -> list[bytes]:
    """Fetch everything a plan needs in one batch, then assemble it."""
    return plan.assemble(fetch(source, plan.refs))


def subtree_root(source: SubtreeSource, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` for any range; O(log n) lookups when ``start`` is aligned."""
    hashes = _run(source, plan_subtree(start, end))
    return hashes[0] if hashes else EMPTY_ROOT


def tree_root(source: SubtreeSource, size: int) -> bytes:
    """Root of the first ``size`` leaves; ``EMPTY_ROOT`` for the empty tree."""
    return subtree_root(source, 0, size)


def inclusion_proof(source: SubtreeSource, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]), leaf to root."""
    return _run(source, plan_inclusion(index, size))


def consistency_proof(source: SubtreeSource, first: int, second: int) -> list[bytes]:
    """RFC 6962 PROOF(first, D[second]); [] when first is 0 or equals second."""
    return _run(source, plan_consistency(first, second))


# --------------------------------------------------------------------------- in memory


class MemorySubtreeSource:
    """All leaf hashes in a list; interior nodes computed on demand and cached.

    For tests and small trees. Reading a node of level k the first time costs up to
    2**k hashes, then nothing.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._leaves: list[bytes] = []
        self._cache: dict[tuple[int, int], bytes] = {}
        for value in leaf_hashes:
            self.append(value)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._leaves)

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash; existing complete nodes stay valid, so the cache stays."""
        _check_hash(leaf)
        self._leaves.append(leaf)

    def get(self, level: int, index: int) -> bytes:
        """Hash of the complete aligned node; ``MissingNodeError`` if it is not complete."""
        if not self.has(level, index):
            raise MissingNodeError(f"node level={level} index={index} is not complete at size {self.size}")
        return self._node(level, index)

    def has(self, level: int, index: int) -> bool:
        """Whether the node exists and is complete in the current tree."""
        return level >= 0 and index >= 0 and (index + 1) << level <= self.size

    def get_many(self, refs: Sequence[NodeRef]) -> dict[tuple[int, int], bytes]:
        """Batch form for ``SubtreeSource``; nodes that are not complete are left out."""
        return {(r[0], r[1]): self._node(r[0], r[1]) for r in refs if self.has(r[0], r[1])}

    def _node(self, level: int, index: int) -> bytes:
        """Recursive, cached computation of a node known to be complete."""
        if level == 0:
            return self._leaves[index]
        key = (level, index)
        cached = self._cache.get(key)
        if cached is None:
            cached = node_hash(self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1))
            self._cache[key] = cached
        return cached


# --------------------------------------------------------------------------- incremental


class TreeBuilder:
    """Ingests leaf hashes in order, keeping only the right edge ("peaks"): O(log n) state.

    Each ``append`` reports the interior nodes (level >= 1) it completed, exactly once
    over the builder's life, so the storage layer can persist them as they appear.
    Level-0 nodes are the leaf hashes the caller passed in and are not repeated.
    """

    __slots__ = ("_peaks", "_root", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []
        self._root: bytes | None = EMPTY_ROOT

    @classmethod
    def resume(cls, size: int, peaks: Sequence[bytes]) -> TreeBuilder:
        """Continue a tree of ``size`` leaves from its peaks (hashes of ``peak_refs(size)``).

        Lets a restarted builder carry on from storage without re-reading any leaf.
        """
        _check_count("size", size)
        expected = size.bit_count()
        if len(peaks) != expected:
            raise ValueError(f"a tree of size {size} has {expected} peaks, got {len(peaks)}")
        for peak in peaks:
            _check_hash(peak)
        builder = cls()
        builder._size = size
        builder._peaks = list(peaks)
        builder._root = None if size else EMPTY_ROOT
        return builder

    @property
    def size(self) -> int:
        """Leaves ingested so far."""
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """Hashes of ``peak_refs(size)``, largest subtree first."""
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> list[CompletedNode]:
        """Add one leaf hash; returns the nodes of level >= 1 it completed, lowest first.

        The new leaf is a right child whenever its index is odd; then it merges with the
        peak to its left, and so on up, exactly as a binary counter carries.
        """
        _check_hash(leaf)
        completed: list[CompletedNode] = []
        current, index, level = leaf, self._size, 0
        while index & 1:
            current = node_hash(self._peaks.pop(), current)
            index, level = index >> 1, level + 1
            completed.append(CompletedNode(level, index, current))
        self._peaks.append(current)
        self._size += 1
        self._root = None
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[CompletedNode]:
        """``append`` each leaf hash in turn; all completed nodes, in completion order."""
        completed: list[CompletedNode] = []
        for value in leaf_hashes:
            completed.extend(self.append(value))
        return completed

    def root(self) -> bytes:
        """Root of all leaves so far: the peaks folded right to left, cached until the next append."""
        if self._root is None:
            current = self._peaks[-1]
            for peak in reversed(self._peaks[:-1]):
                current = node_hash(peak, current)
            self._root = current
        return self._root


# --------------------------------------------------------------------------- verification


def _is_count(value: object) -> bool:
    """A non-negative int that is not a bool: the only acceptable index or size."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    """A 32-byte ``bytes`` value."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of hashes, or None if it is not a sequence of 32-byte values."""
    if not isinstance(proof, (list, tuple)):
        return None
    items = list(proof)
    return items if all(_is_hash(item) for item in items) else None


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    """RFC 9162: "right-shift both fn and sn equally until either LSB(fn) is set or fn is 0"."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, step by step. False, never an exception, on bad input.

    The proof binds the leaf to ``root``; ``root`` is what binds ``size``, so a caller
    must take both from the same signed tree head.
    """
    path = _hash_list(proof)
    if path is None or not (_is_count(index) and _is_count(size)):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root)) or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, step by step. False, never an exception, on bad input.

    Edge cases the RFC leaves to the caller: equal sizes need an empty proof and equal
    roots; an empty first tree needs an empty proof and ``first_root == EMPTY_ROOT``.
    """
    path = _hash_list(proof)
    if path is None or not (_is_count(first) and _is_count(second)):
        return False
    if not (_is_hash(first_root) and _is_hash(second_root)) or first > second:
        return False
    if first == 0 and first_root != EMPTY_ROOT:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    return _verify_consistency_path(first, second, first_root, second_root, path)


def _verify_consistency_path(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """Steps 1-7 of RFC 9162 section 2.1.4.2 for 0 < first < second."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root

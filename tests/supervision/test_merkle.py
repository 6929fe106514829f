"""RFC 6962 / RFC 9162 Merkle math: known answers, exhaustive cross-checks, tampering.

Everything the module computes is compared with a second, deliberately naive
implementation written here straight from the RFC 6962 definitions (MTH, PATH, PROOF),
and every proof is checked by the module's verifiers and by an independent verifier in
the transparency-dev "inner / border" style.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from functools import cache

import pytest

from supervision.ledger.merkle import (
    EMPTY_ROOT,
    CompletedNode,
    MemorySubtreeSource,
    MissingNodeError,
    NodeRef,
    TreeBuilder,
    consistency_proof,
    consistency_proof_keys,
    inclusion_proof,
    inclusion_proof_keys,
    leaf_hash,
    node_hash,
    peak_refs,
    plan_consistency,
    plan_inclusion,
    plan_root,
    root_keys,
    span_refs,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 70

# --------------------------------------------------------------------------- reference vectors

# RFC 6962 test data as used by certificate-transparency and transparency-dev/merkle.
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (index, size, path) and (first, second, proof), from the same test suites.
RFC_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
RFC_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
]  # fmt: skip

# --------------------------------------------------------------------------- naive RFC 6962


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 defines it, on raw hashes."""
    n = len(leaves)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _sha(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


LEAVES = [_sha(b"\x00" + b"leaf %d" % i) for i in range(MAX_SIZE)]


@cache
def mth(lo: int, hi: int) -> bytes:
    """MTH(LEAVES[lo:hi]) with the same recursion, memoised so exhaustive tests stay fast."""
    n = hi - lo
    if n == 0:
        return _sha(b"")
    if n == 1:
        return LEAVES[lo]
    k = 1
    while k * 2 < n:
        k *= 2
    return _sha(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi))


def naive_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) from RFC 6962 section 2.1.1, m relative to lo."""
    n = hi - lo
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return naive_path(m, lo, lo + k) + [mth(lo + k, hi)]
    return naive_path(m - k, lo + k, hi) + [mth(lo, lo + k)]


def naive_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) from RFC 6962 section 2.1.2."""
    n = hi - lo
    if m == n:
        return [] if b else [mth(lo, hi)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return naive_subproof(m, lo, lo + k, b) + [mth(lo + k, hi)]
    return naive_subproof(m - k, lo + k, hi, False) + [mth(lo, lo + k)]


def naive_proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]); [] for m == 0 by this module's convention."""
    return [] if m == 0 else naive_subproof(m, 0, n, True)


# --------------------------------------------------------------------------- independent verifier


def _inner_border(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion path: ``inner`` levels below the point where the index's path
    leaves the right edge of the tree, then ``border`` left siblings along that edge."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, bin(index >> inner).count("1")


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def td_verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    inner, border = _inner_border(index, size)
    if len(proof) != inner + border:
        return False
    got = _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])
    return got == root


def td_verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    if size2 < size1:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    if not proof:
        return False
    inner, border = _inner_border(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, rest = (root1, list(proof)) if size1 == 1 << shift else (proof[0], list(proof[1:]))
    if len(rest) != inner + border:
        return False
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    return hash1 == root1 and hash2 == root2


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def source() -> MemorySubtreeSource:
    return MemorySubtreeSource(LEAVES)


class CountingSource:
    """Wraps a source and records each batch it is asked for."""

    def __init__(self, inner: MemorySubtreeSource) -> None:
        self.inner = inner
        self.calls: list[list[NodeRef]] = []

    def get_many(self, refs: Sequence[NodeRef]) -> dict[tuple[int, int], bytes]:
        self.calls.append(list(refs))
        return self.inner.get_many(refs)


class SizedSource:
    """A view of ``inner`` that only has the nodes complete at ``size``, like the DB."""

    def __init__(self, inner: MemorySubtreeSource, size: int) -> None:
        self.inner, self.size = inner, size

    def get_many(self, refs: Sequence[NodeRef]) -> dict[tuple[int, int], bytes]:
        return self.inner.get_many([r for r in refs if (r.index + 1) << r.level <= self.size])


def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --------------------------------------------------------------------------- known answers


def test_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    a, b = _sha(b"a"), _sha(b"b")
    assert node_hash(a, b) == _sha(b"\x01" + a + b)
    assert node_hash(a, b) != node_hash(b, a)


def test_rfc6962_roots() -> None:
    leaves = [leaf_hash(d) for d in RFC_LEAVES]
    src = MemorySubtreeSource(leaves)
    builder = TreeBuilder()
    assert tree_root(src, 0) == EMPTY_ROOT == builder.root()
    for size, expected in enumerate(RFC_ROOTS, start=1):
        builder.append(leaves[size - 1])
        assert naive_mth(leaves[:size]) == expected  # the vectors themselves are right
        assert tree_root(src, size) == expected
        assert builder.root() == expected


@pytest.mark.parametrize(("index", "size", "path"), RFC_INCLUSION)
def test_rfc6962_inclusion(index: int, size: int, path: list[str]) -> None:
    leaves = [leaf_hash(d) for d in RFC_LEAVES]
    src = MemorySubtreeSource(leaves)
    expected = [bytes.fromhex(h) for h in path]
    got = inclusion_proof(src, index, size)
    assert got == expected
    assert verify_inclusion(leaves[index], index, size, got, RFC_ROOTS[size - 1])
    assert td_verify_inclusion(leaves[index], index, size, got, RFC_ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), RFC_CONSISTENCY)
def test_rfc6962_consistency(first: int, second: int, proof: list[str]) -> None:
    src = MemorySubtreeSource(leaf_hash(d) for d in RFC_LEAVES)
    expected = [bytes.fromhex(h) for h in proof]
    got = consistency_proof(src, first, second)
    assert got == expected
    roots = (RFC_ROOTS[first - 1], RFC_ROOTS[second - 1])
    assert verify_consistency(first, second, *roots, got)
    assert td_verify_consistency(first, second, *roots, got)


# --------------------------------------------------------------------------- exhaustive


def test_roots_all_sizes(source: MemorySubtreeSource) -> None:
    builder = TreeBuilder()
    assert tree_root(source, 0) == EMPTY_ROOT
    for size in range(1, MAX_SIZE + 1):
        builder.append(LEAVES[size - 1])
        expected = naive_mth(LEAVES[:size])
        assert mth(0, size) == expected
        assert tree_root(source, size) == expected
        assert builder.root() == expected
        assert builder.size == size


def test_subtree_root_any_range(source: MemorySubtreeSource) -> None:
    for start in range(0, 41):
        for end in range(start, 41):
            assert subtree_root(source, start, end) == naive_mth(LEAVES[start:end])


def test_inclusion_all_sizes_and_indices(source: MemorySubtreeSource) -> None:
    for size in range(1, MAX_SIZE + 1):
        root = mth(0, size)
        sized = SizedSource(source, size)
        for index in range(size):
            proof = inclusion_proof(sized, index, size)
            assert proof == naive_path(index, 0, size), (index, size)
            assert verify_inclusion(LEAVES[index], index, size, proof, root)
            assert td_verify_inclusion(LEAVES[index], index, size, proof, root)


def test_consistency_all_pairs(source: MemorySubtreeSource) -> None:
    for second in range(0, MAX_SIZE + 1):
        root2 = mth(0, second)
        sized = SizedSource(source, second)
        for first in range(0, second + 1):
            proof = consistency_proof(sized, first, second)
            assert proof == naive_proof(first, second), (first, second)
            root1 = mth(0, first)
            assert verify_consistency(first, second, root1, root2, proof), (first, second)
            assert td_verify_consistency(first, second, root1, root2, proof), (first, second)


def test_medium_tree_random_proofs() -> None:
    size = 3000
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    builder = TreeBuilder()
    builder.extend(leaves)
    src = MemorySubtreeSource(leaves)
    root = tree_root(src, size)
    assert root == builder.root() == naive_mth(leaves)
    rng = random.Random(6962)
    for _ in range(200):
        index = rng.randrange(size)
        assert verify_inclusion(leaves[index], index, size, inclusion_proof(src, index, size), root)
        first = rng.randrange(1, size)
        old_root = naive_mth(leaves[:first])
        proof = consistency_proof(src, first, size)
        assert verify_consistency(first, size, old_root, root, proof)
        assert td_verify_consistency(first, size, old_root, root, proof)


# --------------------------------------------------------------------------- tampering


def _inclusion_rejected(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    assert not verify_inclusion(leaf, index, size, proof, root)
    assert not td_verify_inclusion(leaf, index, size, proof, root)


def test_tampered_inclusion_rejected() -> None:
    extra = _sha(b"extra")
    for size in range(1, MAX_SIZE + 1):
        root = mth(0, size)
        for index in range(size):
            leaf, proof = LEAVES[index], naive_path(index, 0, size)
            for i in range(len(proof)):
                for bit in (0, 7):
                    bad = list(proof)
                    bad[i] = _flip(bad[i], bit)
                    _inclusion_rejected(leaf, index, size, bad, root)
            _inclusion_rejected(_flip(leaf), index, size, proof, root)
            _inclusion_rejected(leaf, index, size, proof, _flip(root))
            _inclusion_rejected(leaf, index, size, [*proof, extra], root)
            _inclusion_rejected(leaf, index, size, [extra, *proof], root)
            _inclusion_rejected(leaf, index, size, [*proof, root], root)
            if proof:
                _inclusion_rejected(leaf, index, size, proof[:-1], root)
                _inclusion_rejected(leaf, index, size, proof[1:], root)
            for wrong in {index - 1, index + 1, index ^ 1, index ^ 2, size}:
                if 0 <= wrong != index:
                    _inclusion_rejected(leaf, wrong, size, proof, root)
            _check_wrong_sizes_inclusion(leaf, index, size, proof, root)


def _check_wrong_sizes_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """A different size is rejected whenever it implies a different path shape.

    When the shape is identical (leaf 0 of 3 and of 4, say) the hash chain is identical
    too and the proof does verify: the root, not the proof, is what commits to the size.
    Then both verifiers must at least agree.
    """
    for wrong in (size - 1, size + 1, size * 2):
        if wrong <= index or sum(_inner_border(index, wrong)) != len(proof):
            _inclusion_rejected(leaf, index, wrong, proof, root)
        else:
            assert verify_inclusion(leaf, index, wrong, proof, root) == td_verify_inclusion(
                leaf, index, wrong, proof, root
            )


def _consistency_rejected(first: int, second: int, r1: bytes, r2: bytes, proof: list[bytes]) -> None:
    assert not verify_consistency(first, second, r1, r2, proof), (first, second)
    assert not td_verify_consistency(first, second, r1, r2, proof), (first, second)


def test_tampered_consistency_rejected() -> None:
    extra = _sha(b"extra")
    for second in range(1, MAX_SIZE + 1):
        r2 = mth(0, second)
        for first in range(1, second):
            r1, proof = mth(0, first), naive_proof(first, second)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = _flip(bad[i], 3)
                _consistency_rejected(first, second, r1, r2, bad)
            _consistency_rejected(first, second, _flip(r1), r2, proof)
            _consistency_rejected(first, second, r1, _flip(r2), proof)
            _consistency_rejected(first, second, r2, r1, proof)
            _consistency_rejected(first, second, r1, r2, [*proof, extra])
            _consistency_rejected(first, second, r1, r2, [r1, *proof])
            _consistency_rejected(first, second, r1, r2, proof[:-1])
            _consistency_rejected(first, second, r1, r2, proof[1:])
            _consistency_rejected(first, second, r1, r2, [])
            _consistency_rejected(second, first, r2, r1, proof)
            _check_wrong_sizes_consistency(first, second, r1, r2, proof)


def _check_wrong_sizes_consistency(first: int, second: int, r1: bytes, r2: bytes, proof: list[bytes]) -> None:
    """Shifted sizes: rejected when the proof shape changes, otherwise both verifiers agree."""
    for f, s in ((first - 1, second), (first + 1, second), (first, second + 1), (first, second - 1)):
        if f <= 0 or s < f or s > MAX_SIZE or (f, s) == (first, second):
            continue
        if f == s or len(naive_proof(f, s)) != len(proof):
            _consistency_rejected(f, s, r1, r2, proof)
        else:
            assert verify_consistency(f, s, r1, r2, proof) == td_verify_consistency(f, s, r1, r2, proof)


def test_consistency_degenerate_cases() -> None:
    r5, r7 = mth(0, 5), mth(0, 7)
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, r7, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 7, EMPTY_ROOT, r7, [])
    assert not verify_consistency(0, 7, r5, r7, [])
    assert not verify_consistency(0, 7, EMPTY_ROOT, r7, [r7])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, r5, r5, [])
    assert not verify_consistency(7, 5, r7, r5, [])


BAD_INPUTS: list[Callable[[], bool]] = [
    lambda: verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT),
    lambda: verify_inclusion(LEAVES[0], 1, 1, [], LEAVES[0]),
    lambda: verify_inclusion(LEAVES[0], -1, 4, [], mth(0, 4)),
    lambda: verify_inclusion(LEAVES[0], 0, -4, [], mth(0, 4)),
    lambda: verify_inclusion(LEAVES[0], True, 2, [LEAVES[0]], mth(0, 2)),
    lambda: verify_inclusion(LEAVES[0], 0.0, 1, [], LEAVES[0]),  # type: ignore[arg-type]
    lambda: verify_inclusion(LEAVES[0][:31], 0, 1, [], LEAVES[0][:31]),
    lambda: verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1][:31]], mth(0, 2)),
    lambda: verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1] + b"\x00"], mth(0, 2)),
    lambda: verify_inclusion(LEAVES[0], 0, 2, None, mth(0, 2)),  # type: ignore[arg-type]
    lambda: verify_inclusion(LEAVES[0], 0, 2, LEAVES[1], mth(0, 2)),  # type: ignore[arg-type]
    lambda: verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1].hex()], mth(0, 2)),  # type: ignore[list-item]
    lambda: verify_inclusion(None, 0, 1, [], LEAVES[0]),  # type: ignore[arg-type]
    lambda: verify_inclusion(LEAVES[0], 0, 1, [], None),  # type: ignore[arg-type]
    lambda: verify_inclusion(LEAVES[0], 0, 1 << 200, [LEAVES[1]] * 300, mth(0, 2)),
    lambda: verify_inclusion(LEAVES[0], "0", 1, [], LEAVES[0]),  # type: ignore[arg-type]
    lambda: verify_consistency(-1, 4, EMPTY_ROOT, mth(0, 4), []),
    lambda: verify_consistency(2, "4", mth(0, 2), mth(0, 4), [mth(2, 4)]),  # type: ignore[arg-type]
    lambda: verify_consistency(2, 4, mth(0, 2)[:16], mth(0, 4), [mth(2, 4)]),
    lambda: verify_consistency(2, 4, mth(0, 2), None, [mth(2, 4)]),  # type: ignore[arg-type]
    lambda: verify_consistency(2, 4, mth(0, 2), mth(0, 4), None),  # type: ignore[arg-type]
    lambda: verify_consistency(2, 4, mth(0, 2), mth(0, 4), mth(2, 4)),  # type: ignore[arg-type]
    lambda: verify_consistency(2, 4, mth(0, 2), mth(0, 4), [b""]),
    lambda: verify_consistency(3, 4, mth(0, 3), mth(0, 4), [1, 2]),  # type: ignore[list-item]
    lambda: verify_consistency(False, 4, EMPTY_ROOT, mth(0, 4), []),
    lambda: verify_consistency(3, 1 << 100, mth(0, 3), mth(0, 4), [LEAVES[0]] * 500),
]


@pytest.mark.parametrize("call", BAD_INPUTS)
def test_verifiers_return_false_on_malformed_input(call: Callable[[], bool]) -> None:
    assert call() is False


def test_verifiers_accept_tuples() -> None:
    proof = tuple(naive_path(3, 0, 7))
    assert verify_inclusion(LEAVES[3], 3, 7, proof, mth(0, 7))
    assert verify_consistency(3, 7, mth(0, 3), mth(0, 7), tuple(naive_proof(3, 7)))


# --------------------------------------------------------------------------- builder


def test_builder_reports_each_node_once() -> None:
    builder = TreeBuilder()
    reported: dict[tuple[int, int], bytes] = {}
    for size in range(1, MAX_SIZE + 1):
        new = builder.append(LEAVES[size - 1])
        levels = [n.level for n in new]
        assert levels == list(range(1, len(new) + 1))  # lowest first, all level >= 1
        for node in new:
            assert isinstance(node, CompletedNode)
            assert node.ref not in reported, node
            assert node.ref.end == size  # completed by exactly this leaf
            assert node.hash == mth(node.ref.start, node.ref.end)
            reported[node.ref] = node.hash
        expected = {(lv, i) for lv in range(1, 8) for i in range(size >> lv)}
        assert set(reported) == expected
        assert builder.peaks == tuple(mth(r.start, r.end) for r in peak_refs(size))


def test_builder_extend_and_resume(source: MemorySubtreeSource) -> None:
    whole = TreeBuilder()
    all_nodes = whole.extend(LEAVES)
    for cut in range(0, MAX_SIZE + 1):
        first = TreeBuilder()
        before = first.extend(LEAVES[:cut])
        peaks = [source.get(r.level, r.index) for r in peak_refs(cut)]
        resumed = TreeBuilder.resume(cut, peaks)
        assert resumed.root() == first.root() == mth(0, cut)
        after = resumed.extend(LEAVES[cut:])
        assert resumed.root() == whole.root()
        assert before + after == all_nodes


def test_builder_rejects_bad_input() -> None:
    builder = TreeBuilder()
    with pytest.raises(ValueError):
        builder.append(b"short")
    with pytest.raises(ValueError):
        TreeBuilder.resume(3, [LEAVES[0]])
    with pytest.raises(ValueError):
        TreeBuilder.resume(2, [b"x" * 31])
    assert builder.size == 0 and builder.root() == EMPTY_ROOT


# --------------------------------------------------------------------------- plans and sources


def test_one_batch_and_log_lookups_at_a_million() -> None:
    """Plans for a huge tree stay O(log n) and are fetched in a single batch."""
    size = 1_000_000
    for index in (0, 1, 524_287, 524_288, 999_998, 999_999):
        keys = inclusion_proof_keys(index, size)
        assert len(keys) == len(set(keys)) <= 2 * size.bit_length()
        assert len(plan_inclusion(index, size).spans) == sum(_inner_border(index, size))
        assert all((r.index + 1) << r.level <= size for r in keys)
    for first in (1, 2, 3, 524_288, 700_001, 999_999):
        keys = consistency_proof_keys(first, size)
        assert len(keys) == len(set(keys)) <= 2 * size.bit_length()
    assert len(root_keys(size)) == size.bit_count()

    class Synthetic:
        def __init__(self) -> None:
            self.calls = 0

        def get_many(self, refs: Sequence[NodeRef]) -> dict[tuple[int, int], bytes]:
            self.calls += 1
            return {(r.level, r.index): _sha(b"%d/%d" % (r.level, r.index)) for r in refs}

    synthetic = Synthetic()
    proof = inclusion_proof(synthetic, 123_456, size)
    assert synthetic.calls == 1 and len(proof) == 20


def test_plan_then_fetch(source: MemorySubtreeSource) -> None:
    counting = CountingSource(source)
    plan, root_plan = plan_inclusion(13, 57), plan_root(57)
    nodes = counting.get_many(sorted(set(plan.refs) | set(root_plan.refs)))
    assert plan.assemble(nodes) == naive_path(13, 0, 57)
    assert root_plan.assemble(nodes) == [mth(0, 57)]
    assert len(counting.calls) == 1

    cons = plan_consistency(21, 57)
    assert cons.assemble(source.get_many(cons.refs)) == naive_proof(21, 57)
    assert plan_consistency(0, 57).spans == () == plan_consistency(57, 57).spans

    # Plain tuple keys and buffer values, as a DB driver might return them.
    raw = {(r.level, r.index): memoryview(source.get(r.level, r.index)) for r in plan.refs}
    assert plan.assemble(raw) == naive_path(13, 0, 57)


def test_missing_nodes_raise(source: MemorySubtreeSource) -> None:
    plan = plan_inclusion(5, 40)
    nodes = dict(source.get_many(plan.refs))
    nodes.pop(next(iter(nodes)))
    with pytest.raises(MissingNodeError):
        plan.assemble(nodes)
    with pytest.raises(MissingNodeError):
        source.get(3, 100)
    with pytest.raises(MissingNodeError):
        inclusion_proof(MemorySubtreeSource(LEAVES[:10]), 5, 40)
    assert source.get_many([NodeRef(7, 0), NodeRef(0, 10**6)]) == {}


def test_proof_arguments_validated(source: MemorySubtreeSource) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(source, 5, 5)
    with pytest.raises(ValueError):
        inclusion_proof(source, -1, 5)
    with pytest.raises(ValueError):
        consistency_proof(source, 6, 5)
    with pytest.raises(ValueError):
        span_refs(5, 4)
    with pytest.raises(TypeError):
        tree_root(source, 2.0)  # type: ignore[arg-type]
    assert consistency_proof(CountingSource(source), 0, 9) == []


def test_span_refs_are_aligned_pieces() -> None:
    assert span_refs(0, 0) == []
    assert span_refs(0, 7) == [NodeRef(2, 0), NodeRef(1, 2), NodeRef(0, 6)]
    assert span_refs(8, 13) == [NodeRef(2, 2), NodeRef(0, 12)]
    assert span_refs(1, 3) == [NodeRef(0, 1), NodeRef(0, 2)]
    for size in range(0, MAX_SIZE + 1):
        refs = peak_refs(size)
        assert [r.level for r in refs] == sorted((r.level for r in refs), reverse=True)
        assert sum(1 << r.level for r in refs) == size

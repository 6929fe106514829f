"""The tamper-evident ledger: an append-only log under an RFC 6962 Merkle tree.

Domains call :func:`append` inside their transaction; everything else (tree building,
signed heads, proofs, verification) reads what the appends left.
"""

from supervision.ledger.append import AppendedEntry, append

__all__ = ["AppendedEntry", "append"]

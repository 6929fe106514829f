"""Checking signed tree heads with nothing but files: no database, no network.

A head (``supervision.ledger.heads.head_document``) is the platform's signed statement
"the ledger's first ``tree_size`` entries hash to ``root_hash``". Outsiders keep the heads
the platform publishes; any other head (inside a project archive, a bid receipt, or handed
over by someone) is then checked against one of them:

- its signature verifies with the platform's public key (pinned by the checker, not the
  key the head names: a forger would name his own);
- it is the published head itself (same size, same root), or a consistency proof
  (``GET /ledger/consistency?first=&second=``) shows that the smaller tree is a prefix of
  the larger: the platform cannot have rewritten the entries the older head covers.

``bidhall ledger check-head FILE --published HEAD.json --proof PROOF.json`` runs this on a
head, a receipt or an archive; ``bidhall archive verify`` checks the archive's own content
against the head it holds, so together they tie an archive to a published head.
"""

from __future__ import annotations

import base64
import binascii
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ca_interop.platform_keys import verify_signature
from core.errors import FieldError, InvalidInput
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.merkle import verify_consistency

ARCHIVE_HEAD = "ledger/head.json"  # where a bidhall-archive/1 zip keeps its signed head
SIGNED = ("tree_size", "root_hash", "timestamp", "key_id")


class HeadRefused(InvalidInput):
    """A presented head that does not hold: ``reason`` says which check failed."""

    code = "tree-head-refused"
    title = "The tree head is refused"

    def __init__(self, reason: str, detail: str, pointer: str = "$") -> None:
        super().__init__(detail, [FieldError(pointer, reason)])
        self.reason = reason


@dataclass(frozen=True)
class Head:
    tree_size: int
    root_hash: bytes
    timestamp: str
    key_id: str
    signature: bytes
    document: dict[str, Any]

    def message(self) -> bytes:
        return canonical_bytes({key: self.document[key] for key in SIGNED})


def parse_head(document: Any, *, label: str = "head") -> Head:
    """The head's fields, or a 422 naming the first malformed one."""
    if not isinstance(document, dict):
        raise InvalidInput(f"the {label} must be a JSON object", [FieldError("$", "not an object")])
    missing = [key for key in (*SIGNED, "signature") if key not in document]
    if missing:
        raise InvalidInput(f"the {label} lacks {', '.join(missing)}", [FieldError(f"$.{k}", "missing") for k in missing])
    size = document["tree_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"the {label}'s tree_size must be a whole number", [FieldError("$.tree_size", "not a size")])
    try:
        root = bytes.fromhex(document["root_hash"])
        signature = base64.b64decode(document["signature"], validate=True)
    except (TypeError, ValueError, binascii.Error) as error:
        raise InvalidInput(f"the {label}'s root_hash or signature is malformed: {error}",
                           [FieldError("$.root_hash", "hex SHA-256"), FieldError("$.signature", "base64")]) from None
    if len(root) != 32 or not isinstance(document["timestamp"], str) or not isinstance(document["key_id"], str):
        raise InvalidInput(f"the {label}'s root_hash, timestamp or key_id is malformed",
                           [FieldError("$.root_hash", "a 32-byte hex hash")])
    return Head(size, root, document["timestamp"], document["key_id"], signature, document)


def check_signature(head: Head, platform_key_pem: str, *, label: str = "head") -> None:
    """Refused unless the platform key (not the one the head names) signed these fields."""
    if not verify_signature(platform_key_pem, head.message(), head.signature):
        raise HeadRefused("bad-signature", f"the {label}'s signature does not verify with the platform key "
                                           "(forged, altered, or signed by another key)", "$.signature")


def check_consistent(older: Head, newer: Head, proof: dict[str, Any] | None) -> None:
    """Refused unless ``older``'s tree is a prefix of ``newer``'s (equal heads need no proof)."""
    if older.tree_size > newer.tree_size:
        older, newer = newer, older
    if older.tree_size == newer.tree_size:
        if older.root_hash != newer.root_hash:
            raise HeadRefused("wrong-root", f"two heads of size {older.tree_size} with different roots: "
                                            "the ledger was forked or a head is forged", "$.root_hash")
        return
    if older.tree_size == 0:
        return  # the empty tree is a prefix of every tree
    if proof is None:
        raise HeadRefused("no-proof", f"a consistency proof from size {older.tree_size} to {newer.tree_size} "
                                      "is needed (GET /ledger/consistency)", "$.proof")
    if (proof.get("first"), proof.get("second")) != (older.tree_size, newer.tree_size):
        raise HeadRefused("wrong-proof", f"the proof is from size {proof.get('first')} to {proof.get('second')}, "
                                         f"not from {older.tree_size} to {newer.tree_size}", "$.proof")
    try:
        path = [bytes.fromhex(node) for node in proof["proof"]]
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("the consistency proof is malformed", [FieldError("$.proof", "hex hashes")]) from None
    if not verify_consistency(older.tree_size, newer.tree_size, older.root_hash, newer.root_hash, path):
        raise HeadRefused("inconsistent", f"the tree of size {older.tree_size} is not a prefix of the published "
                                          f"tree of size {newer.tree_size}: the ledger was rewritten or a head "
                                          "is forged", "$.root_hash")


def embedded_head(path: Path) -> dict[str, Any]:
    """The head in a file: a head itself, a bid receipt (``tree_head``), or an archive zip."""
    if not path.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            try:
                return json.loads(archive.read(ARCHIVE_HEAD))  # type: ignore[no-any-return]
            except KeyError:
                raise InvalidInput(f"{path} holds no {ARCHIVE_HEAD}: not a bidhall archive") from None
    try:
        document = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"{path} is neither JSON nor an archive: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("tree_head"), dict):
        return document["tree_head"]  # type: ignore[no-any-return]
    return document  # type: ignore[no-any-return]


def check_against_published(presented: Any, published: Any, proof: dict[str, Any] | None,
                            platform_key_pem: str) -> dict[str, Any]:
    """Both heads signed by the platform key and consistent with each other; raises
    :class:`HeadRefused` (or InvalidInput for a malformed document) otherwise."""
    head = parse_head(presented)
    anchor = parse_head(published, label="published head")
    check_signature(anchor, platform_key_pem, label="published head")
    check_signature(head, platform_key_pem)
    check_consistent(head, anchor, proof)
    return {"ok": True, "tree_size": head.tree_size, "published_tree_size": anchor.tree_size,
            "relation": "equal" if head.tree_size == anchor.tree_size else
                        ("prefix of the published tree" if head.tree_size < anchor.tree_size
                         else "extends the published tree")}

"""Bid receipts: what a bidder keeps to prove, without the platform, what it submitted when.

A receipt holds the bid's identifying facts (bid, lot, party, envelope SHA-256 and size,
server time, signing certificate), the platform's RFC 3161 token over the envelope SHA-256,
the exact bytes of the submission's ledger entry, its RFC 6962 inclusion proof and the
signed tree head the proof leads to. :func:`verify_receipt` checks it offline with only the
TSA certificate and the platform's public key: every fact must be the one the ledger entry
records, the entry must be in the signed tree, and the token must stamp that envelope and
be the one the entry names. Changing any field makes it fail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import timedelta
from typing import Any

from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import PlatformSigner, verify_signature
from ca_interop.timestamps import TimestampFormatError, verify_token
from core import clock
from core.actors import Actor
from core.errors import Conflict
from core.usecases import use_case
from supervision.ledger import merkle
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.heads import current_head, head_document, signed_fields
from supervision.ledger.inspect import prove
from supervision.ledger.models import LedgerEntry
from trading import bid_events as events
from trading.bids import BID_READERS, visible_bid

RECEIPT_FORMAT = "bidhall-bid-receipt/1"
# The facts a receipt states, each of which must equal the submission entry's payload.
FACTS = ("lot_id", "lot_code", "party_id", "envelope_sha256", "envelope_size", "submitted_at", "cert_fingerprint")
STAMP_TOLERANCE = timedelta(minutes=5)


@use_case("trading.bid_receipt", BID_READERS)
async def bid_receipt(session: AsyncSession, actor: Actor, bid_id: int, signer: PlatformSigner) -> dict[str, Any]:
    """The receipt of a bid, for its bidder and oversight (anyone else: 404).

    The proof leads to the current signed tree head (a new head is signed if the latest
    does not cover the whole ledger), so a receipt fetched later proves the same entry in
    a larger tree.
    """
    bid = await visible_bid(session, actor, bid_id)
    if bid.ledger_seq is None or bid.timestamp_token is None:
        raise Conflict(f"bid {bid_id} has no submission record")
    entry = await session.get(LedgerEntry, bid.ledger_seq)
    assert entry is not None
    leaf = bytes(entry.leaf)
    payload = json.loads(leaf)["payload"]
    head = await current_head(session, signer)
    proof = await prove(session, bid.ledger_seq, head.tree_size)
    return {
        "format": RECEIPT_FORMAT,
        "bid_id": bid.id,
        **{name: payload[name] for name in FACTS},
        "timestamp_token": base64.b64encode(bid.timestamp_token).decode("ascii"),
        "ledger_entry": base64.b64encode(leaf).decode("ascii"),
        "inclusion_proof": proof,
        "tree_head": head_document(head),
    }


def verify_receipt(receipt: dict[str, Any], *, tsa_certificate: x509.Certificate, platform_public_key: str) -> list[str]:
    """Every problem found with ``receipt`` (an empty list: it proves what it states).

    ``tsa_certificate`` is the platform TSA's certificate and ``platform_public_key`` the
    PEM key signing tree heads, both obtained out of band (``GET /receipt-keys`` serves
    them; a careful bidder pins them once).
    """
    try:
        return _problems(receipt, tsa_certificate, platform_public_key)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as error:
        return [f"the receipt is malformed: {type(error).__name__}: {error}"]


def _problems(receipt: dict[str, Any], tsa_certificate: x509.Certificate, platform_key: str) -> list[str]:
    problems: list[str] = []
    if receipt["format"] != RECEIPT_FORMAT:
        problems.append(f"unknown receipt format {receipt['format']!r}")
    leaf = base64.b64decode(receipt["ledger_entry"], validate=True)
    entry = json.loads(leaf)
    problems += _entry_problems(receipt, entry, leaf)
    problems += _proof_problems(receipt, leaf)
    problems += _head_problems(receipt, platform_key)
    problems += _stamp_problems(receipt, entry["payload"], tsa_certificate)
    return problems


def _entry_problems(receipt: dict[str, Any], entry: dict[str, Any], leaf: bytes) -> list[str]:
    problems = []
    if canonical_bytes(entry) != leaf:
        problems.append("the ledger entry is not in canonical form")
    if entry.get("type") != events.BID_SUBMITTED:
        problems.append(f"the ledger entry is a {entry.get('type')}, not a bid submission")
    if entry.get("stream") != events.bid_stream(receipt["bid_id"]) or entry["payload"].get("id") != receipt["bid_id"]:
        problems.append(f"the ledger entry is not about bid {receipt['bid_id']}")
    payload = entry["payload"]
    for name in FACTS:
        if payload.get(name) != receipt[name]:
            problems.append(f"{name} is {receipt[name]!r} in the receipt but {payload.get(name)!r} in the ledger entry")
    if entry.get("seq") != receipt["inclusion_proof"]["leaf_index"]:
        problems.append("the ledger entry's number is not the proof's leaf index")
    return problems


def _proof_problems(receipt: dict[str, Any], leaf: bytes) -> list[str]:
    proof = receipt["inclusion_proof"]
    leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
    problems = []
    if proof["leaf_hash"] != leaf_hash.hex():
        problems.append("the proof's leaf hash is not the hash of the ledger entry")
    path = [bytes.fromhex(node) for node in proof["audit_path"]]
    if not merkle.verify_inclusion(leaf_hash, proof["leaf_index"], proof["tree_size"], path,
                                   bytes.fromhex(proof["root_hash"])):
        problems.append("the inclusion proof does not lead from the entry to the root hash")
    return problems


def _head_problems(receipt: dict[str, Any], platform_key: str) -> list[str]:
    head, proof = receipt["tree_head"], receipt["inclusion_proof"]
    problems = []
    if head["tree_size"] != proof["tree_size"] or head["root_hash"] != proof["root_hash"]:
        problems.append("the signed tree head is not the tree the proof is for")
    if _normal_pem(head["public_key"]) != _normal_pem(platform_key):
        problems.append("the tree head names a key that is not the platform's")
    fields = signed_fields(head["tree_size"], bytes.fromhex(head["root_hash"]), head["timestamp"], head["key_id"])
    if not verify_signature(platform_key, canonical_bytes(fields), base64.b64decode(head["signature"], validate=True)):
        problems.append("the tree head's signature does not verify with the platform key")
    return problems


def _stamp_problems(receipt: dict[str, Any], payload: dict[str, Any], tsa_certificate: x509.Certificate) -> list[str]:
    token = base64.b64decode(receipt["timestamp_token"], validate=True)
    problems = []
    if hashlib.sha256(token).hexdigest() != payload.get("timestamp_token_sha256"):
        problems.append("the time-stamp token is not the one the ledger entry records")
    try:
        check = verify_token(token, digest=bytes.fromhex(receipt["envelope_sha256"]), algorithm="sha256",
                             trusted_tsa_certs=[tsa_certificate])
    except TimestampFormatError as error:
        return [*problems, f"the time-stamp token is malformed: {error}"]
    if not check.valid:
        return [*problems, f"the time-stamp token does not verify: {check.reason}"]
    submitted = clock.parse_rfc3339(receipt["submitted_at"])
    if check.gen_time is None or abs(check.gen_time - submitted) > STAMP_TOLERANCE:
        problems.append(f"the time-stamp ({check.gen_time}) is far from the submission time {receipt['submitted_at']}")
    return problems


def _normal_pem(text: str) -> str:
    return "".join(text.split())

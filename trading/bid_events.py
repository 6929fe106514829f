"""Events of bids, bid bonds and party credit, and the reducers replay folds them through.

Streams:

- ``bid:<id>``: submitted, then status changes (replaced, withdrawn, and the opening's
  opened / revoked / withdrawn_at_opening / rejected). A replacement is a new bid with its
  own stream whose ``replaces_bid_id`` names the old one.
- ``bid_bond:<id>``: a party's bond for a lot, recorded and verified. Bonds have streams of
  their own because a bond belongs to (lot, party), not to one bid: it outlives a
  replacement and is often paid before any bid exists.
- ``credit:<party_id>``: a party's qualifications and credit records (``party:<id>`` is
  the identities stream of the party itself).

Payloads never carry sealed content: a bid is known by its envelope's hash and size only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry
from trading.bid_models import Bid, BidBond
from trading.models import CreditRecord, Lot, PartyQualification

BID_SUBMITTED = "trading.bid_submitted"
BID_REPLACED = "trading.bid_replaced"
BID_WITHDRAWN = "trading.bid_withdrawn"
BID_STATUS_CHANGED = "trading.bid_status_changed"
BOND_RECORDED = "trading.bid_bond_recorded"
BOND_VERIFIED = "trading.bid_bond_verified"
QUALIFICATION_RECORDED = "trading.qualification_recorded"
CREDIT_RECORDED = "trading.credit_recorded"
CREDIT_ENDED = "trading.credit_record_ended"

STATUS_EVENTS = frozenset({BID_REPLACED, BID_WITHDRAWN, BID_STATUS_CHANGED})

BID_FIELDS = ("id", "lot_id", "party_id", "submitted_by", "status", "status_reason", "status_details",
              "envelope_sha256", "envelope_size", "cert_fingerprint", "submitted_at", "replaces_bid_id",
              "updated_at")
STATUS_FIELDS = ("status", "status_reason", "status_details", "updated_at")
BOND_FIELDS = ("id", "lot_id", "party_id", "form", "reference", "amount", "verified", "verified_by",
               "verified_at", "recorded_at")
VERIFY_FIELDS = ("verified", "verified_by", "verified_at")
QUALIFICATION_FIELDS = ("id", "party_id", "kind", "grade", "certificate_number", "expires_on", "created_at")
CREDIT_FIELDS = ("id", "party_id", "kind", "reason", "authority", "start_date", "end_date", "created_at")


def bid_stream(bid_id: int | None) -> str:
    return f"bid:{bid_id}"


def bond_stream(bond_id: int | None) -> str:
    return f"bid_bond:{bond_id}"


def credit_stream(party_id: int | None) -> str:
    return f"credit:{party_id}"


def _pick(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return to_json_value({name: getattr(row, name) for name in fields})  # type: ignore[no-any-return]


def token_digest(token: bytes | None) -> str | None:
    """The SHA-256 of the bid's RFC 3161 token: the submission entry binds the token by it."""
    return hashlib.sha256(token).hexdigest() if token else None


def submitted_payload(bid: Bid, lot_code: str) -> dict[str, Any]:
    """The submission entry: the bid as stored, its lot's code (what the bidder signed)
    and the hash of its time-stamp token. ``ledger_seq`` is the entry's own number."""
    return {**_pick(bid, BID_FIELDS), "lot_code": lot_code,
            "timestamp_token_sha256": token_digest(bid.timestamp_token)}


def status_payload(bid: Bid) -> dict[str, Any]:
    return _pick(bid, STATUS_FIELDS)


def bond_snapshot(bond: BidBond) -> dict[str, Any]:
    return _pick(bond, BOND_FIELDS)


def verify_payload(bond: BidBond) -> dict[str, Any]:
    return _pick(bond, VERIFY_FIELDS)


def qualification_snapshot(qualification: PartyQualification) -> dict[str, Any]:
    return _pick(qualification, QUALIFICATION_FIELDS)


def credit_snapshot(record: CreditRecord) -> dict[str, Any]:
    return _pick(record, CREDIT_FIELDS)


# --- reducers -----------------------------------------------------------------------------


def apply_bid(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == BID_SUBMITTED:
        return {**{name: payload[name] for name in BID_FIELDS}, "lot_code": payload["lot_code"],
                "timestamp_token_sha256": payload["timestamp_token_sha256"], "ledger_seq": entry["seq"]}
    if state is None:
        return None
    if kind in STATUS_EVENTS:
        return {**state, **{name: payload[name] for name in STATUS_FIELDS}}
    return state


def apply_bond(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == BOND_RECORDED:
        return dict(payload)
    if state is not None and kind == BOND_VERIFIED:
        return {**state, **payload}
    return state


def apply_credit(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    state = state or {"party_id": payload["party_id"], "qualifications": {}, "credit_records": {}}
    if kind == QUALIFICATION_RECORDED:
        return {**state, "qualifications": {**state["qualifications"], str(payload["id"]): payload}}
    if kind == CREDIT_RECORDED:
        return {**state, "credit_records": {**state["credit_records"], str(payload["id"]): payload}}
    if kind == CREDIT_ENDED:
        key = str(payload["id"])
        record = {**state["credit_records"][key], "end_date": payload["end_date"]}
        return {**state, "credit_records": {**state["credit_records"], key: record}}
    return state


# --- the same states read from the tables -------------------------------------------------


def _stream_id(stream: str) -> int:
    text = stream.partition(":")[2]
    return int(text) if text.isdigit() else -1


async def load_bid(session: AsyncSession, stream: str) -> State | None:
    bid = await session.get(Bid, _stream_id(stream))
    if bid is None:
        return None
    lot = await session.get(Lot, bid.lot_id)
    return {**_pick(bid, BID_FIELDS), "lot_code": lot.code if lot else None,
            "timestamp_token_sha256": token_digest(bid.timestamp_token), "ledger_seq": bid.ledger_seq}


async def load_bond(session: AsyncSession, stream: str) -> State | None:
    bond = await session.get(BidBond, _stream_id(stream))
    return bond_snapshot(bond) if bond else None


async def load_credit(session: AsyncSession, stream: str) -> State | None:
    party_id = _stream_id(stream)
    qualifications = list(await session.scalars(
        sa.select(PartyQualification).where(PartyQualification.party_id == party_id)))
    records = list(await session.scalars(sa.select(CreditRecord).where(CreditRecord.party_id == party_id)))
    if not qualifications and not records:
        return None
    return {
        "party_id": party_id,
        "qualifications": {str(q.id): qualification_snapshot(q) for q in qualifications},
        "credit_records": {str(r.id): credit_snapshot(r) for r in records},
    }


async def list_bid_streams(session: AsyncSession) -> list[str]:
    return [bid_stream(i) for i in (await session.scalars(sa.select(Bid.id))).all()]


async def list_bond_streams(session: AsyncSession) -> list[str]:
    return [bond_stream(i) for i in (await session.scalars(sa.select(BidBond.id))).all()]


async def list_credit_streams(session: AsyncSession) -> list[str]:
    parties = set((await session.scalars(sa.select(PartyQualification.party_id).distinct())).all())
    parties |= set((await session.scalars(sa.select(CreditRecord.party_id).distinct())).all())
    return [credit_stream(i) for i in sorted(parties)]


def register(registry: StreamRegistry) -> None:
    """Register this concern's stream kinds with the replay registry."""
    registry.register(StreamKind("bid", apply_bid, load_bid, list_bid_streams))
    registry.register(StreamKind("bid_bond", apply_bond, load_bond, list_bond_streams))
    registry.register(StreamKind("credit", apply_credit, load_credit, list_credit_streams))

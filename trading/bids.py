"""Submitting, replacing and withdrawing sealed bids, and their bonds.

A bid is a completed upload (``trading.uploads``) that its bidder signs for: a detached CMS
signature by the party's signing certificate over :func:`bid_statement`. The certificate
must validate against the trust list right now (TOTAL_PASSED, revocation included) and
name the bidder's own party; the party must not be barred from bidding; the lot must still
accept bids by the server clock. Then, in one transaction, the envelope becomes a blob (the
completed upload's file is moved into the blob store, not copied), the platform
time-stamps its SHA-256 (RFC 3161), the bid row is written and the submission is a ledger
entry; any failure leaves none of it behind.

Only envelopes are stored: nothing here, nor any endpoint, hands out a bid's content or its
envelope bytes; the opening reads the blob itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.certificates import as_asn1, public_key_sha256, summarize
from ca_interop.platform_keys import PlatformSigner
from ca_interop.revocation import RevocationSource
from ca_interop.signatures import SignatureFormatError, verify_detached
from ca_interop.timestamps import TimestampAuthority
from ca_interop.validation import Indication, Usage
from core import clock
from core.actors import Actor, Role
from core.blobs import BlobSizeMismatch, BlobStore
from core.database import after_commit
from core.errors import Conflict, FieldError, InvalidInput, NotFound, RuleViolation
from core.states import check_transition
from core.usecases import use_case
from identities.models import Party
from identities.trust_service import certificate_validator
from supervision.ledger.append import append
from supervision.ledger.canonical import to_json_value
from trading import bid_events as events
from trading.bid_models import Bid, Upload
from trading.bid_schemas import BidSubmit, BidWithdraw
from trading.bid_states import (
    ALLOWED_BID_TRANSITIONS,
    OPENING_STATUSES,
    BidStatus,
    UploadStatus,
)
from trading.models import Lot
from trading.parties import bidding_refusal
from trading.uploads import UploadSpool, check_lot_accepts_bids, load_lot, read_upload

OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
BID_READERS = OVERSIGHT | {Role.BIDDER}


@dataclass(frozen=True)
class BidServices:
    """What submitting needs beyond the database: where envelopes go, who stamps them,
    how certificates are checked for revocation, and the spool the uploads sit in."""

    blobs: BlobStore
    tsa: TimestampAuthority
    revocation: RevocationSource
    spool: UploadSpool
    signer: PlatformSigner


def bid_statement(lot_code: str, envelope_sha256: str) -> bytes:
    """What a bidder signs: the lot and the exact envelope, nothing that could be reused."""
    return f"bidhall-bid\n{lot_code}\n{envelope_sha256}\n".encode()


# --- reading ------------------------------------------------------------------------------


async def visible_bid(session: AsyncSession, actor: Actor, bid_id: int) -> Bid:
    """The bid if ``actor`` may see it; for anyone else it does not exist (404)."""
    bid = await session.get(Bid, bid_id)
    if bid is None or not (actor.has_any(OVERSIGHT) or (actor.party_id is not None and actor.party_id == bid.party_id)):
        raise NotFound(f"bid {bid_id} does not exist")
    return bid


@use_case("trading.get_bid", BID_READERS)
async def get_bid(session: AsyncSession, actor: Actor, bid_id: int) -> Bid:
    return await visible_bid(session, actor, bid_id)


@use_case("trading.list_bids", BID_READERS)
async def list_bids(session: AsyncSession, actor: Actor, lot_id: int) -> list[Bid]:
    """Every bid of a lot for oversight; a bidder sees its own party's only."""
    await load_lot(session, lot_id)
    query = sa.select(Bid).where(Bid.lot_id == lot_id).order_by(Bid.id)
    if not actor.has_any(OVERSIGHT):
        query = query.where(Bid.party_id == (actor.party_id or -1))
    return list(await session.scalars(query))


# --- submitting, replacing, withdrawing ---------------------------------------------------


@use_case("trading.submit_bid", {Role.BIDDER})
async def submit_bid(session: AsyncSession, actor: Actor, lot_id: int, data: BidSubmit, services: BidServices) -> Bid:
    lot = await load_lot(session, lot_id)
    party, upload, signer = await _checked_submission(session, actor, lot, data, services)
    existing = await session.scalar(sa.select(Bid.id).where(
        Bid.lot_id == lot.id, Bid.party_id == party.id, Bid.status == BidStatus.SUBMITTED))
    if existing is not None:
        raise Conflict(f"your party already has bid {existing} for lot {lot.code}: replace it "
                       f"(POST /bids/{existing}/replace) or withdraw it (POST /bids/{existing}/withdraw)")
    return await _store_bid(session, actor, lot, party, upload, signer, services, replaces=None)


@use_case("trading.replace_bid", {Role.BIDDER})
async def replace_bid(session: AsyncSession, actor: Actor, bid_id: int, data: BidSubmit, services: BidServices) -> Bid:
    """A new envelope for the same lot: the old bid becomes ``replaced``, the new one is
    submitted with every check a first submission has."""
    old = await _own_active_bid(session, actor, bid_id, "replaced")
    lot = await load_lot(session, old.lot_id)
    party, upload, signer = await _checked_submission(session, actor, lot, data, services)
    return await _store_bid(session, actor, lot, party, upload, signer, services, replaces=old)


@use_case("trading.withdraw_bid", {Role.BIDDER})
async def withdraw_bid(session: AsyncSession, actor: Actor, bid_id: int, data: BidWithdraw) -> Bid:
    bid = await _own_active_bid(session, actor, bid_id, "withdrawn")
    await _change_status(session, actor, bid, BidStatus.WITHDRAWN, reason=data.reason, details=None,
                         event_type=events.BID_WITHDRAWN)
    return bid


async def set_bid_status(
    session: AsyncSession, actor: Actor | None, bid: Bid, status: str, *, reason: str, details: dict[str, Any] | None = None
) -> Bid:
    """Set a status the opening or evaluation decides (opened, revoked,
    withdrawn_at_opening, rejected), with its reason, as ``trading.bid_status_changed``.

    Not a use case: the caller's use case has checked who may do this. The move must be
    allowed by ``ALLOWED_BID_TRANSITIONS``; replacing and withdrawing are the bidder's.
    """
    target = BidStatus(status)
    if target not in OPENING_STATUSES:
        raise InvalidInput(f"{target} is not set this way (possible: {', '.join(sorted(OPENING_STATUSES))})")
    await _change_status(session, actor, bid, target, reason=reason, details=details,
                         event_type=events.BID_STATUS_CHANGED)
    return bid


async def _change_status(session: AsyncSession, actor: Actor | None, bid: Bid, target: BidStatus, *, reason: str,
                         details: dict[str, Any] | None, event_type: str) -> None:
    check_transition(f"bid {bid.id}", BidStatus(bid.status), target, ALLOWED_BID_TRANSITIONS)
    bid.status = target
    bid.status_reason = reason
    bid.status_details = to_json_value(details) if details is not None else None
    bid.updated_at = clock.utcnow()
    await session.flush()
    await append(session, stream=events.bid_stream(bid.id), event_type=event_type, actor=actor,
                 payload=events.status_payload(bid))


async def _own_active_bid(session: AsyncSession, actor: Actor, bid_id: int, change: str) -> Bid:
    bid = await session.get(Bid, bid_id)
    if bid is None or actor.party_id is None or bid.party_id != actor.party_id:
        raise NotFound(f"bid {bid_id} does not exist")
    check_lot_accepts_bids(await load_lot(session, bid.lot_id))
    if bid.status != BidStatus.SUBMITTED:
        raise Conflict(f"bid {bid_id} is {bid.status}; only a submitted bid can be {change}")
    return bid


async def _checked_submission(
    session: AsyncSession, actor: Actor, lot: Lot, data: BidSubmit, services: BidServices
) -> tuple[Party, Upload, str]:
    """Every check of a submission, in the order a bidder can act on; nothing is written."""
    if actor.party_id is None:
        raise RuleViolation("only a bidder acting for a party can submit a bid", rule="bidder_party")
    check_lot_accepts_bids(lot)
    party = await session.get(Party, actor.party_id)
    assert party is not None
    upload = await read_upload(session, actor, data.upload_id)
    if upload.lot_id != lot.id:
        raise InvalidInput(f"upload {upload.id} was made for lot {upload.lot_id}, not lot {lot.id}",
                           [FieldError("$.upload_id", "an upload for another lot")])
    if upload.status != UploadStatus.COMPLETE:
        if upload.status == UploadStatus.SUBMITTED:
            raise Conflict(f"upload {upload.id} was already submitted as a bid; upload the envelope again")
        raise Conflict(f"upload {upload.id} is incomplete: {upload.received} of {upload.declared_size} bytes "
                       f"received; send the rest from offset {upload.received}")
    refusal = await bidding_refusal(session, party.id, on=clock.utcnow().date(), lot=lot)  # type: ignore[arg-type]
    if refusal:
        raise RuleViolation(f"this party may not bid: {refusal}", rule="bidder_eligible")
    signer = await _checked_signature(session, party, lot, upload.declared_sha256, data.signature, services)
    return party, upload, signer


async def _checked_signature(session: AsyncSession, party: Party, lot: Lot, envelope_sha256: str,
                             signature_b64: str, services: BidServices) -> SignerKey:
    """The signature is over this lot and envelope, by a certificate that validates now and
    names this party; returns the certificate's fingerprint and its public key's digest."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        check = verify_detached(bid_statement(lot.code, envelope_sha256), signature)
    except (binascii.Error, ValueError, SignatureFormatError) as error:
        raise InvalidInput(f"the signature is not a base64 detached CMS signature: {error}",
                           [FieldError("$.signature", "not a detached CMS signature")]) from None
    if not check.valid:
        raise InvalidInput(
            f"the signature does not verify over the bid statement for lot {lot.code} and envelope "
            f"{envelope_sha256}: {check.reason}", [FieldError("$.signature", "does not verify")])
    certificate = as_asn1(check.signer_cert)
    validator = await certificate_validator(session, services.revocation)
    report = await validator.validate(certificate, usage=Usage.SIGNING,
                                      extra_certs=[as_asn1(c) for c in check.other_certs])
    if report.indication is not Indication.TOTAL_PASSED:
        raise RuleViolation(f"the signing certificate is not valid ({report.indication}, {report.subindication}): "
                            f"{report.detail}", rule="bidder_certificate")
    uscc = (report.identity or {}).get("uscc")
    if uscc != party.uscc:
        raise RuleViolation(f"the signing certificate names the organisation with credit code {uscc}, not your "
                            f"party {party.name} ({party.uscc})", rule="bidder_certificate")
    return SignerKey(summarize(certificate).fingerprint, public_key_sha256(certificate))


class SignerKey(NamedTuple):
    """The submitting certificate, and its key: one key certified for two parties is a
    collusion sign the certificate fingerprints alone would miss."""

    fingerprint: str
    key_sha256: str


async def _store_bid(session: AsyncSession, actor: Actor, lot: Lot, party: Party, upload: Upload, signer: SignerKey,
                     services: BidServices, *, replaces: Bid | None) -> Bid:
    """Blob, time-stamp, row and ledger entry; the blob is taken back if anything fails.

    The completed spool file is moved into the blob store, not copied: its SHA-256 was
    verified when its last chunk arrived, and no chunk is taken once it is complete. If
    anything fails afterwards, the file goes back to the spool, so the same upload can be
    submitted again.
    """
    sha256 = upload.declared_sha256
    spooled = services.spool.path(upload.id)
    was_stored = await asyncio.to_thread(services.blobs.exists, sha256)
    adopted = False
    try:
        if not was_stored:  # else the spool file is dropped after the commit, as below
            await _adopt(services.blobs, spooled, upload)
            adopted = True
        token = await asyncio.to_thread(services.tsa.stamp_digest, bytes.fromhex(sha256))
        now = clock.utcnow()
        if replaces is not None:  # first, so that the new row is the only active one
            check_transition(f"bid {replaces.id}", BidStatus(replaces.status), BidStatus.REPLACED,
                             ALLOWED_BID_TRANSITIONS)
            replaces.status, replaces.status_reason, replaces.updated_at = BidStatus.REPLACED, "replaced by the bidder", now
            await session.flush()
        bid = Bid(lot_id=lot.id, party_id=party.id, submitted_by=actor.user_id, status=BidStatus.SUBMITTED,  # type: ignore[arg-type]
                  envelope_sha256=sha256, envelope_size=upload.declared_size, cert_fingerprint=signer.fingerprint,
                  signer_key_sha256=signer.key_sha256,
                  submitted_at=now, timestamp_token=token, replaces_bid_id=replaces.id if replaces else None,
                  updated_at=now)
        session.add(bid)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(f"your party already has an active bid for lot {lot.code}: replace or withdraw it") from None
        if replaces is not None:
            replaces.status_details = {"replaced_by_bid_id": bid.id}
            await session.flush()
            await append(session, stream=events.bid_stream(replaces.id), event_type=events.BID_REPLACED, actor=actor,
                         payload=events.status_payload(replaces))
        entry = await append(session, stream=events.bid_stream(bid.id), event_type=events.BID_SUBMITTED, actor=actor,
                             payload=events.submitted_payload(bid, lot.code))
        bid.ledger_seq = entry.seq
        upload.status = UploadStatus.SUBMITTED
        upload.updated_at = now
        await session.flush()
    except BaseException:
        if adopted:
            await asyncio.to_thread(services.blobs.release_file, sha256, spooled)
        raise

    async def drop_spool_file() -> None:
        await asyncio.to_thread(services.spool.remove, upload.id)

    after_commit(session, drop_spool_file)
    return bid


async def _adopt(blobs: BlobStore, spooled: Path, upload: Upload) -> None:
    try:
        await asyncio.to_thread(blobs.adopt_file, spooled, upload.declared_sha256, upload.declared_size)
    except (FileNotFoundError, BlobSizeMismatch):
        raise Conflict(f"the file of upload {upload.id} is no longer on the server as it was completed "
                       "(abandoned uploads are purged); upload the envelope again") from None

"""Decryption at the opening: bidders' content keys, and the custodians' fallback.

A bidder unwraps its envelope's content key on its own machine (its private key never
leaves it) and hands the platform that key alone, within the decryption window
(:func:`hand_over_content_key`). The platform decrypts the envelope from the blob store
with it (``ca_interop.envelopes.open_with_content_key``: plaintext only once the GCM tag
verifies), reads the opening sheet, stores the plaintext package as a blob — the opening
has happened — and fills the bidder's row of the record. A key that does not open the
envelope is refused with a clear error; the attempt is recorded and the bidder may try
again while the window is open.

Where the tender documents allow it (``Lot.custodian_fallback``), bids not decrypted by
the window's end are opened with the lot's opening key: k custodians each decrypt their
share on their own machine and hand it over (:func:`hand_over_key_share`); with k shares
the platform rebuilds the key in memory, unwraps each waiting bid's content key through
the opening-certificate recipient and opens it. The key is never stored; the shares are
erased once it has been rebuilt.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.envelopes import (
    EnvelopeError,
    WrongContentKey,
    envelope_head,
    load_certificate,
    open_with_content_key,
    unwrap_content_key,
)
from ca_interop.opening_keys import (
    OpeningKeyError,
    OpeningKeyRecord,
    Share,
    recover_opening_key,
)
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.usecases import use_case
from trading import opening_events as events
from trading.bid_models import Bid
from trading.bid_package import BidPackageError, OpeningSheet, read_opening_sheet
from trading.bids import set_bid_status
from trading.models import Lot, Project
from trading.opening_models import (
    CustodianShare,
    DecryptionAttempt,
    Opening,
    OpeningRow,
)
from trading.opening_record import (
    bidder_row,
    decided_now,
    opening_of,
    require_status,
    rows_of,
    settle_if_decided,
)
from trading.opening_schemas import (
    DecryptionMethod,
    KeyHandover,
    KeyHandoverOut,
    OpeningRowOut,
    OpeningStatus,
    RowOutcome,
    ShareHandover,
    ShareHandoverOut,
)

WINDOW_RULE = "trading.decryption_window"
CUSTODIANS = frozenset({Role.CENTER_STAFF, Role.TENDERER, Role.AGENCY})


@dataclass(frozen=True)
class OpenedPackage:
    sha256: str
    size: int
    sheet: OpeningSheet | None
    problem: str | None


# --- opening one envelope (blocking work, run in a thread) ----------------------------------


def _open_and_store(blobs: BlobStore, envelope: Path, content_key: bytes, work: Path, segment: str,
                    lot_code: str) -> OpenedPackage:
    """Decrypt into ``work``, read the sheet, store the package as a blob."""
    package = work / "package.zip"
    open_with_content_key(envelope, content_key, package)
    try:
        sheet, problem = read_opening_sheet(package, segment=segment, lot_code=lot_code), None
    except BidPackageError as error:
        sheet, problem = None, error.detail
    stored = blobs.put_file(package)
    return OpenedPackage(stored.sha256, stored.size, sheet, problem)


async def open_bid_package(blobs: BlobStore, bid: Bid, lot: Lot, segment: str, content_key: bytes) -> OpenedPackage:
    """Open ``bid``'s envelope with ``content_key``; raises :class:`WrongContentKey` (or
    another :class:`EnvelopeError`) and leaves nothing behind when it does not open."""
    work_root = blobs.tmp_dir
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=work_root, prefix="opening-"))
    try:
        return await asyncio.to_thread(_open_and_store, blobs, blobs.path_for(bid.envelope_sha256), content_key,
                                       work, segment, lot.code)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _mark_opened(row: OpeningRow, opened: OpenedPackage, method: DecryptionMethod) -> OpeningRow:
    decided_now(row, RowOutcome.OPENED, problem=opened.problem)
    row.method = method
    row.package_sha256, row.package_size = opened.sha256, opened.size
    if opened.sheet is not None:
        row.total_price, row.sheet_items = opened.sheet.total_price, dict(opened.sheet.items)
    return row


async def _lot_and_segment(session: AsyncSession, opening: Opening) -> tuple[Lot, str]:
    lot, project = await session.get(Lot, opening.lot_id), await session.get(Project, opening.project_id)
    assert lot is not None and project is not None
    return lot, project.segment


# --- the bidder's content key ------------------------------------------------------------------


async def _own_pending_bid(session: AsyncSession, actor: Actor, opening: Opening, bid_id: int) -> tuple[Bid, OpeningRow]:
    row = (await session.scalars(sa.select(OpeningRow).where(OpeningRow.opening_id == opening.id,
                                                             OpeningRow.bid_id == bid_id))).first()
    bid = await session.get(Bid, bid_id)
    if row is None or bid is None:
        raise NotFound(f"bid {bid_id} is not among the bids at the opening of lot {opening.lot_id}")
    if bid.party_id != actor.party_id:
        raise PermissionDenied(f"bid {bid_id} is another bidder's; hand over the content key of your own bid only")
    if row.outcome != RowOutcome.PENDING:
        raise Conflict(f"bid {bid_id} was already decided at this opening ({row.outcome} at "
                       f"{rfc3339(row.decided_at)})")  # type: ignore[arg-type]
    return bid, row


@use_case("trading.hand_over_content_key", {Role.BIDDER})
async def hand_over_content_key(session: AsyncSession, actor: Actor, lot_id: int, data: KeyHandover, *,
                                blobs: BlobStore) -> KeyHandoverOut:
    """Open the bidder's own bid with the content key it hands over. A key that does not
    open it is recorded as a failed attempt and reported (``accepted`` false): the caller
    commits, then tells the bidder, who may try again within the window."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_status(opening, OpeningStatus.DECRYPTING, doing="handing over a content key")
    now = utcnow()
    if now > ensure_utc(opening.window_ends_at):  # type: ignore[arg-type]
        raise RuleViolation(f"the decryption window closed at {rfc3339(opening.window_ends_at)}; "  # type: ignore[arg-type]
                            f"it is {rfc3339(now)}", rule=WINDOW_RULE)
    bid, row = await _own_pending_bid(session, actor, opening, data.bid_id)
    lot, segment = await _lot_and_segment(session, opening)
    attempt = DecryptionAttempt(opening_id=opening.id, bid_id=bid.id, user_id=actor.user_id,  # type: ignore[arg-type]
                                cert_fingerprint=actor.cert_fingerprint, succeeded=False, attempted_at=now)
    try:
        opened = await open_bid_package(blobs, bid, lot, segment, data.key_bytes)
    except EnvelopeError as error:
        attempt.reason = error.detail
        row.failed_attempts += 1
        session.add_all([attempt, row])
        await events.record(session, actor, opening, events.KEY_REFUSED, rows=[row, attempt], bid_id=bid.id,
                            reason=error.detail)
        return KeyHandoverOut(accepted=False, detail=error.detail, row=OpeningRowOut.model_validate(row))
    attempt.succeeded = True
    _mark_opened(row, opened, DecryptionMethod.BIDDER_KEY)
    session.add_all([attempt, row])
    await set_bid_status(session, actor, bid, "opened", reason="decrypted at the opening with the bidder's key",
                         details={"package_sha256": opened.sha256})
    await settle_if_decided(session, opening)
    await events.record(session, actor, opening, events.KEY_ACCEPTED, rows=[row, attempt], bid_id=bid.id,
                        package_sha256=opened.sha256)
    detail = "opened" if opened.problem is None else f"opened, but the opening sheet cannot be read: {opened.problem}"
    return KeyHandoverOut(accepted=True, detail=detail, row=OpeningRowOut.model_validate(row))


@use_case("trading.read_envelope_head", {Role.BIDDER})
async def read_envelope_head(session: AsyncSession, actor: Actor, lot_id: int, bid_id: int, *,
                             blobs: BlobStore) -> bytes:
    """The recipient infos of the bidder's own envelope: all it needs to unwrap its key."""
    opening = await opening_of(session, lot_id)
    await bidder_row(session, actor, opening)
    bid = await session.get(Bid, bid_id)
    if bid is None or bid.lot_id != lot_id:
        raise NotFound(f"bid {bid_id} is not a bid for lot {lot_id}")
    if bid.party_id != actor.party_id:
        raise PermissionDenied(f"bid {bid_id} is another bidder's")
    return await asyncio.to_thread(envelope_head, blobs.path_for(bid.envelope_sha256))


# --- the custodians' fallback -----------------------------------------------------------------


def _custodian_share(record: OpeningKeyRecord, data: ShareHandover, lot: Lot) -> tuple[str, str]:
    try:
        certificate = load_certificate(data.custodian_certificate.encode("utf-8"))
    except (EnvelopeError, ValueError) as error:
        raise InvalidInput(f"the custodian certificate cannot be read: {error}",
                           [FieldError("$.custodian_certificate", "not a certificate")]) from None
    fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    share = next((s for s in record.shares if s.custodian_fingerprint == fingerprint), None)
    if share is None:
        raise PermissionDenied(f"certificate {fingerprint} ({certificate.subject.rfc4514_string()}) is not one of the "
                               f"custodians of the opening key of lot {lot.code}")
    if share.index != data.index:
        raise InvalidInput(f"the share of {share.custodian_subject} is share {share.index}, not {data.index}",
                           [FieldError("$.index", f"expected {share.index}")])
    return fingerprint, share.custodian_subject


@use_case("trading.hand_over_key_share", CUSTODIANS)
async def hand_over_key_share(session: AsyncSession, actor: Actor, lot_id: int, data: ShareHandover, *,
                              blobs: BlobStore) -> ShareHandoverOut:
    """A custodian hands over its decrypted share; the k-th opens the waiting bids."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_status(opening, OpeningStatus.FALLBACK, doing="handing over a key share")
    lot, segment = await _lot_and_segment(session, opening)
    record = OpeningKeyRecord.from_dict(lot.opening_key)  # type: ignore[arg-type]
    fingerprint, subject = _custodian_share(record, data, lot)
    handed = list((await session.scalars(sa.select(CustodianShare)
                                         .where(CustodianShare.opening_id == opening.id))).all())
    for earlier in handed:
        if earlier.share_index == data.index:
            raise Conflict(f"share {data.index} ({subject}) was handed over at {rfc3339(earlier.handed_at)}")
        if earlier.user_id == actor.user_id:
            raise Conflict(f"you handed over share {earlier.share_index} already; each custodian hands over one")
    share = CustodianShare(opening_id=opening.id, share_index=data.index, custodian_fingerprint=fingerprint,  # type: ignore[arg-type]
                           custodian_subject=subject[:300], user_id=actor.user_id, value=data.value_bytes,
                           handed_at=utcnow())
    session.add(share)
    await events.record(session, actor, opening, events.SHARE_HANDED, rows=[share], index=data.index,
                        custodian=subject)
    held = [s for s in [*handed, share] if s.value is not None]
    if len(held) < record.threshold:
        return ShareHandoverOut(shares_held=len(held), threshold=record.threshold, opened_bid_ids=[],
                                detail=f"{record.threshold - len(held)} more share(s) needed")
    return await _open_with_custodian_key(session, actor, opening, lot, segment, record, held, blobs)


async def _open_with_custodian_key(session: AsyncSession, actor: Actor, opening: Opening, lot: Lot, segment: str,
                                   record: OpeningKeyRecord, held: list[CustodianShare],
                                   blobs: BlobStore) -> ShareHandoverOut:
    try:
        key = await asyncio.to_thread(recover_opening_key, record,
                                      [Share(s.share_index, s.value) for s in held])  # type: ignore[arg-type]
    except OpeningKeyError as error:
        await events.record(session, actor, opening, events.FALLBACK_FAILED, reason=error.detail)
        return ShareHandoverOut(shares_held=len(held), threshold=record.threshold, opened_bid_ids=[],
                                detail=f"the opening key cannot be rebuilt yet: {error.detail}")
    changed: list[Any] = []
    opened_ids: list[int] = []
    try:
        for row in [r for r in await rows_of(session, opening) if r.outcome == RowOutcome.PENDING]:
            changed.append(await _open_by_custodian_key(session, actor, row, lot, segment, record, key, blobs))
            if row.outcome == RowOutcome.OPENED:
                opened_ids.append(row.bid_id)
    finally:
        del key  # in memory only, for this step only
    now = utcnow()
    for share in held:
        share.value, share.used_at = None, now
        session.add(share)
        changed.append(share)
    await settle_if_decided(session, opening)
    await events.record(session, actor, opening, events.FALLBACK_OPENED, rows=changed, opened_bid_ids=opened_ids)
    return ShareHandoverOut(shares_held=0, threshold=record.threshold, opened_bid_ids=opened_ids,
                            detail=f"the opening key was rebuilt; {len(opened_ids)} bid(s) opened with it")


async def _open_by_custodian_key(session: AsyncSession, actor: Actor, row: OpeningRow, lot: Lot, segment: str,
                                 record: OpeningKeyRecord, key: Any, blobs: BlobStore) -> OpeningRow:
    bid = await session.get(Bid, row.bid_id)
    assert bid is not None
    try:
        content_key = await asyncio.to_thread(unwrap_content_key, blobs.path_for(bid.envelope_sha256), key,
                                              record.certificate)
        opened = await open_bid_package(blobs, bid, lot, segment, content_key)
    except (EnvelopeError, WrongContentKey) as error:
        reason = f"the envelope cannot be opened with the lot's opening key either (the bidder's fault): {error.detail}"
        decided_now(row, RowOutcome.REVOKED, problem=reason)
        await set_bid_status(session, actor, bid, "revoked", reason=reason)
    else:
        _mark_opened(row, opened, DecryptionMethod.CUSTODIAN_KEY)
        await set_bid_status(session, actor, bid, "opened", reason="decrypted at the opening with the custodians' key",
                             details={"package_sha256": opened.sha256})
    session.add(row)
    return row



@use_case("trading.read_opening_key_record", CUSTODIANS | {Role.BIDDER, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
async def read_opening_key_record(session: AsyncSession, actor: Actor, lot_id: int) -> dict[str, Any]:
    """The lot's opening-key record (public: the certificate, the sealed shares, the
    threshold), from which each custodian takes its own share to decrypt at home."""
    lot = await session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id}")
    if lot.opening_key is None:
        raise NotFound(f"lot {lot.code} has no opening key (no custodian fallback)")
    return dict(lot.opening_key)

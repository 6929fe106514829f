"""Builders for opening tests: real sealed bids of real bid packages, in the blob store.

A bid here is what a bidder's client makes: a bid package (ZIP with its opening sheet),
sealed with ``ca_interop.envelopes.seal`` to the bidder's encryption certificate and the
lot's opening certificate, stored as a blob, and a ``submitted`` Bid row pointing at it
(the rows are written directly, so opening tests do not depend on the upload workflow).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.certificates import as_asn1, summarize
from ca_interop.envelopes import seal, unwrap_content_key
from ca_interop.opening_keys import decrypt_share
from ca_interop.signatures import sign_detached
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import utcnow
from tests.factories import actor_of, make_user
from tests.trading.factories import (
    Bidder,
    OpenLot,
    TradingCA,
    make_bidder,
    open_lot,
    trusted_ca,
)
from trading.bid_models import Bid
from trading.bid_package import OpeningSheet, make_bid_package
from trading.opening_schemas import KeyHandover, RecordSignature, ShareHandover

_serial = itertools.count(1)
ITEMS = {"duration_days": 365, "quality": "合格", "project_manager": "张三", "validity_days": 90}


@dataclass
class SealedBid:
    bid: Bid
    bidder: Bidder
    envelope: Path
    sheet: OpeningSheet | dict[str, Any]

    def content_key(self) -> bytes:
        """What the bidder's client unwraps on the bidder's machine."""
        return unwrap_content_key(self.envelope, self.bidder.encryption.key, self.bidder.encryption.cert)

    def handover(self) -> KeyHandover:
        return KeyHandover(bid_id=self.bid.id, content_key=base64.b64encode(self.content_key()).decode())  # type: ignore[arg-type]


@dataclass
class OpeningScene:
    tender: OpenLot
    ca: TradingCA
    host: Actor
    bids: list[SealedBid] = field(default_factory=list)

    @property
    def lot_id(self) -> int:
        return self.tender.lot.id  # type: ignore[return-value]


async def seal_bid(session: AsyncSession, blobs: BlobStore, tender: OpenLot, bidder: Bidder, directory: Path, *,
                   price: Decimal | str = Decimal("11800000.00"), sheet: dict[str, Any] | None = None,
                   to_opening_certificate: bool = True, package_bytes: bytes | None = None) -> SealedBid:
    """A sealed bid of ``bidder`` for ``tender``'s lot, stored and ``submitted``."""
    serial = next(_serial)
    directory.mkdir(parents=True, exist_ok=True)
    package = directory / f"bid-{serial}.zip"
    opening_sheet: OpeningSheet | dict[str, Any] = sheet if sheet is not None else OpeningSheet(
        lot_code=tender.lot.code, total_price=Decimal(price), items=ITEMS)
    if package_bytes is not None:
        package.write_bytes(package_bytes)
    else:
        make_bid_package(package, opening_sheet, {"technical.pdf": b"%PDF-1.7 technical proposal " * 100})
    recipients = [bidder.encryption.cert]
    if to_opening_certificate and tender.opening_key is not None:
        recipients.append(tender.opening_key.certificate)
    envelope = directory / f"bid-{serial}.der"
    seal(package, recipients, envelope)
    stored = blobs.put_file(envelope)
    now = utcnow()
    bid = Bid(lot_id=tender.lot.id, party_id=bidder.party.id, submitted_by=bidder.user.id,  # type: ignore[arg-type]
              status="submitted", envelope_sha256=stored.sha256, envelope_size=stored.size,
              cert_fingerprint=summarize(as_asn1(bidder.signing.cert)).fingerprint, submitted_at=now, updated_at=now)
    session.add(bid)
    await session.flush()
    return SealedBid(bid=bid, bidder=bidder, envelope=envelope, sheet=opening_sheet)


async def opening_scene(session: AsyncSession, blobs: BlobStore, directory: Path, *, bidders: int = 3,
                        deadline_in: timedelta = timedelta(minutes=-1), **lot_options: Any) -> OpeningScene:
    """A lot whose deadline passed (by default), ``bidders`` sealed bids, a host."""
    tender = await open_lot(session, deadline=utcnow() + deadline_in, **lot_options)
    ca = await trusted_ca(session)
    host = actor_of(await make_user(session, Role.CENTER_STAFF))
    scene = OpeningScene(tender=tender, ca=ca, host=host)
    for index in range(bidders):
        bidder = await make_bidder(session, ca, name=f"Bidder {index + 1} Construction Co., Ltd.")
        scene.bids.append(await seal_bid(session, blobs, tender, bidder, directory,
                                         price=Decimal("11000000.00") + index * Decimal("250000.55")))
    return scene


def signed_record(bidder: Bidder, record: bytes, ca: TradingCA) -> RecordSignature:
    """The bidder's confirmation: a detached CMS signature over the record's bytes."""
    signature = sign_detached(record, bidder.signing.key, bidder.signing.cert, chain=[ca.ca.cert])
    return RecordSignature(signature=base64.b64encode(signature).decode())


def custodian_handover(tender: OpenLot, index: int) -> ShareHandover:
    """What custodian ``index`` (0-based) hands over after decrypting its share locally."""
    custodian = tender.custodians[index]
    assert tender.opening_key is not None
    share = decrypt_share(tender.opening_key.share_for(custodian.cert), custodian.key, custodian.cert)
    return ShareHandover(index=share.index, value=base64.b64encode(share.value).decode(),
                         custodian_certificate=custodian.cert_pem.decode())

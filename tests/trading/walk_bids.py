"""Permission-walk entries of this trading concern (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import Usage
from ca_interop.platform_keys import Ed25519PlatformSigner
from ca_interop.timestamps import TimestampAuthority
from core.actors import Actor, Role
from core.blobs import BlobStore
from identities.models import Party, User
from tests.factories import actor_of, make_party, make_user
from tests.trading.bid_factories import (
    completed_upload,
    demo_tsa,
    sealed_envelope,
    sign_statement,
    submitted_bid,
)
from tests.trading.factories import Bidder, TradingCA, make_bidder, open_lot, trusted_ca
from trading import bid_bonds, bid_receipts, bids, parties, uploads
from trading.bid_schemas import (
    BidSubmit,
    BidWithdraw,
    BondRecord,
    CreditRecordCreate,
    CreditRecordEnd,
    QualificationCreate,
    UploadCreate,
)
from trading.bid_states import BondForm
from trading.states import CreditKind

Call = Callable[[AsyncSession, Actor], Awaitable[Any]]


@cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="walk-bids-"))


@cache
def _tsa() -> TimestampAuthority:
    return demo_tsa()


@cache
def _signer() -> Ed25519PlatformSigner:
    return Ed25519PlatformSigner(Ed25519PrivateKey.generate())


def _services(ca: TradingCA) -> bids.BidServices:
    return bids.BidServices(blobs=BlobStore(_workdir() / "blobs"), tsa=_tsa(), revocation=ca.revocation,
                            spool=uploads.UploadSpool(_workdir() / "uploads"), signer=_signer())


async def _as_bidder(session: AsyncSession, actor: Actor, ca: TradingCA) -> Bidder:
    """``actor`` as a bidder with certificates for its party; for other roles a fresh bidder
    (whose work the refused call never reaches)."""
    if Role.BIDDER not in actor.roles:
        return await make_bidder(session, ca)
    party = await session.get(Party, actor.party_id)
    user = await session.get(User, actor.user_id)
    assert party is not None and user is not None
    signing = ca.ca.issue(party.name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
    encryption = ca.ca.issue(party.name, usage=Usage.ENCRYPTION, uscc=party.uscc, organization=party.name)
    return Bidder(user=user, party=party, actor=actor, signing=signing, encryption=encryption)


async def _with_bid(session: AsyncSession, actor: Actor, act: Callable[[Any, bids.BidServices], Awaitable[Any]]) -> Any:
    """A bid by ``actor``'s party when it is a bidder (else by another party), then ``act``."""
    ca = await trusted_ca(session)
    services = _services(ca)
    lot = await open_lot(session)
    bidder = await _as_bidder(session, actor, ca)
    bid = await submitted_bid(session, services, bidder, lot, _workdir())
    return await act(bid, services)


async def _submission(session: AsyncSession, actor: Actor, replace: bool) -> Any:
    ca = await trusted_ca(session)
    services = _services(ca)
    lot = await open_lot(session)
    bidder = await _as_bidder(session, actor, ca)
    old = await submitted_bid(session, services, bidder, lot, _workdir()) if replace else None
    envelope = sealed_envelope(_workdir() / f"walk-{bidder.party.id}", bidder, lot)
    upload = await completed_upload(session, services.spool, bidder, lot.lot.id, envelope)  # type: ignore[arg-type]
    data = BidSubmit(upload_id=upload.id, signature=sign_statement(bidder, lot.lot.code, envelope.sha256))
    if old is not None:
        return await bids.replace_bid(session, actor, old.id, data, services)  # type: ignore[arg-type]
    return await bids.submit_bid(session, actor, lot.lot.id, data, services)  # type: ignore[arg-type]


async def _upload(session: AsyncSession, actor: Actor, act: Callable[[Any], Awaitable[Any]]) -> Any:
    ca = await trusted_ca(session)
    lot = await open_lot(session)
    bidder = await _as_bidder(session, actor, ca)
    spool = uploads.UploadSpool(_workdir() / "uploads")
    upload = await uploads.create_upload(session, bidder.actor, lot.lot.id, UploadCreate(size=100, sha256="a" * 64),
                                         max_bytes=1 << 20, spool=spool)
    return await act(upload)


async def _with_bond(session: AsyncSession, actor: Actor, act: Callable[[Any], Awaitable[Any]]) -> Any:
    lot = await open_lot(session)
    bidder = await make_user(session, Role.BIDDER)
    bond = await bid_bonds.record_bid_bond(session, actor_of(bidder), lot.lot.id, _BOND)  # type: ignore[arg-type]
    return await act(bond)


async def _with_record(session: AsyncSession, actor: Actor) -> Any:
    party = await make_party(session)
    regulator = await make_user(session, Role.REGULATOR)
    record = await parties.record_credit(session, actor_of(regulator), party.id, _BLACKLIST)  # type: ignore[arg-type]
    return await parties.end_credit_record(session, actor, record.id, CreditRecordEnd(end_date=date(2021, 1, 1)))  # type: ignore[arg-type]


async def _own_credit(session: AsyncSession, actor: Actor) -> Any:
    party_id = actor.party_id or (await make_party(session)).id
    return await parties.read_party_credit(session, actor, party_id)  # type: ignore[arg-type]


_BOND = BondRecord(form=BondForm.GUARANTEE, reference="BG-2026-001", amount=Decimal("200000.00"))
_BLACKLIST = CreditRecordCreate(kind=CreditKind.BLACKLIST, reason="bid rigging", authority="Walk Authority",
                                start_date=date(2020, 1, 1))
_QUALIFICATION = QualificationCreate(kind="survey", grade="A", certificate_number="W-1", expires_on=date(2030, 1, 1))

CALLS: dict[str, Call] = {
    "trading.record_qualification": lambda s, a: _on_party(s, lambda p: parties.record_qualification(
        s, a, p.id, _QUALIFICATION)),
    "trading.record_credit": lambda s, a: _on_party(s, lambda p: parties.record_credit(s, a, p.id, _BLACKLIST)),
    "trading.end_credit_record": _with_record,
    "trading.read_party_credit": _own_credit,
    "trading.create_upload": lambda s, a: _with_lot(s, lambda lot: uploads.create_upload(
        s, a, lot.lot.id, UploadCreate(size=100, sha256="a" * 64), max_bytes=1 << 20,
        spool=uploads.UploadSpool(_workdir() / "uploads"))),
    "trading.read_upload": lambda s, a: _upload(s, a, lambda u: uploads.read_upload(s, a, u.id)),
    "trading.upload_chunk": lambda s, a: _upload(s, a, lambda u: uploads.prepare_chunk(s, a, u.id, 0, 0)),
    "trading.submit_bid": lambda s, a: _submission(s, a, replace=False),
    "trading.replace_bid": lambda s, a: _submission(s, a, replace=True),
    "trading.withdraw_bid": lambda s, a: _with_bid(s, a, lambda b, _: bids.withdraw_bid(s, a, b.id, BidWithdraw())),
    "trading.get_bid": lambda s, a: _with_bid(s, a, lambda b, _: bids.get_bid(s, a, b.id)),
    "trading.list_bids": lambda s, a: _with_bid(s, a, lambda b, _: bids.list_bids(s, a, b.lot_id)),
    "trading.bid_receipt": lambda s, a: _with_bid(s, a, lambda b, services: bid_receipts.bid_receipt(
        s, a, b.id, services.signer)),
    "trading.record_bid_bond": lambda s, a: _with_lot(s, lambda lot: bid_bonds.record_bid_bond(s, a, lot.lot.id, _BOND)),
    "trading.verify_bid_bond": lambda s, a: _with_bond(s, a, lambda bond: bid_bonds.verify_bid_bond(s, a, bond.id)),
    "trading.list_bid_bonds": lambda s, a: _with_bond(s, a, lambda bond: bid_bonds.list_bid_bonds(s, a, bond.lot_id)),
}


async def _with_lot(session: AsyncSession, act: Callable[[Any], Awaitable[Any]]) -> Any:
    return await act(await open_lot(session))


async def _on_party(session: AsyncSession, act: Callable[[Any], Awaitable[Any]]) -> Any:
    return await act(await make_party(session))


"""Builders for award, contract and archive tests.

``evaluated_lot`` starts from ``factories.open_lot`` and writes the rest directly: opened
bids (with their envelopes in the blob store and their submission entries in the ledger)
and the lot in evaluation, as the opening would leave it. The steps after that go through
the award's own use cases (``to_publicity``, ``to_awarded``, ``to_contracted``).
"""

from __future__ import annotations

import functools
import itertools
import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import docx
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_seal import PlatformSeal, write_demo_platform_seal
from ca_interop.signatures import sign_detached
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import travel, utcnow
from supervision.ledger.append import append
from tests.factories import actor_of, make_user
from tests.trading.factories import (
    Bidder,
    OpenLot,
    TradingCA,
    make_bidder,
    open_lot,
    trusted_ca,
)
from trading import award, award_notice, contracts
from trading.award_models import Award
from trading.award_schemas import CandidateIn, CandidateList, WinnerConfirmation
from trading.bid_events import BID_SUBMITTED, bid_stream, submitted_payload
from trading.bid_models import Bid
from trading.states import LotStatus

_serial = itertools.count(1)
PRICES = (Decimal("10450000.00"), Decimal("10980000.00"), Decimal("11200000.00"), Decimal("11500000.00"))
SCORES = (Decimal("92.50"), Decimal("90.25"), Decimal("88.00"), Decimal("80.00"))


@functools.cache
def demo_seal() -> PlatformSeal:
    """One demo platform seal for the whole test run (its CA's CRL is not published)."""
    directory = Path(tempfile.mkdtemp(prefix="platform-seal-"))
    return write_demo_platform_seal(directory / "seal.key", directory / "seal-chain.pem")


def install_platform_seal(runtime) -> PlatformSeal:  # type: ignore[no-untyped-def]
    """Write a demo seal where the runtime's settings look for it, its CRL in the mirror."""
    settings = runtime.settings
    return write_demo_platform_seal(settings.resolved_platform_seal_key_file,
                                    settings.resolved_platform_seal_cert_file,
                                    crl_mirror_dir=settings.resolved_revocation_mirror_dir)


def blob_store() -> BlobStore:
    return BlobStore(Path(tempfile.mkdtemp(prefix="award-blobs-")))


@dataclass
class EvaluatedLot:
    made: OpenLot
    ca: TradingCA
    bidders: list[Bidder]
    bids: list[Bid]
    staff: Actor

    @property
    def lot_id(self) -> int:
        return self.made.lot.id  # type: ignore[return-value]

    @property
    def tenderer(self) -> Actor:
        return self.made.tenderer

    def candidates(self, count: int = 3) -> CandidateList:
        return CandidateList(candidates=[CandidateIn(bid_id=bid.id, price=PRICES[i], score=SCORES[i])  # type: ignore[arg-type]
                                         for i, bid in enumerate(self.bids[:count])])


async def evaluated_lot(session: AsyncSession, blobs: BlobStore, *, bidders: int = 3,
                        acting: Actor | None = None) -> EvaluatedLot:
    """A construction lot in evaluation with ``bidders`` opened bids.

    With ``acting`` (an actor of a party role), that actor's party plays its part: the
    tenderer, the agency, or the first bidder (the future winner)."""
    made = await open_lot(session, custodian_fallback=False, deadline=utcnow() - timedelta(hours=2))
    ca = await trusted_ca(session)
    staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    people = [await make_bidder(session, ca, f"Bidder {next(_serial)} Co., Ltd.") for _ in range(bidders)]
    if acting is not None and acting.has_any({Role.TENDERER}):
        made.project.tenderer_party_id, made.tenderer = acting.party_id, acting  # type: ignore[assignment]
    elif acting is not None and acting.has_any({Role.AGENCY}):
        made.project.agency_party_id, made.tenderer = acting.party_id, acting
    elif acting is not None and acting.has_any({Role.BIDDER}):
        people[0] = await bidder_of(session, ca, acting)
    bids = []
    for bidder in people:
        envelope = await blobs.put_bytes(os.urandom(2048))
        now = utcnow()
        bid = Bid(lot_id=made.lot.id, party_id=bidder.party.id, submitted_by=bidder.user.id, status="submitted",  # type: ignore[arg-type]
                  envelope_sha256=envelope.sha256, envelope_size=envelope.size, cert_fingerprint="0" * 64,
                  submitted_at=now, updated_at=now)
        session.add(bid)
        await session.flush()
        entry = await append(session, stream=bid_stream(bid.id), event_type=BID_SUBMITTED, actor=bidder.actor,
                             payload=submitted_payload(bid, made.lot.code))
        bid.ledger_seq, bid.status = entry.seq, "opened"
        bids.append(bid)
    made.lot.status = LotStatus.EVALUATING
    session.add(made.lot)
    await session.flush()
    return EvaluatedLot(made=made, ca=ca, bidders=people, bids=bids, staff=staff)


async def bidder_of(session: AsyncSession, ca: TradingCA, actor: Actor) -> Bidder:
    """The bidder ``actor`` acts for, with certificates for its party."""
    from ca_interop.demo_pki import Usage
    from identities.models import Party, User

    user, party = await session.get(User, actor.user_id), await session.get(Party, actor.party_id)
    assert user is not None and party is not None
    signing = ca.ca.issue(party.name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
    encryption = ca.ca.issue(party.name, usage=Usage.ENCRYPTION, uscc=party.uscc, organization=party.name)
    return Bidder(user=user, party=party, actor=actor, signing=signing, encryption=encryption)


async def to_publicity(session: AsyncSession, lot: EvaluatedLot) -> Award:
    await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates())
    return await award.publish_candidate_publicity(session, lot.tenderer, lot.lot_id)


def after_publicity(award_row: Award):  # type: ignore[no-untyped-def]
    """The clock moved just past the publicity (and its objection window)."""
    assert award_row.publicity_until is not None
    return travel(to=award_row.publicity_until + timedelta(seconds=1))


async def confirm_first(session: AsyncSession, lot: EvaluatedLot, blobs: BlobStore,
                        seal: PlatformSeal | None = None) -> Award:
    return await award_notice.confirm_winner(session, lot.tenderer, lot.lot_id,
                                             WinnerConfirmation(bid_id=lot.bids[0].id),  # type: ignore[arg-type]
                                             blobs=blobs, seal=seal or demo_seal())


def contract_docx(directory: Path, text: str = "Construction contract") -> Path:
    document = docx.Document()
    document.add_heading(text, level=1)
    document.add_paragraph("The parties agree as follows.")
    path = directory / f"contract-{next(_serial)}.docx"
    document.save(path)
    return path


async def upload_contract(session: AsyncSession, lot: EvaluatedLot, blobs: BlobStore, directory: Path) -> Award:
    return await contracts.upload_contract(session, lot.tenderer, lot.lot_id, source=contract_docx(directory),
                                           media_type=contracts.DOCX, blobs=blobs, max_bytes=10 * 1024 * 1024)


@dataclass
class Signer:
    """A user of a party with a signing certificate for that party."""

    actor: Actor
    key: object
    cert: object


async def tenderer_signer(session: AsyncSession, lot: EvaluatedLot) -> Signer:
    from identities.models import Party

    party = await session.get(Party, lot.made.project.tenderer_party_id)
    assert party is not None
    issued = lot.ca.ca.issue(party.name, uscc=party.uscc, organization=party.name)
    return Signer(actor=lot.tenderer, key=issued.key, cert=issued.cert)


def winner_signer(lot: EvaluatedLot, index: int = 0) -> Signer:
    bidder = lot.bidders[index]
    return Signer(actor=bidder.actor, key=bidder.signing.key, cert=bidder.signing.cert)


def sign_file(path: Path, signer: Signer) -> bytes:
    return sign_detached(path.read_bytes(), signer.key, signer.cert)  # type: ignore[arg-type]


async def sign_as(session: AsyncSession, lot: EvaluatedLot, blobs: BlobStore, signer: Signer, revocation) -> object:  # type: ignore[no-untyped-def]
    row = await session.get(Award, (await award.award_of(session, lot.made.lot)).id)
    assert row is not None and row.contract_sha256 is not None
    signature = sign_file(blobs.path_for(row.contract_sha256), signer)
    return await contracts.sign_contract(session, signer.actor, lot.lot_id, signature, blobs=blobs,
                                         revocation=revocation)


async def contracted_lot(session: AsyncSession, blobs: BlobStore, directory: Path,
                         acting: Actor | None = None) -> EvaluatedLot:
    """A lot taken through publicity, award and both contract signatures."""
    lot = await evaluated_lot(session, blobs, acting=acting)
    row = await to_publicity(session, lot)
    with after_publicity(row):
        await confirm_first(session, lot, blobs)
    await upload_contract(session, lot, blobs, directory)
    tenderer = await tenderer_signer(session, lot)
    await sign_as(session, lot, blobs, tenderer, lot.ca.revocation)
    await sign_as(session, lot, blobs, winner_signer(lot), lot.ca.revocation)
    return lot


async def add_tender_document(session: AsyncSession, lot: EvaluatedLot, blobs: BlobStore,
                              name: str = "招标文件 tender documents.pdf") -> None:
    """A tender document as the documents use case would leave it: blob, row, entry."""
    from trading import events
    from trading.models import TenderDocument

    stored = await blobs.put_bytes(b"%PDF-1.7 tender documents " + os.urandom(64))
    document = TenderDocument(project_id=lot.made.project.id, lot_id=lot.lot_id, name=name, version=1,  # type: ignore[arg-type]
                              kind="tender_documents", media_type="application/pdf", sha256=stored.sha256,
                              size=stored.size, uploaded_by=None, uploaded_at=utcnow())
    session.add(document)
    await session.flush()
    await append(session, stream=events.project_stream(lot.made.project.id), event_type=events.DOCUMENT_UPLOADED,
                 actor=lot.tenderer, payload={"row": events.row_snapshot(document)})


def platform_signer():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ca_interop.platform_keys import Ed25519PlatformSigner

    return Ed25519PlatformSigner(Ed25519PrivateKey.generate())


def publish_crl(runtime, ca: TradingCA) -> None:  # type: ignore[no-untyped-def]
    """Put the CA's current CRL in the runtime's revocation mirror (no network in tests)."""
    from ca_interop.demo_pki_set import crl_mirror_path

    path = crl_mirror_path(runtime.settings.resolved_revocation_mirror_dir, ca.ca.crl_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ca.ca.crl_der())

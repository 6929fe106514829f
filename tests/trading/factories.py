"""Builders for trading test data: a published lot with its opening key, and bidders with
certificates from a CA on the trust list.

``open_lot`` writes the rows directly (status ``bidding``), so tests of bids, openings and
awards do not depend on the notice workflow; tests of that workflow use the services.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import DemoCA, Issued, Usage
from ca_interop.opening_keys import OpeningKeyRecord, create_opening_key
from ca_interop.revocation import RevocationSource, StaticRevocationTransport
from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from identities import trust_service
from identities.models import Party, User
from identities.trust_schemas import TrustedCACreate
from tests.factories import actor_of, make_user
from trading.models import Lot, Project
from trading.states import LotStatus, ProjectStatus, Segment

_serial = itertools.count(1)


@dataclass
class Bidder:
    """A bidder's user, party and the two certificates its USB key would hold."""

    user: User
    party: Party
    actor: Actor
    signing: Issued
    encryption: Issued


@dataclass
class TradingCA:
    """One demo CA, trusted, with a revocation source that serves its CRL."""

    ca: DemoCA
    revocation: RevocationSource = field(init=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Serve the current CRL (call after revoking a certificate)."""
        transport = StaticRevocationTransport(documents={self.ca.crl_url: self.ca.crl_der()})
        self.revocation = RevocationSource(transport)


async def trusted_ca(session: AsyncSession, algorithm: str = "ecdsa") -> TradingCA:
    ca = DemoCA.create(f"Trading CA {next(_serial)}", algorithm)
    await trust_service.add_trusted_ca(session, SYSTEM, TrustedCACreate(
        name=ca.name, certificate_pem=ca.cert_pem.decode()))
    return TradingCA(ca)


async def make_bidder(session: AsyncSession, ca: TradingCA, name: str = "Bidder Co., Ltd.") -> Bidder:
    user = await make_user(session, Role.BIDDER)
    party = await session.get(Party, user.party_id)
    assert party is not None
    signing = ca.ca.issue(name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
    encryption = ca.ca.issue(name, usage=Usage.ENCRYPTION, uscc=party.uscc, organization=party.name)
    return Bidder(user=user, party=party, actor=actor_of(user), signing=signing, encryption=encryption)


@dataclass
class OpenLot:
    project: Project
    lot: Lot
    tenderer: Actor
    custodians: list[Issued]
    opening_key: OpeningKeyRecord | None


async def open_lot(
    session: AsyncSession,
    *,
    deadline: datetime | None = None,
    segment: Segment = Segment.CONSTRUCTION,
    procedure: str = "open_tender",
    custodian_fallback: bool = True,
    threshold: int = 2,
    ceiling_price: Decimal | None = Decimal("12000000.00"),
    bid_bond_amount: Decimal | None = Decimal("200000.00"),
) -> OpenLot:
    """A project with one lot accepting bids until ``deadline`` (default: in 20 days)."""
    now = utcnow()
    deadline = deadline or now + timedelta(days=20)
    tenderer_user = await make_user(session, Role.TENDERER)
    serial = next(_serial)
    project = Project(code=f"TEST-{serial:06d}", title=f"Test project {serial}", segment=segment,
                      procedure=procedure, tenderer_party_id=tenderer_user.party_id,  # type: ignore[arg-type]
                      region_code="350100", industry="construction", status=ProjectStatus.ACTIVE,
                      created_by=tenderer_user.id, created_at=now, updated_at=now)
    session.add(project)
    await session.flush()
    lot_code = f"{project.code}-L01"
    custodians: list[Issued] = []
    record = None
    if custodian_fallback:
        custodian_ca = DemoCA.create(f"Custodian CA {serial}", "ecdsa")
        custodians = [custodian_ca.issue(f"Custodian {i}", usage=Usage.ENCRYPTION) for i in range(3)]
        record = create_opening_key(custodians=[c.cert for c in custodians], threshold=threshold,
                                    lot_reference=lot_code, not_after=deadline + timedelta(days=60))
    lot = Lot(project_id=project.id, number=1, code=lot_code, title="Lot 1",  # type: ignore[arg-type]
              budget=Decimal("12500000.00"), ceiling_price=ceiling_price,
              evaluation_method="comprehensive_scoring", evaluation_parameters={"price_weight": "30"},
              bid_bond_amount=bid_bond_amount, min_bidders=3, custodian_fallback=custodian_fallback,
              opening_key=record.to_dict() if record else None,
              opening_certificate_fingerprint=record.certificate_fingerprint if record else None,
              documents_from=now - timedelta(days=1), documents_until=deadline, bid_deadline=deadline,
              opening_at=deadline, status=LotStatus.BIDDING, created_at=now, updated_at=now)
    session.add(lot)
    await session.flush()
    return OpenLot(project=project, lot=lot, tenderer=actor_of(tenderer_user), custodians=custodians,
                   opening_key=record)

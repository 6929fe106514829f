"""Crafted trading data for the warning rules' tests: rows written straight into the tables
(the rules read tables and the ledger, so no use case needs to run to make a case)."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import docx
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import utcnow
from supervision.ledger.append import append
from supervision.warnings.rules import Finding, Window, rule_by_code
from tests.factories import make_party
from trading.award_models import Award, AwardCandidate
from trading.bid_models import Bid
from trading.models import Lot, Project
from trading.opening_models import Opening, OpeningRow

_serial = itertools.count(1)


@dataclass
class CraftedLot:
    project: Project
    lot: Lot
    opening: Opening | None = None
    bids: list[Bid] = field(default_factory=list)
    rows: list[OpeningRow] = field(default_factory=list)


async def crafted_lot(session: AsyncSession, *, at: datetime | None = None, region: str = "350102",
                      segment: str = "construction", procedure: str = "open_tender") -> CraftedLot:
    """A published lot whose bid deadline (and opening) is ``at`` (default: an hour ago)."""
    at = at or utcnow() - timedelta(hours=1)
    n = next(_serial)
    tenderer = await make_party(session, f"Tenderer {n}")
    project = Project(code=f"W-{n:05d}", title=f"Crafted project {n}", segment=segment, procedure=procedure,
                      tenderer_party_id=tenderer.id, region_code=region, industry="housing", status="active",
                      created_at=at - timedelta(days=40), updated_at=at)
    session.add(project)
    await session.flush()
    lot = Lot(project_id=project.id, number=1, code=f"W-{n:05d}-L01", title="Lot 1", budget=Decimal("1000000.00"),
              evaluation_method="lowest_evaluated_price", evaluation_parameters={}, min_bidders=3,
              custodian_fallback=False, documents_from=at - timedelta(days=30), documents_until=at - timedelta(days=25),
              clarification_until=at - timedelta(days=15), bid_deadline=at, opening_at=at, status="opening",
              created_at=at - timedelta(days=40), updated_at=at)
    session.add(lot)
    await session.flush()
    return CraftedLot(project, lot)


async def add_bid(session: AsyncSession, made: CraftedLot, *, source: str | None = "203.0.113.1",
                  fingerprint: str | None = None, key: str | None = None, party_id: int | None = None) -> Bid:
    """A submitted bid with its submission entry in the ledger (``source`` is where it came from)."""
    party_id = party_id or (await make_party(session, f"Bidder {next(_serial)}")).id
    bid = Bid(lot_id=made.lot.id, party_id=party_id, status="submitted", envelope_sha256="e" * 64, envelope_size=10,  # type: ignore[arg-type]
              cert_fingerprint=fingerprint or f"{next(_serial):064x}", signer_key_sha256=key, submitted_at=made.lot.bid_deadline - timedelta(hours=2),  # type: ignore[operator]
              updated_at=made.lot.bid_deadline)
    session.add(bid)
    await session.flush()
    bidder = Actor(user_id=None, username=f"bidder-of-{party_id}", roles=frozenset({Role.BIDDER}), party_id=party_id,
                   source_address=source)
    entry = await append(session, stream=f"bid:{bid.id}", event_type="trading.bid_submitted", actor=bidder,
                         payload={"bid_id": bid.id})
    bid.ledger_seq = entry.seq
    made.bids.append(bid)
    await session.flush()
    return bid


async def open_lot(session: AsyncSession, made: CraftedLot, *, bid_count: int | None = None) -> Opening:
    opening = Opening(lot_id=made.lot.id, project_id=made.project.id, status="closed",  # type: ignore[arg-type]
                      bid_count=len(made.bids) if bid_count is None else bid_count, min_bidders=3, window_minutes=30,
                      started_at=made.lot.opening_at, updated_at=made.lot.opening_at)  # type: ignore[arg-type]
    session.add(opening)
    await session.flush()
    made.opening = opening
    return opening


async def opened_row(session: AsyncSession, made: CraftedLot, bid: Bid, *, price: str | None = "100.00",
                     package: bytes | None = None, blobs: BlobStore | None = None) -> OpeningRow:
    """The bid's row of the opening record, opened, with its package stored in ``blobs``."""
    sha = (await blobs.put_bytes(package)).sha256 if package is not None and blobs is not None else None
    row = OpeningRow(opening_id=made.opening.id, bid_id=bid.id, party_id=bid.party_id,  # type: ignore[arg-type,union-attr]
                     bidder_name=f"Bidder of bid {bid.id}", bidder_uscc="91350100MA0000000X", outcome="opened",
                     total_price=Decimal(price) if price else None, package_sha256=sha,
                     package_size=len(package) if package else None, failed_attempts=0)
    session.add(row)
    await session.flush()
    made.rows.append(row)
    return row


def docx_bytes(paragraphs: list[str], *, author: str = "", last_modified_by: str = "", company: str | None = None) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.core_properties.author = author
    document.core_properties.last_modified_by = last_modified_by
    buffer = io.BytesIO()
    document.save(buffer)
    if company is None:
        return buffer.getvalue()
    return _with_company(buffer.getvalue(), company)


def _with_company(data: bytes, company: str) -> bytes:
    app = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns='
           '"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
           f'<Company>{company}</Company></Properties>')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != "docProps/app.xml":
                target.writestr(item, source.read(item))
        target.writestr("docProps/app.xml", app)
    return out.getvalue()


def package(files: dict[str, bytes], price: str = "100.00") -> bytes:
    """A bid package: the opening sheet and the given documents, zipped."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("opening-sheet.json", json.dumps({"format": "bidhall-opening-sheet/1", "lot_code": "X",
                                                           "total_price": price, "items": {}}))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


async def award_to(session: AsyncSession, made: CraftedLot, *, first: Bid, second: Bid, winner: Bid,
                   reason: str | None = None) -> Award:
    now = made.lot.opening_at + timedelta(days=10)  # type: ignore[operator]
    award = Award(lot_id=made.lot.id, status="awarded", recorded_at=now, winner_bid_id=winner.id,  # type: ignore[arg-type]
                  winner_party_id=winner.party_id, price=Decimal("100.00"), deviation_reason=reason, confirmed_at=now,
                  updated_at=now)
    session.add(award)
    await session.flush()
    for rank, bid in ((1, first), (2, second)):
        session.add(AwardCandidate(award_id=award.id, rank=rank, bid_id=bid.id, party_id=bid.party_id,  # type: ignore[arg-type]
                                   price=Decimal("100.00"), score=Decimal("90.00")))
    await session.flush()
    return award


async def run_rule(session: AsyncSession, code: str, *, since: datetime | None = None, until: datetime | None = None,
                   blobs: BlobStore | None = None, **overrides: object) -> list[Finding]:
    """Evaluate one registered rule over a window (default: the last two days and the next)."""
    rule = rule_by_code(code)
    assert rule is not None, f"rule {code} is not registered"
    now = utcnow()
    window = Window(since or now - timedelta(days=2), until or now + timedelta(days=30),
                    {**rule.defaults, **overrides}, blobs)
    return await rule.evaluate(session, window)

"""Rows for the monitor's tests: projects in chosen regions and segments, a lot each, an
opening, an evaluation session, a draw (bare rows: the monitor only reads them), and
ledger entries on their streams. Also checks the stream resolvers against those rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Role
from core.clock import utcnow
from core.database import Database
from evaluation import scopes as evaluation_scopes
from evaluation.models import EvaluationSession
from expert_pool.models import Draw, DrawCall
from supervision.ledger.append import append
from supervision.scopes import Scope, scope_of
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_party, make_user
from trading import scopes as trading_scopes
from trading.bid_models import Bid
from trading.models import Lot, Project
from trading.opening_models import Opening
from trading.states import LotStatus, ProjectStatus

_serial = itertools.count(1)
FUJIAN_CITY = "350102"
GUANGDONG_CITY = "440106"


@dataclass(frozen=True)
class Tender:
    project: Project
    lot: Lot

    @property
    def stream(self) -> str:
        return f"project:{self.project.id}"


async def tender_in(session: AsyncSession, region_code: str, segment: str) -> Tender:
    """A project (and its one lot) in ``region_code`` and ``segment``."""
    serial = next(_serial)
    now = utcnow()
    party = await make_party(session)
    project = Project(code=f"MON-{serial:06d}", title=f"Monitored project {serial}", segment=segment,
                      procedure="open_tender", tenderer_party_id=party.id, region_code=region_code,  # type: ignore[arg-type]
                      industry="construction", status=ProjectStatus.ACTIVE, created_at=now, updated_at=now)
    session.add(project)
    await session.flush()
    lot = Lot(project_id=project.id, number=1, code=f"{project.code}-L01", title="Lot 1",  # type: ignore[arg-type]
              budget=Decimal("1000000.00"), evaluation_method="lowest_evaluated_price", evaluation_parameters={},
              min_bidders=3, custodian_fallback=False, status=LotStatus.BIDDING, created_at=now, updated_at=now)
    session.add(lot)
    await session.flush()
    return Tender(project, lot)


async def opening_of(session: AsyncSession, tender: Tender, status: str = "decrypting") -> Opening:
    now = utcnow()
    opening = Opening(lot_id=tender.lot.id, project_id=tender.project.id, status=status, bid_count=3,  # type: ignore[arg-type]
                      min_bidders=3, window_minutes=30, window_opened_at=now,
                      window_ends_at=now + timedelta(minutes=30), started_at=now, updated_at=now)
    session.add(opening)
    await session.flush()
    return opening


async def draw_for(session: AsyncSession, tender: Tender | None, status: str = "calling",
                   reference: str | None = None) -> Draw:
    now = utcnow()
    draw = Draw(lot_reference=reference or (tender.lot.code if tender else "NO-SUCH-LOT"),
                evaluation_at=now + timedelta(days=1), venue="Venue A", region_rule="any", quotas={"A01": 3, "B02": 2},
                avoid_parties=[], status=status, seed_commitment="0" * 64, snapshot_commitment="0" * 64,
                created_at=now)
    session.add(draw)
    await session.flush()
    return draw


async def called(session: AsyncSession, draw: Draw, position: int, answer: str | None) -> None:
    """One more expert called for ``draw`` (a new admitted expert each time)."""
    expert_admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
    expert = await admitted_expert(session, expert_admin)
    session.add(DrawCall(draw_id=draw.id, position=position, specialty="A01", expert_id=expert.id,  # type: ignore[arg-type]
                         salt="s" * 32, answer=answer, called_at=utcnow()))
    await session.flush()


async def session_of(session: AsyncSession, tender: Tender, draw: Draw, stage: str = "preliminary_review"
                     ) -> EvaluationSession:
    now = utcnow()
    evaluation = EvaluationSession(lot_id=tender.lot.id, project_id=tender.project.id, draw_id=draw.id,  # type: ignore[arg-type]
                                   stage=stage, method="lowest_evaluated_price", parameters={}, settings={},
                                   opened_at=now, updated_at=now)
    session.add(evaluation)
    await session.flush()
    return evaluation


async def record(database: Database, stream: str, number: int, event_type: str = "test.monitored") -> None:
    """One entry on ``stream``, in its own transaction, with no explicit announce."""
    async with database.transaction() as session:
        await append(session, stream=stream, event_type=event_type, actor=SYSTEM, payload={"n": number})


async def test_every_trading_and_evaluation_stream_resolves_to_its_project(database: Database) -> None:
    trading_scopes.install()
    evaluation_scopes.install()
    async with database.transaction() as session:
        tender = await tender_in(session, FUJIAN_CITY, "construction")
        party = await make_party(session)
        bid = Bid(lot_id=tender.lot.id, party_id=party.id, status="submitted", envelope_sha256="0" * 64,  # type: ignore[arg-type]
                  envelope_size=1, cert_fingerprint="0" * 64, submitted_at=utcnow(), updated_at=utcnow())
        session.add(bid)
        await session.flush()
        draw = await draw_for(session, tender)
        unused = await draw_for(session, None)
        evaluation = await session_of(session, tender, draw)
    expected = Scope(FUJIAN_CITY, "construction", tender.project.id)
    async with database.reader() as session:
        for stream in (f"project:{tender.project.id}", f"archive:{tender.project.id}", f"opening:{tender.lot.id}",
                       f"award:{tender.lot.id}", f"bid:{bid.id}", f"evaluation:{evaluation.id}", f"draw:{draw.id}"):
            assert await scope_of(session, stream) == expected, stream
        for stream in (f"credit:{party.id}", f"draw:{unused.id}", "project:999999", "project:abc", f"user:{party.id}"):
            assert await scope_of(session, stream) is None, stream

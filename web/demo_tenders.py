"""Demo tenders: one project in each segment, each at a different stage of its life, so a
first run shows the trading platform with something in it.

- construction: an open tender accepting bids, its tender documents on download;
- government procurement: an open tender accepting bids, with a question answered and a
  clarification published;
- land and mining rights: a listing in its listing period (挂牌期): the notice went out five
  weeks before the seed (a land notice precedes the listing by 20 days, MLR Order 39), the
  price competition with a secret reserve has two admitted bidders (verified bonds, bidder
  numbers) and a quote from each; its steps are dated when they would have happened
  (``core.clock.travel``), so the board shows a running listing;
- state-owned property: a transfer being prepared (draft, nothing public yet), its
  multi-round price competition already set up (published, the 20 working days of
  disclosure are counted again from the notice).

Idempotent: a project whose title exists is left alone. Timetables follow the rule table
(``trading/data/time_rules.json``) with a margin, counted from the day the seed runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.blobs import BlobStore
from core.clock import SHANGHAI, ensure_utc, to_shanghai, travel, utcnow
from trading import (
    bid_bonds,
    documents,
    price_bidding,
    price_bidding_quotes,
    price_bidding_setup,
    projects,
    publication,
    questions,
)
from trading.bid_schemas import BondRecord
from trading.bid_states import BondForm
from trading.calendar import WorkingCalendar
from trading.models import Lot, Project
from trading.notice_schemas import (
    AnswerCreate,
    ClarificationCreate,
    PublishTender,
    QuestionCreate,
)
from trading.price_bidding_schemas import CompetitionSetup, QuoteIn
from trading.schemas import LotCreate, ProjectCreate, TimetableIn
from trading.states import Procedure, Segment

DEMO_TENDER_DOCUMENTS = (
    "Tender documents\n\nSection 1 Invitation\nSection 2 Instructions to bidders\n"
    "Section 3 Evaluation method: comprehensive scoring (price 30)\nSection 4 Contract terms\n"
    "Section 5 Bill of quantities\nSection 6 Technical specification\n"
).encode()

# The land listing's notice went out this long before the seed, so its listing runs now.
LAND_NOTICE_AGO = timedelta(days=35)
LAND_START = Decimal("650000000.00")
LAND_STEP = Decimal("1000000.00")
LAND_BOND = Decimal("130000000.00")


def working_morning(after: datetime, days: int) -> datetime:
    """09:30 Shanghai time on the first working day at least ``days`` days after ``after``:
    openings are held on working days, at a stated hour."""
    calendar = WorkingCalendar.default()
    day = to_shanghai(after).date() + timedelta(days=days)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(9, 30), tzinfo=SHANGHAI)


def demo_timetable(now: datetime, *, days_to_deadline: int, bidding_after_days: int = 0) -> TimetableIn:
    """``bidding_after_days``: land listings publish the notice 20 days before bidding starts."""
    deadline = working_morning(now, days_to_deadline)
    # The documents are issued after the notice is out.
    issue = working_morning(now, bidding_after_days) if bidding_after_days else now + timedelta(minutes=10)
    return TimetableIn(documents_from=issue, documents_until=deadline, bid_deadline=deadline, opening_at=deadline)


def custodian_certificates(pki_dir: Path) -> list[str]:
    """The demo's opening-key custodians (their encryption certificates from the demo PKI)."""
    return [path.read_text() for path in sorted((pki_dir / "custodians").glob("*-enc.pem"))]


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def seed_tenders(session: AsyncSession, *, tenderer: Actor, agency: Actor, bidder: Actor,
                       blobs: BlobStore, pki_dir: Path, tenderer_party_id: int) -> tuple[dict[str, int], int]:
    """The four demo projects by segment, created if missing; returns their ids and how
    many were made now."""
    now = utcnow()
    custodians = custodian_certificates(pki_dir)
    made: dict[str, int] = {}
    created = 0
    for spec in _specs(now, custodians):
        existing = await session.scalar(sa.select(Project.id).where(Project.title == spec["project"].title))
        if existing is not None:
            made[spec["key"]] = existing
            continue
        actor = agency if spec["by_agency"] else tenderer
        if spec["stage"] == "listing":
            with travel(to=now - LAND_NOTICE_AGO):  # the listing notice went out five weeks ago
                project, lot = await _create(session, actor, spec, blobs, tenderer_party_id)
            await _running_listing(session, actor, bidder, lot)
        else:
            project, lot = await _create(session, actor, spec, blobs, tenderer_party_id)
        if spec["stage"] == "questions":
            await _question_and_clarification(session, actor, bidder, lot.id)  # type: ignore[arg-type]
        if spec["stage"] == "draft" and spec["project"].segment == Segment.STATE_PROPERTY:
            await _multi_round_set_up(session, actor, lot)
        made[spec["key"]] = project.id  # type: ignore[assignment]
        created += 1
    return made, created


async def _create(session: AsyncSession, actor: Actor, spec: dict[str, Any], blobs: BlobStore,
                  tenderer_party_id: int) -> tuple[Project, Lot]:
    """The project and its lot; published with its documents unless the stage is draft."""
    data = spec["project"]
    if spec["by_agency"]:
        data = data.model_copy(update={"tenderer_party_id": tenderer_party_id})
    project = await projects.create_project(session, actor, data)
    lot = await projects.add_lot(session, actor, project.id, spec["lot"])  # type: ignore[arg-type]
    if spec["stage"] != "draft":
        await documents.upload_document(
            session, actor, project.id, name="tender-documents.txt", kind="tender_documents",  # type: ignore[arg-type]
            lot_id=None, media_type="text/plain", content=one_chunk(DEMO_TENDER_DOCUMENTS), blobs=blobs,
            max_bytes=len(DEMO_TENDER_DOCUMENTS))
        await publication.publish_tender(session, actor, project.id, PublishTender())  # type: ignore[arg-type]
    return project, lot


async def _running_listing(session: AsyncSession, manager: Actor, bidder: Actor, lot: Lot) -> None:
    """The land listing's competition, set up at the notice: the listing opened 21 days after
    it and closes with the lot's deadline; two bidders with verified bonds, one quote each."""
    from web.demo import (
        demo_actor,  # the demo users exist before the tenders are seeded
    )

    staff, second = await demo_actor(session, "staff"), await demo_actor(session, "bidder2")
    published_at = utcnow() - LAND_NOTICE_AGO
    starts_at = working_morning(published_at, 21)
    with travel(to=published_at + timedelta(minutes=30)):
        competition = await price_bidding_setup.set_up_competition(session, manager, lot.id, CompetitionSetup(  # type: ignore[arg-type]
            mode="listing", starting_price=LAND_START, increment=LAND_STEP, reserve_price=Decimal("680000000.00"),
            starts_at=starts_at, ends_at=ensure_utc(lot.bid_deadline), countdown_seconds=300))  # type: ignore[arg-type]
    for days, (who, reference) in enumerate(((bidder, "BG-2026-18-001"), (second, "BG-2026-18-002")), start=2):
        with travel(to=published_at + timedelta(days=days)):
            bond = await bid_bonds.record_bid_bond(session, who, lot.id, BondRecord(  # type: ignore[arg-type]
                form=BondForm.GUARANTEE, reference=reference, amount=LAND_BOND))
            await bid_bonds.verify_bid_bond(session, staff, bond.id)  # type: ignore[arg-type]
            await price_bidding.register(session, who, competition.id)  # type: ignore[arg-type]
    for hours, (who, amount) in enumerate(((bidder, LAND_START), (second, LAND_START + 2 * LAND_STEP)), start=1):
        moment = starts_at + timedelta(days=hours - 1, hours=hours)
        if moment < utcnow():  # always so unless a long holiday pushed the listing's start out
            with travel(to=moment):
                await price_bidding_quotes.submit_quote(session, who, competition.id, QuoteIn(amount=amount))  # type: ignore[arg-type]


async def _multi_round_set_up(session: AsyncSession, manager: Actor, lot: Lot) -> None:
    """The state-property transfer's multi-round bidding, from the lot's deadline (at least 20
    working days of disclosure after a notice published soon), no reserve: the listing price,
    based on the approved valuation, is the floor."""
    await price_bidding_setup.set_up_competition(session, manager, lot.id, CompetitionSetup(  # type: ignore[arg-type]
        mode="multi_round", starting_price=Decimal("88000000.00"), increment=Decimal("500000.00"),
        starts_at=ensure_utc(lot.bid_deadline), round_seconds=600))  # type: ignore[arg-type]


async def _question_and_clarification(session: AsyncSession, manager: Actor, bidder: Actor, lot_id: int) -> None:
    question = await questions.ask_question(session, bidder, lot_id, QuestionCreate(
        text="Do the smart meters need to support NB-IoT and LoRa, or is one of them enough?"))
    await questions.answer_question(session, manager, question.id, AnswerCreate(  # type: ignore[arg-type]
        answer="Either is accepted; the meter must report at least hourly."))
    await publication.publish_clarification(session, manager, lot_id, ClarificationCreate(
        title="Clarification No. 1", body="Communication: NB-IoT or LoRa are both accepted (see Q&A No. 1)."))


def _specs(now: datetime, custodians: list[str]) -> list[dict[str, Any]]:
    fallback = {"custodian_fallback": True, "custodian_certificates": custodians, "custodian_threshold": 2} \
        if len(custodians) >= 2 else {"custodian_fallback": False}
    return [
        {"key": "construction", "stage": "bidding", "by_agency": True,
         "project": ProjectCreate(title="Minjiang River North Bank Embankment Reinforcement", segment=Segment.CONSTRUCTION,
                                  procedure=Procedure.OPEN_TENDER, region_code="350100", industry="water_conservancy"),
         "lot": LotCreate(title="Section 1: embankment and revetment works", budget=Decimal("38600000.00"),
                          ceiling_price=Decimal("36800000.00"), evaluation_method="comprehensive_scoring",
                          evaluation_parameters={"price_weight": "40", "factors": {"technical": "50", "credit": "10"}},
                          bid_bond_amount=Decimal("500000.00"), timetable=demo_timetable(now, days_to_deadline=24),
                          **fallback)},
        {"key": "government_procurement", "stage": "questions", "by_agency": False,
         "project": ProjectCreate(title="Smart Water Meters for the Urban Network", segment=Segment.GOVERNMENT_PROCUREMENT,
                                  procedure=Procedure.OPEN_TENDER, region_code="350100", industry="goods"),
         "lot": LotCreate(title="Package 1: 20,000 smart meters", budget=Decimal("4200000.00"),
                          evaluation_method="comprehensive_scoring",
                          evaluation_parameters={"price_weight": "30", "factors": {"technical": "60", "service": "10"},
                                                 "procurement_category": "goods"},
                          bid_bond_amount=Decimal("40000.00"), timetable=demo_timetable(now, days_to_deadline=35),
                          **fallback)},
        {"key": "land_mining", "stage": "listing", "by_agency": False,
         "project": ProjectCreate(title="Grant of Land Use Right, Parcel 2026-18 (Cangshan)", segment=Segment.LAND_MINING,
                                  procedure=Procedure.LISTING, region_code="350104", industry="land"),
         "lot": LotCreate(title="Parcel 2026-18, 32,400 m2, residential", budget=Decimal("650000000.00"),
                          evaluation_method="highest_price", evaluation_parameters={},
                          bid_bond_amount=LAND_BOND, timetable=demo_timetable(now - LAND_NOTICE_AGO, days_to_deadline=60,
                                                                               bidding_after_days=21),
                          custodian_fallback=False)},
        {"key": "state_property", "stage": "draft", "by_agency": False,
         "project": ProjectCreate(title="Transfer of 30% of Fuzhou Water Supply Services Co.", segment=Segment.STATE_PROPERTY,
                                  procedure=Procedure.LISTING_MULTI_ROUND, region_code="350100", industry="state_property"),
         "lot": LotCreate(title="30% equity", budget=Decimal("88000000.00"), evaluation_method="highest_price",
                          evaluation_parameters={}, timetable=demo_timetable(now, days_to_deadline=45),
                          custodian_fallback=False)},
    ]

"""What the OCDS releases of a project are made from: its rows, read once.

Reading is kept apart from building (``trading.ocds``) so the building is a pure function
of these facts and can be tested on crafted ones. Only what may be public is read: bids
only for lots whose opening has happened (a published opening record, or a lot already past
its opening), never a sealed bid's existence, count or bidder before that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from identities.models import Party
from trading.award_models import Award, AwardCandidate
from trading.bid_models import Bid
from trading.bid_states import OPENING_STATUSES
from trading.models import Lot, Notice, Project
from trading.opening_models import Opening, OpeningRow
from trading.opening_schemas import OpeningStatus
from trading.states import LotStatus, NoticeKind, ProjectStatus

# A lot in one of these has been opened, whether or not an opening record was kept here.
OPENED_LOT_STATUSES = frozenset({LotStatus.EVALUATING, LotStatus.PUBLICITY, LotStatus.AWARDED,
                                 LotStatus.CONTRACTED})


@dataclass
class LotFacts:
    lot: Lot
    opening: Opening | None = None
    bids: list[Bid] = field(default_factory=list)  # only once opened
    rows: dict[int, OpeningRow] = field(default_factory=dict)  # bid id -> its opening row
    award: Award | None = None
    candidates: list[AwardCandidate] = field(default_factory=list)

    @property
    def opened(self) -> bool:
        published = self.opening is not None and self.opening.status == OpeningStatus.PUBLISHED
        return published or self.lot.status in OPENED_LOT_STATUSES


@dataclass
class ProjectFacts:
    project: Project
    lots: list[LotFacts]
    notices: list[Notice]
    parties: dict[int, Party]

    @property
    def published(self) -> bool:
        return self.project.status != ProjectStatus.DRAFT

    @property
    def announced_at(self) -> datetime:
        """When the tender was made public: its first tender notice, else (a project put
        forward without one here, as imported ones are) when its documents were first out."""
        notices = [notice.published_at for notice in self.notices if notice.kind == NoticeKind.TENDER]
        starts = [lot.lot.documents_from for lot in self.lots if lot.lot.documents_from is not None]
        return min(notices or starts or [self.project.created_at])


async def project_facts(session: AsyncSession, project: Project) -> ProjectFacts:
    """Every row the releases of ``project`` need."""
    lots = list((await session.scalars(
        sa.select(Lot).where(Lot.project_id == project.id).order_by(Lot.number))).all())
    notices = list((await session.scalars(
        sa.select(Notice).where(Notice.project_id == project.id).order_by(Notice.published_at, Notice.id))).all())
    facts = [await _lot_facts(session, lot) for lot in lots]
    party_ids = {project.tenderer_party_id, project.agency_party_id}
    for lot in facts:
        party_ids |= {bid.party_id for bid in lot.bids}
        party_ids |= {candidate.party_id for candidate in lot.candidates}
        if lot.award is not None:
            party_ids.add(lot.award.winner_party_id)
    wanted = [party_id for party_id in party_ids if party_id is not None]
    parties = {party.id: party for party in (await session.scalars(
        sa.select(Party).where(Party.id.in_(wanted)))).all()}  # type: ignore[union-attr]
    return ProjectFacts(project=project, lots=facts, notices=notices, parties=parties)  # type: ignore[arg-type]


async def _lot_facts(session: AsyncSession, lot: Lot) -> LotFacts:
    facts = LotFacts(lot=lot)
    facts.opening = await session.scalar(sa.select(Opening).where(Opening.lot_id == lot.id))
    if facts.opened:
        facts.bids = list((await session.scalars(
            sa.select(Bid).where(Bid.lot_id == lot.id, Bid.status.in_([s.value for s in OPENING_STATUSES]))  # type: ignore[attr-defined]
            .order_by(Bid.id))).all())
    if facts.opening is not None and facts.opened:
        rows = await session.scalars(sa.select(OpeningRow).where(OpeningRow.opening_id == facts.opening.id))
        facts.rows = {row.bid_id: row for row in rows}
    facts.award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    if facts.award is not None and facts.award.publicity_start is not None:
        # Candidates are public from their publicity notice on, not from their recording.
        facts.candidates = list((await session.scalars(
            sa.select(AwardCandidate).where(AwardCandidate.award_id == facts.award.id)
            .order_by(AwardCandidate.rank))).all())
    return facts


async def public_projects(session: AsyncSession, project_id: int | None = None,
                          since: datetime | None = None) -> list[Project]:
    """Projects with something public (not drafts), oldest first; one project when asked;
    with ``since``, only those that may have a release dated then or later."""
    query = sa.select(Project).where(Project.status != ProjectStatus.DRAFT).order_by(Project.id)
    if project_id is not None:
        query = query.where(Project.id == project_id)
    if since is not None:
        query = query.where(Project.id.in_(_changed_since(since)))  # type: ignore[union-attr]
    return list((await session.scalars(query)).all())


def _changed_since(since: datetime) -> sa.CompoundSelect:
    """Ids of projects with a row that a release at or after ``since`` is dated from (each
    release's date is one of these columns, or earlier than the row's ``updated_at``)."""
    return sa.union(
        sa.select(Project.id).where(Project.created_at >= since),
        sa.select(Notice.project_id).where(Notice.published_at >= since),
        sa.select(Lot.project_id).where(sa.or_(Lot.updated_at >= since, Lot.opening_at >= since,  # type: ignore[operator]
                                               Lot.documents_from >= since)),  # type: ignore[operator]
        sa.select(Opening.project_id).where(Opening.updated_at >= since),
        sa.select(Lot.project_id).join(Award, Award.lot_id == Lot.id).where(Award.updated_at >= since))


async def project_by_code(session: AsyncSession, code: str) -> Project | None:
    return await session.scalar(sa.select(Project).where(Project.code == code, Project.status != ProjectStatus.DRAFT))

"""The datasets of the national data specification, as rows of one time window.

The specification (2016, V2.0 2018) asks each platform for: trading data of the four
segments, market entities, experts, expert credit, alerts, complaints and blacklists, each
transaction under one unified identifier (here the project's OCDS ``ocid``, also what the
open-data export uses). A window holds what changed in it, so a resend of the same window
carries the same rows (unless the data changed since, which a new window then reports).

Experts carry no personal data beyond what a higher platform needs to count and check the
pool: the expert's platform code (a pseudonym it can resolve through this platform), region,
title, specialties, years of practice and status, never the name, identity number, phone,
birth date or employer. Expert credit adds the status reason and the suspension's end
(``trading.reporting_experts``).

``alerts`` are the early warnings raised in the window (rule, subject, summary, status;
the evidence stays here: it names bids and documents the regulator reads on this
platform); ``complaints`` the complaints filed in it, with their deadlines and outcome.
An empty window is still a batch, so the national platform knows it was reported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import rfc3339
from identities.models import Party
from supervision.ledger.canonical import to_json_value
from supervision.warnings.models import EarlyWarning
from trading import reporting_experts
from trading.award_models import Award
from trading.complaint_models import Complaint
from trading.models import CreditRecord, Lot, Project
from trading.ocds import ocid_of
from trading.reporting_experts import Row, Window
from trading.reporting_experts import within as _within
from trading.states import CreditKind, ProjectStatus, Segment

Builder = Callable[[AsyncSession, Window], Awaitable[list[Row]]]


def _segment_projects(segment: Segment) -> Builder:
    async def build(session: AsyncSession, window: Window) -> list[Row]:
        changed_lots = sa.select(Lot.project_id).where(_within(Lot.updated_at, window))
        projects = (await session.scalars(sa.select(Project).where(
            Project.segment == segment, Project.status != ProjectStatus.DRAFT,
            sa.or_(_within(Project.updated_at, window), Project.id.in_(changed_lots)))  # type: ignore[union-attr]
            .order_by(Project.id))).all()
        return [await _project_row(session, project) for project in projects]

    return build


async def _project_row(session: AsyncSession, project: Project) -> Row:
    parties = {party.id: party.uscc for party in (await session.scalars(sa.select(Party).where(
        Party.id.in_([project.tenderer_party_id, project.agency_party_id or 0])))).all()}  # type: ignore[union-attr]
    lots = (await session.scalars(sa.select(Lot).where(Lot.project_id == project.id).order_by(Lot.number))).all()
    awards = {award.lot_id: award for award in (await session.scalars(
        sa.select(Award).where(Award.lot_id.in_([lot.id for lot in lots])))).all()}  # type: ignore[attr-defined]
    winners = {party.id: party.uscc for party in (await session.scalars(sa.select(Party).where(
        Party.id.in_([award.winner_party_id for award in awards.values() if award.winner_party_id])))).all()}  # type: ignore[union-attr]
    return to_json_value({  # type: ignore[no-any-return]
        "transaction_id": ocid_of(project.code), "project_code": project.code, "title": project.title,
        "segment": project.segment, "procedure": project.procedure, "region_code": project.region_code,
        "industry": project.industry, "status": project.status,
        "tenderer_uscc": parties.get(project.tenderer_party_id),
        "agency_uscc": parties.get(project.agency_party_id) if project.agency_party_id else None,
        "lots": [_lot_row(lot, awards.get(lot.id), winners) for lot in lots],
        "updated_at": project.updated_at})


def _lot_row(lot: Lot, award: Award | None, winners: dict[int | None, str]) -> Row:
    awarded = award is not None and award.winner_party_id is not None
    return {"lot_code": lot.code, "title": lot.title, "budget": lot.budget, "ceiling_price": lot.ceiling_price,
            "evaluation_method": lot.evaluation_method, "status": lot.status, "bid_deadline": lot.bid_deadline,
            "winner_uscc": winners.get(award.winner_party_id) if awarded else None,  # type: ignore[union-attr]
            "award_price": award.price if awarded else None,  # type: ignore[union-attr]
            "contracted_at": award.contracted_at if award is not None else None}


async def _entities(session: AsyncSession, window: Window) -> list[Row]:
    parties = (await session.scalars(sa.select(Party).where(_within(Party.created_at, window))
                                     .order_by(Party.id))).all()
    return [{"uscc": party.uscc, "name": party.name, "region_code": party.region_code,
             "registered_at": rfc3339(party.created_at)} for party in parties]


async def _blacklists(session: AsyncSession, window: Window) -> list[Row]:
    rows = (await session.execute(sa.select(CreditRecord, Party).join(Party, Party.id == CreditRecord.party_id)
                                  .where(CreditRecord.kind == CreditKind.BLACKLIST,
                                         _within(CreditRecord.created_at, window))
                                  .order_by(CreditRecord.id))).all()
    return [to_json_value({"record_id": record.id, "uscc": party.uscc, "name": party.name, "reason": record.reason,
                           "authority": record.authority, "start_date": record.start_date.isoformat(),
                           "end_date": record.end_date.isoformat() if record.end_date else None})
            for record, party in rows]


async def _alerts(session: AsyncSession, window: Window) -> list[Row]:
    warnings = (await session.scalars(sa.select(EarlyWarning).where(_within(EarlyWarning.raised_at, window))
                                      .order_by(EarlyWarning.id))).all()
    codes = await _project_codes(session, [w.project_id for w in warnings])
    return [to_json_value({"alert_id": w.id, "rule": w.rule_code, "subject": w.subject_key, "summary": w.summary,
                           "ocid": ocid_of(codes[w.project_id]) if w.project_id in codes else None,
                           "region_code": w.region_code, "segment": w.segment, "status": w.status,
                           "raised_at": rfc3339(w.raised_at)}) for w in warnings]


async def _complaints(session: AsyncSession, window: Window) -> list[Row]:
    complaints = (await session.scalars(sa.select(Complaint).where(_within(Complaint.filed_at, window))
                                        .order_by(Complaint.id))).all()
    codes = await _project_codes(session, [c.project_id for c in complaints])
    return [to_json_value({"complaint_id": c.id, "ocid": ocid_of(codes[c.project_id]), "matter": c.matter,
                           "filed_at": rfc3339(c.filed_at), "status": c.status,
                           "acceptance_due": rfc3339(c.acceptance_due),
                           "decision_due": rfc3339(c.decision_due) if c.decision_due else None,
                           "outcome": c.outcome}) for c in complaints]


async def _project_codes(session: AsyncSession, project_ids: list[int | None]) -> dict[int, str]:
    wanted = [i for i in set(project_ids) if i is not None]
    rows = await session.execute(sa.select(Project.id, Project.code).where(Project.id.in_(wanted or [-1])))  # type: ignore[union-attr]
    return {project_id: code for project_id, code in rows}


DATASETS: dict[str, Builder] = {
    **{f"projects_{segment.value}": _segment_projects(segment) for segment in Segment},
    "entities": _entities,
    "experts": reporting_experts.experts,
    "expert_credit": reporting_experts.expert_credit,
    "blacklists": _blacklists,
    "alerts": _alerts,
    "complaints": _complaints,
}

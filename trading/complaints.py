"""Complaints (投诉) to the regulator about a lot, from filing to the published decision.

A bidder (or another interested party) files a complaint within its legal window; where the
law wants the tenderer asked first (construction: the documents, the opening and the
result; procurement: everything) the complaint names that objection or challenge and the
window counts from its reply. The regulator covering the lot's region and segment accepts
or rejects it within the acceptance period, may suspend the procedure while it reviews, and
decides within the decision period; a late step is allowed but marked late, since the law
binds the regulator, not the complainant. The decision is published as a notice and the lot
resumes. Every limit comes from ``trading/data/complaint_rules.json``.

Suspension: procurement allows at most 30 days (Procurement Law art. 57). A longer order
is refused naming the rule; when the period runs out the lot resumes by itself, the next
time anything touches the complaint or when ``resume_expired_suspensions`` runs. Construction
sets no maximum: the suspension lasts until the decision unless the regulator gives an end.

A regulator outside the lot's jurisdiction is refused; ``refused_outside_jurisdiction``
records the attempt so the boundary can commit it before answering 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore, BlobTooLarge
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.states import check_transition
from core.usecases import use_case
from supervision.scopes import covers
from trading import complaint_events as events
from trading.complaint_models import Complaint, ComplaintEvidence
from trading.complaint_rules import Matter, SegmentRules, rules_for
from trading.complaint_schemas import (
    AcceptanceDecision,
    ComplaintCreate,
    ComplaintDecisionIn,
    SuspensionOrder,
)
from trading.models import Lot, Objection, Project
from trading.notices import record_notice
from trading.projects import change_lot_status, get_lot_row, get_project_row, is_manager
from trading.states import (
    ALLOWED_COMPLAINT_TRANSITIONS,
    ComplaintStatus,
    LotStatus,
    NoticeKind,
    ObjectionStatus,
)

FILERS = frozenset({Role.BIDDER})
REGULATORS = frozenset({Role.REGULATOR})
READERS = frozenset({Role.BIDDER, Role.TENDERER, Role.AGENCY, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
SUSPENDABLE = (LotStatus.BIDDING, LotStatus.EVALUATING, LotStatus.PUBLICITY)
MAX_NAME = 200


# --- filing -----------------------------------------------------------------------------------


@use_case("trading.file_complaint", FILERS)
async def file_complaint(session: AsyncSession, actor: Actor, lot_id: int, data: ComplaintCreate) -> Complaint:
    """File a complaint about lot ``lot_id``; refused, with nothing stored, after its window."""
    if actor.party_id is None:
        raise PermissionDenied("a complaint is filed for an organisation; this account acts for none")
    lot = await get_lot_row(session, lot_id)
    project = await get_project_row(session, lot.project_id)
    rules = rules_for(project.segment)
    matter = rules.matter(data.matter)
    now = utcnow()
    objection = await _prior_objection(session, actor, lot, rules, matter, data.objection_id, now)
    until = rules.window.ends(_window_start(rules, objection, data.known_at, now))
    if now > until:
        raise RuleViolation(f"the window to complain about lot {lot.code} ({matter.name}: {matter.description}) "
                            f"closed at "
                            f"{rfc3339(until)} ({rules.window.rule}: {rules.window.requirement}); "
                            f"it is {rfc3339(now)}", rule=rules.window.rule)
    complaint = Complaint(
        project_id=project.id, lot_id=lot.id, party_id=actor.party_id, filed_by=actor.user_id,  # type: ignore[arg-type]
        matter=matter.name, objection_id=objection.id if objection else None, grounds=data.grounds,
        requests=data.requests, facts=data.facts, known_at=data.known_at, filed_at=now,
        window_rule=rules.window.rule, window_until=until, status=ComplaintStatus.FILED,
        acceptance_rule=rules.acceptance.rule, acceptance_due=rules.acceptance.ends(now))
    session.add(complaint)
    await session.flush()
    await events.record(session, actor, events.complaint_stream(complaint.id), events.COMPLAINT_FILED, row=complaint)
    return complaint


async def _prior_objection(session: AsyncSession, actor: Actor, lot: Lot, rules: SegmentRules, matter: Matter,
                           objection_id: int | None, now: datetime) -> Objection | None:
    """The objection the complaint follows: required where the law asks the tenderer first."""
    if objection_id is None:
        if matter.objection_stage is None:
            return None
        rule = f"{rules.segment}.objection_first"
        raise RuleViolation(f"a complaint about the {matter.name} in {rules.segment} needs an objection (challenge) "
                            f"to the tenderer first ({rule}: {matter.source}): raise it at the "
                            f"{matter.objection_stage} stage, then name it as objection_id", rule=rule)
    objection = await session.get(Objection, objection_id)
    if objection is None or objection.lot_id != lot.id or objection.party_id != actor.party_id:
        raise InvalidInput(f"objection {objection_id} is not one your organisation raised about lot {lot.code}",
                           [FieldError("$.objection_id", "not your objection to this lot")])
    if matter.objection_stage is not None and objection.stage != matter.objection_stage:
        raise InvalidInput(f"objection {objection_id} was raised at the {objection.stage} stage; a complaint about "
                           f"the {matter.name} follows one raised at the {matter.objection_stage} stage",
                           [FieldError("$.objection_id", f"an objection of stage {matter.objection_stage}")])
    if objection.status == ObjectionStatus.OPEN and now <= ensure_utc(objection.reply_due):
        raise Conflict(f"objection {objection_id} awaits the tenderer's reply until {rfc3339(objection.reply_due)}; "
                       "complain after the reply, or when that period ends without one")
    return objection


def _window_start(rules: SegmentRules, objection: Objection | None, known_at: datetime | None,
                  now: datetime) -> datetime:
    start = rules.window_from_with_objection if objection is not None else rules.window.start
    if objection is not None and start == "objection_answer":
        return ensure_utc(objection.replied_at or objection.reply_due)
    if objection is not None and start == "objection_reply_due":
        return ensure_utc(objection.reply_due)
    if known_at is None:
        raise InvalidInput(f"the window to complain counts from when you knew of the breach ({rules.window.source}): "
                           "give known_at", [FieldError("$.known_at", "required")])
    if known_at > now:
        raise InvalidInput(f"known_at {rfc3339(known_at)} is in the future",
                           [FieldError("$.known_at", "in the future")])
    return known_at


# --- evidence ---------------------------------------------------------------------------------


@use_case("trading.add_complaint_evidence", FILERS)
async def add_evidence(session: AsyncSession, actor: Actor, complaint_id: int, *, name: str, media_type: str,
                       content: AsyncIterable[bytes], blobs: BlobStore, max_bytes: int) -> ComplaintEvidence:
    """Store one evidence file of one's own complaint (streamed into a blob) while it is handled."""
    complaint = await _complaint_row(session, complaint_id, for_update=True)
    if complaint.party_id != actor.party_id:
        raise PermissionDenied(f"complaint {complaint_id} is not your organisation's")
    if complaint.status not in (ComplaintStatus.FILED, ComplaintStatus.ACCEPTED):
        raise Conflict(f"complaint {complaint_id} is {complaint.status}; evidence is added while it is handled")
    name = name.strip()
    if not name or len(name) > MAX_NAME or "/" in name or "\\" in name:
        raise InvalidInput(f"the file name must be 1 to {MAX_NAME} characters without slashes",
                           [FieldError("?name", "a plain file name")])
    try:
        info = await blobs.put_stream(content, max_bytes=max_bytes)
    except BlobTooLarge:
        raise InvalidInput(f"the file is over the limit of {max_bytes} bytes",
                           [FieldError("$", f"at most {max_bytes} bytes")]) from None
    evidence = ComplaintEvidence(complaint_id=complaint.id, name=name, media_type=media_type[:100] or  # type: ignore[arg-type]
                                 "application/octet-stream", sha256=info.sha256, size=info.size,
                                 uploaded_at=utcnow(), uploaded_by=actor.user_id)  # type: ignore[arg-type]
    session.add(evidence)
    await session.flush()
    await events.record(session, actor, events.complaint_stream(complaint.id), events.COMPLAINT_EVIDENCE_ADDED,
                        child=evidence)
    return evidence


# --- jurisdiction -----------------------------------------------------------------------------


async def refused_outside_jurisdiction(session: AsyncSession, actor: Actor | None, complaint_id: int,
                                       action: str) -> str | None:
    """For a regulator outside the complaint's region or segment: record the attempt and
    return the refusal to answer after the commit. ``None`` for anyone else."""
    if actor is None or not actor.has_any(REGULATORS) or actor.has_any({Role.AUDITOR, Role.ADMIN}):
        return None
    complaint = await _complaint_row(session, complaint_id)
    project = await get_project_row(session, complaint.project_id)
    if covers(actor, events.project_scope(project)):
        return None
    await events.record_refusal(session, actor, events.COMPLAINT_ACCESS_REFUSED,
                                target=events.complaint_stream(complaint.id), action=action)
    return events.outside_jurisdiction(actor, project)


async def _handled(session: AsyncSession, actor: Actor, complaint_id: int) -> tuple[Complaint, Project, Lot]:
    """The complaint (locked), its project and lot, for a regulator covering them."""
    complaint = await _complaint_row(session, complaint_id, for_update=True)
    project = await get_project_row(session, complaint.project_id)
    if not covers(actor, events.project_scope(project)):
        raise PermissionDenied(events.outside_jurisdiction(actor, project))
    lot = await get_lot_row(session, complaint.lot_id, for_update=True)
    await _resume_if_expired(session, complaint, project, lot)
    return complaint, project, lot


# --- acceptance, suspension, decision ------------------------------------------------------


@use_case("trading.decide_complaint_acceptance", REGULATORS)
async def decide_acceptance(session: AsyncSession, actor: Actor, complaint_id: int,
                            data: AcceptanceDecision) -> Complaint:
    complaint, project, _ = await _handled(session, actor, complaint_id)
    target = ComplaintStatus.ACCEPTED if data.accept else ComplaintStatus.REJECTED
    check_transition(f"complaint {complaint_id}", ComplaintStatus(complaint.status), target,
                     ALLOWED_COMPLAINT_TRANSITIONS)
    if not data.accept and not data.reason:
        raise InvalidInput("a complaint not accepted needs the reason", [FieldError("$.reason", "required")])
    now = utcnow()
    complaint.status, complaint.acceptance_reason, complaint.handled_by = target, data.reason, actor.user_id
    complaint.acceptance_decided_at = now
    complaint.acceptance_late = now > ensure_utc(complaint.acceptance_due)
    if data.accept:
        rules = rules_for(project.segment)
        start = now if rules.decision.start == "accepted_at" else ensure_utc(complaint.filed_at)
        complaint.decision_rule, complaint.decision_due = rules.decision.rule, rules.decision.ends(start)
    session.add(complaint)
    await session.flush()
    kind = events.COMPLAINT_ACCEPTED if data.accept else events.COMPLAINT_REJECTED
    await events.record(session, actor, events.complaint_stream(complaint.id), kind, row=complaint)
    return complaint


@use_case("trading.suspend_for_complaint", REGULATORS)
async def suspend_procedure(session: AsyncSession, actor: Actor, complaint_id: int, data: SuspensionOrder) -> Complaint:
    """Suspend the lot while the accepted complaint is reviewed (within the legal maximum)."""
    complaint, project, lot = await _handled(session, actor, complaint_id)
    if complaint.status != ComplaintStatus.ACCEPTED:
        raise Conflict(f"complaint {complaint_id} is {complaint.status}; the procedure is suspended while an "
                       "accepted complaint is reviewed")
    if complaint.suspended_at is not None:
        raise Conflict(f"complaint {complaint_id} suspended the procedure at {rfc3339(complaint.suspended_at)} already")
    if lot.status not in SUSPENDABLE:
        raise Conflict(f"lot {lot.code} is {lot.status}; a procedure is suspended while it takes bids, is "
                       "evaluated or its candidates are in publicity")
    now, period = utcnow(), rules_for(project.segment).suspension
    until = data.until
    if period.amount is not None:
        limit = period.ends(now)
        if until is not None and until > limit:
            raise RuleViolation(f"a suspension lasts at most {period.requirement}: until {rfc3339(limit)} at the "
                                f"latest, not {rfc3339(until)}", rule=period.rule)
        until = until or limit
    if until is not None and until <= now:
        raise InvalidInput("the suspension must end in the future", [FieldError("$.until", "not after now")])
    complaint.suspended_from_status, complaint.suspended_at, complaint.suspended_until = lot.status, now, until
    session.add(complaint)
    await change_lot_status(session, actor, lot, LotStatus.SUSPENDED, reason=f"complaint {complaint.id} under review",
                            details={"complaint_id": complaint.id})
    ends = f"until {rfc3339(until)}" if until else "until the regulator decides"
    await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                        title=f"Change notice: lot {lot.code} suspended",
                        body=f"The regulator suspends lot {lot.code} of {project.title} while it reviews a complaint, "
                             f"{ends}. Reason: {data.reason}",
                        details={"change": "suspended", "lot_code": lot.code, "complaint_id": complaint.id,
                                 "until": until})
    await events.record(session, actor, events.complaint_stream(complaint.id), events.COMPLAINT_SUSPENDED,
                        row=complaint, reason=data.reason)
    return complaint


@use_case("trading.lift_complaint_suspension", REGULATORS)
async def lift_suspension(session: AsyncSession, actor: Actor, complaint_id: int) -> Complaint:
    """End the suspension before the decision."""
    complaint, project, lot = await _handled(session, actor, complaint_id)
    if complaint.suspended_at is None or complaint.resumed_at is not None:
        raise Conflict(f"complaint {complaint_id} has no suspension in force")
    await _resume(session, actor, complaint, project, lot, "the regulator lifted the suspension")
    return complaint


@use_case("trading.decide_complaint", REGULATORS)
async def decide_complaint(session: AsyncSession, actor: Actor, complaint_id: int,
                           data: ComplaintDecisionIn) -> Complaint:
    """Decide an accepted complaint, publish the decision and resume the lot."""
    complaint, project, lot = await _handled(session, actor, complaint_id)
    check_transition(f"complaint {complaint_id}", ComplaintStatus(complaint.status), ComplaintStatus.DECIDED,
                     ALLOWED_COMPLAINT_TRANSITIONS)
    now = utcnow()
    complaint.status, complaint.outcome = ComplaintStatus.DECIDED, data.outcome
    complaint.decision_reasons = data.reasons
    complaint.decided_at, complaint.handled_by = now, actor.user_id
    complaint.decision_late = complaint.decision_due is not None and now > ensure_utc(complaint.decision_due)
    notice = await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.COMPLAINT_DECISION,
        title=f"Decision on a complaint about lot {lot.code}: {data.outcome.replace('_', ' ')}",
        body=f"The regulator decided complaint {complaint.id} about the {complaint.matter} of lot {lot.code} of "
             f"{project.title}: {data.outcome.replace('_', ' ')}. Reasons: {data.reasons}",
        details={"complaint_id": complaint.id, "matter": complaint.matter, "outcome": data.outcome,
                 "decided_at": now, "decision_due": complaint.decision_due, "late": complaint.decision_late})
    complaint.decision_notice_id = notice.id
    session.add(complaint)
    await session.flush()
    if complaint.suspended_at is not None and complaint.resumed_at is None:
        await _resume(session, actor, complaint, project, lot, "the complaint is decided")
    await events.record(session, actor, events.complaint_stream(complaint.id), events.COMPLAINT_DECIDED, row=complaint)
    return complaint


# --- resumption ---------------------------------------------------------------------------------


async def _resume(session: AsyncSession, actor: Actor | None, complaint: Complaint, project: Project, lot: Lot,
                  reason: str) -> None:
    complaint.resumed_at = utcnow()
    session.add(complaint)
    if lot.status == LotStatus.SUSPENDED:  # a cancelled lot stays cancelled
        back = LotStatus(complaint.suspended_from_status or LotStatus.BIDDING)
        await change_lot_status(session, actor, lot, back, reason=reason, details={"complaint_id": complaint.id})
        await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
                            title=f"Change notice: lot {lot.code} resumed",
                            body=f"Lot {lot.code} of {project.title} resumes ({lot.status}): {reason}.",
                            details={"change": "resumed", "lot_code": lot.code, "complaint_id": complaint.id})
    await session.flush()
    await events.record(session, actor, events.complaint_stream(complaint.id), events.COMPLAINT_RESUMED,
                        row=complaint, reason=reason)


async def _resume_if_expired(session: AsyncSession, complaint: Complaint, project: Project, lot: Lot) -> bool:
    until = complaint.suspended_until
    if complaint.suspended_at is None or complaint.resumed_at is not None or until is None:
        return False
    if utcnow() <= ensure_utc(until):
        return False
    await _resume(session, None, complaint, project, lot, f"the suspension ended at {rfc3339(until)}")
    return True


async def resume_expired_suspensions(session: AsyncSession) -> list[int]:
    """Resume every lot whose complaint suspension has run out (for a periodic task)."""
    query = sa.select(Complaint).where(Complaint.suspended_at.is_not(None), Complaint.resumed_at.is_(None),  # type: ignore[union-attr]
                                       Complaint.suspended_until.is_not(None), Complaint.suspended_until < utcnow())  # type: ignore[union-attr, operator]
    resumed = []
    for complaint in (await session.scalars(query.order_by(Complaint.id).with_for_update())).all():
        project = await get_project_row(session, complaint.project_id)
        lot = await get_lot_row(session, complaint.lot_id, for_update=True)
        if await _resume_if_expired(session, complaint, project, lot):
            resumed.append(complaint.id)  # type: ignore[arg-type]
    return resumed


# --- reading ------------------------------------------------------------------------------------


@use_case("trading.get_complaint", READERS)
async def get_complaint(session: AsyncSession, actor: Actor,
                        complaint_id: int) -> tuple[Complaint, list[ComplaintEvidence]]:
    """A complaint and its evidence: for its complainant, the project's tenderer or agency, and
    oversight covering the lot."""
    complaint = await _complaint_row(session, complaint_id)
    project = await get_project_row(session, complaint.project_id)
    if not _may_read(actor, complaint, project):
        raise PermissionDenied(f"complaint {complaint_id} is read by its complainant, the tenderer and the "
                               "regulators of its jurisdiction")
    rows = await session.scalars(sa.select(ComplaintEvidence).where(ComplaintEvidence.complaint_id == complaint.id)
                                 .order_by(ComplaintEvidence.id))
    return complaint, list(rows.all())


def _may_read(actor: Actor, complaint: Complaint, project: Project) -> bool:
    return (complaint.party_id == actor.party_id or is_manager(actor, project)
            or covers(actor, events.project_scope(project)))


@use_case("trading.list_lot_complaints", READERS)
async def list_lot_complaints(session: AsyncSession, actor: Actor, lot_id: int) -> list[Complaint]:
    """The complaints about a lot that ``actor`` may read."""
    lot = await get_lot_row(session, lot_id)
    project = await get_project_row(session, lot.project_id)
    rows = (await session.scalars(sa.select(Complaint).where(Complaint.lot_id == lot.id).order_by(Complaint.id))).all()
    return [row for row in rows if _may_read(actor, row, project)]


async def _complaint_row(session: AsyncSession, complaint_id: int, *, for_update: bool = False) -> Complaint:
    query = sa.select(Complaint).where(Complaint.id == complaint_id)
    complaint = (await session.scalars(query.with_for_update() if for_update else query)).first()
    if complaint is None:
        raise NotFound(f"no complaint {complaint_id}")
    return complaint

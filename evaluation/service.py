"""Opening a lot's evaluation session, and reading it (state, report, bid packages).

A session opens once the lot is in evaluation and its opening record is published. It
copies the lot's method and parameters (a later edit of the lot cannot change a running
evaluation), takes the opened bids with their prices corrected by the method catalogue,
and reveals the sealed committee of the lot's draw to the session: from then on the
session's stream ``evaluation:<id>`` is its history.

A lot has one session, except after an objection to its candidate publicity is upheld
because the evaluation was wrong (``trading.award.reply_publicity_objection``): the lot is
back in evaluation and one re-evaluation session may open, naming the finished session it
re-evaluates (``reevaluation_of``). That one stays as it was; the new one is round n + 1,
quotes the tenderer's reasons, and seats the same draw's experts unless staff name a new
draw. Its candidates replace the withdrawn ones when its report is signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.usecases import use_case
from evaluation import events, views
from evaluation.channel import (
    FOLLOWERS,
    OVERSIGHT_ROLES,
    get_session_row,
    member_for,
    viewer_of,
)
from evaluation.context import EvaluationServices
from evaluation.members import put_on_duty, require_draw_venues
from evaluation.models import (
    Clarification,
    CommitteeMember,
    EvaluatedBid,
    EvaluationSession,
    EvaluationVenueStaff,
)
from evaluation.record import record
from evaluation.schemas import (
    DEFAULT_ABNORMAL_SCORE_THRESHOLD,
    DEFAULT_CLARIFICATION_MINUTES,
    SessionOpen,
    parse,
)
from evaluation.states import MemberStatus, Stage
from identities.models import User
from trading.award import withdrawal_awaiting_reevaluation
from trading.award_models import AwardWithdrawal
from trading.models import Lot, Project
from trading.opening_models import Opening, OpeningRow
from trading.opening_schemas import OpeningStatus, RowOutcome
from trading.states import LotStatus

REPORT_READERS = frozenset({Role.EXPERT, Role.TENDERER, Role.AGENCY}) | OVERSIGHT_ROLES
PACKAGE_READERS = frozenset({Role.EXPERT}) | OVERSIGHT_ROLES
MEMBER_REPORT_STAGES = (Stage.REPORT_SIGNING, Stage.FINISHED)
REEVALUATION_RULE = "reevaluation_needs_upheld_objection"


@use_case("evaluation.open_session", {Role.CENTER_STAFF})
async def open_session(session: AsyncSession, actor: Actor, lot_id: int, data: SessionOpen | dict[str, Any],
                       services: EvaluationServices) -> EvaluationSession:
    """Open the lot's session with its bids and its revealed committee: one per lot, and
    one re-evaluation for each publicity withdrawn after an upheld objection."""
    from expert_pool.committee import reveal_to_session

    data = parse(SessionOpen, data)
    lot = await session.scalar(sa.select(Lot).where(Lot.id == lot_id).with_for_update())
    if lot is None:
        raise NotFound(f"lot {lot_id} does not exist")
    project = await session.get(Project, lot.project_id)
    assert project is not None
    await _refuse_unready(session, lot)
    this_round = await _evaluation_round(session, lot, data)
    # The schema asks a first session for its draw; a re-evaluation keeps its experts by default.
    draw_id: int = data.draw_id or this_round.previous.draw_id  # type: ignore[union-attr]
    await require_draw_venues(session, draw_id, data.main_venue, data.secondary_venues)
    settings = _settings(data, project.segment, lot)
    now = utcnow()
    ev = EvaluationSession(lot_id=lot_id, project_id=lot.project_id, draw_id=draw_id,
                           host_user_id=actor.user_id, stage=Stage.SIGN_IN.value, method=lot.evaluation_method,
                           parameters=dict(lot.evaluation_parameters or {}), settings=settings, opened_at=now,
                           updated_at=now, **this_round.columns())
    session.add(ev)
    await session.flush()
    bids = await _evaluated_bids(session, ev, lot)
    await record(session, actor, ev.id, events.SESSION_OPENED, {  # type: ignore[arg-type]
        "lot_id": lot_id, "project_id": lot.project_id, "draw_id": draw_id, "method": ev.method,
        "parameters": ev.parameters, "settings": settings, "opened_at": rfc3339(now),
        "bids": [_bid_payload(bid) for bid in bids], **this_round.payload(draw_id)})
    # Whoever opens the session runs its main venue: they confirm the experts who sign in there.
    await put_on_duty(session, actor, ev.id, data.main_venue)  # type: ignore[arg-type]
    seats = await reveal_to_session(session, actor, draw_id, session_reference=events.session_stream(ev.id))
    if not seats:
        raise Conflict(f"draw {draw_id} has no accepted expert to seat")
    members = [CommitteeMember(session_id=ev.id, seat=index, expert_id=seat.expert_id,  # type: ignore[arg-type]
                               expert_code=seat.expert_code, name=seat.name, user_id=seat.user_id,
                               specialty=seat.specialty, status=MemberStatus.SEATED)
               for index, seat in enumerate(seats, start=1)]
    session.add_all(members)
    await session.flush()
    await record(session, actor, ev.id, events.COMMITTEE_REVEALED, {  # type: ignore[arg-type]
        "draw_id": draw_id, "members": [member_payload(m) for m in members]})
    return ev


async def _refuse_unready(session: AsyncSession, lot: Lot) -> None:
    if lot.status != LotStatus.EVALUATING:
        raise Conflict(f"lot {lot.code} is {lot.status}: a session opens for a lot in evaluation")
    published = await session.scalar(sa.select(Opening.id).where(
        Opening.lot_id == lot.id, Opening.status == OpeningStatus.PUBLISHED))
    if published is None:
        raise Conflict(f"the opening record of lot {lot.code} is not published yet")


@dataclass(frozen=True)
class EvaluationRound:
    """Which evaluation of the lot a new session is: the first, or a re-evaluation of
    ``previous`` answering the withdrawn publicity ``withdrawal``."""

    number: int = 1
    previous: EvaluationSession | None = None
    withdrawal: AwardWithdrawal | None = None

    def columns(self) -> dict[str, Any]:
        if self.withdrawal is None or self.previous is None:
            return {"evaluation_round": self.number}
        return {"evaluation_round": self.number, "reevaluation_of": self.previous.id,
                "award_withdrawal_id": self.withdrawal.id, "reevaluation_reason": self.withdrawal.reasons}

    def payload(self, draw_id: int) -> dict[str, Any]:
        if self.withdrawal is None or self.previous is None:
            return {"evaluation_round": self.number}
        return {"evaluation_round": self.number, "reevaluation": {
            "of_session_id": self.previous.id, "award_withdrawal_id": self.withdrawal.id,
            "objection_id": self.withdrawal.objection_id, "reason": self.withdrawal.reasons,
            "same_draw": draw_id == self.previous.draw_id}}


async def _evaluation_round(session: AsyncSession, lot: Lot, data: SessionOpen) -> EvaluationRound:
    """The round the new session is, or the reason none may open: a second session is
    only a re-evaluation of the lot's latest, finished session, after an upheld objection
    withdrew the publicity of its result, and only once per withdrawal."""
    latest = await session.scalar(sa.select(EvaluationSession).where(EvaluationSession.lot_id == lot.id)
                                  .order_by(EvaluationSession.evaluation_round.desc()).limit(1))  # type: ignore[attr-defined]
    if data.reevaluation_of is None:
        if latest is not None:
            raise Conflict(f"lot {lot.code} already has evaluation session {latest.id}; it is evaluated again only "
                           "after an objection to its candidates is upheld, by a re-evaluation naming that session "
                           "(reevaluation_of)")
        return EvaluationRound()
    if latest is None or latest.id != data.reevaluation_of:
        which = f"its latest is session {latest.id}" if latest is not None else "it has none"
        raise InvalidInput(f"session {data.reevaluation_of} is not the latest evaluation session of lot {lot.code} "
                           f"({which})", [FieldError("$.reevaluation_of", "not the lot's latest session")])
    if latest.stage != Stage.FINISHED:
        raise Conflict(f"evaluation session {latest.id} of lot {lot.code} is {latest.stage}; only a finished "
                       "evaluation is re-evaluated")
    withdrawal = await withdrawal_awaiting_reevaluation(session, lot.id)  # type: ignore[arg-type]
    if withdrawal is None or latest.award_withdrawal_id == withdrawal.id:
        raise RuleViolation(f"lot {lot.code} has no upheld objection to its candidate publicity awaiting "
                            f"re-evaluation: the result of evaluation session {latest.id} stands",
                            rule=REEVALUATION_RULE)
    return EvaluationRound(number=latest.evaluation_round + 1, previous=latest, withdrawal=withdrawal)


def _settings(data: SessionOpen, segment: str, lot: Lot) -> dict[str, Any]:
    from evaluation.methods.catalogue import review_criteria_for, scoring_factors

    factors = scoring_factors(lot.evaluation_method, lot.evaluation_parameters or {})
    objective = list(data.objective_factors or [])
    unknown = [name for name in objective if name not in factors]
    if unknown:
        known = ", ".join(factors) or "none (the method scores no factors)"
        raise InvalidInput(f"objective factors must be scoring factors of the lot's method ({known})",
                           [FieldError("$.objective_factors", f"unknown factor {name!r}") for name in unknown])
    threshold = data.abnormal_score_threshold or DEFAULT_ABNORMAL_SCORE_THRESHOLD
    return {
        "segment": segment,
        "venues": data.venues,
        "main_venue": data.main_venue,
        "review_criteria": list(data.review_criteria or review_criteria_for(segment, lot.evaluation_method)),
        "objective_factors": objective,
        "abnormal_score_threshold": f"{threshold:.2f}",
        "clarification_minutes": data.clarification_minutes or DEFAULT_CLARIFICATION_MINUTES,
        "ceiling_price": f"{lot.ceiling_price:.2f}" if lot.ceiling_price is not None else None,
        "budget": f"{lot.budget:.2f}" if lot.budget is not None else None,
    }


async def _evaluated_bids(session: AsyncSession, ev: EvaluationSession, lot: Lot) -> list[EvaluatedBid]:
    from evaluation.methods.prices import correct_price

    rows = list(await session.scalars(sa.select(OpeningRow).join(Opening, Opening.id == OpeningRow.opening_id)
                                      .where(Opening.lot_id == lot.id, OpeningRow.outcome == RowOutcome.OPENED)
                                      .order_by(OpeningRow.id)))
    if not rows:
        raise Conflict(f"lot {lot.code} has no opened bid to evaluate")
    bids = []
    for row in rows:
        corrected = correct_price(row.total_price, row.sheet_items)
        corrections = list(corrected.corrections) + ([f"problem: {corrected.problem}"] if corrected.problem else [])
        bids.append(EvaluatedBid(session_id=ev.id, bid_id=row.bid_id, party_id=row.party_id,  # type: ignore[arg-type]
                                 bidder_name=row.bidder_name, bidder_uscc=row.bidder_uscc,
                                 opened_price=row.total_price, corrected_price=corrected.price,
                                 corrections=corrections, sheet_items=row.sheet_items))
    session.add_all(bids)
    await session.flush()
    return bids


def _bid_payload(bid: EvaluatedBid) -> dict[str, Any]:
    return {"bid_id": bid.bid_id, "party_id": bid.party_id, "bidder_name": bid.bidder_name,
            "bidder_uscc": bid.bidder_uscc, "opened_price": bid.opened_price,
            "corrected_price": bid.corrected_price, "corrections": bid.corrections}


def member_payload(member: CommitteeMember) -> dict[str, Any]:
    """A seat as the stream names it (never an ID number or a phone)."""
    return {"member_id": member.id, "seat": member.seat, "name": member.name, "expert_code": member.expert_code,
            "specialty": member.specialty, "status": member.status}


# --- reading -------------------------------------------------------------------------------


@use_case("evaluation.get_session", FOLLOWERS)
async def session_view(session: AsyncSession, actor: Actor, session_id: int) -> dict[str, Any]:
    """The session now, as this viewer may see it."""
    ev = await get_session_row(session, session_id)
    viewer = await viewer_of(session, actor, ev)
    members = list(await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == session_id).order_by(CommitteeMember.seat)))
    state: dict[str, Any] = {"session_id": ev.id, "lot_id": ev.lot_id, "stage": ev.stage, "viewer": viewer.kind,
                             "opened_at": rfc3339(ev.opened_at),
                             "finished_at": rfc3339(ev.finished_at) if ev.finished_at else None}
    if viewer.kind == views.BIDDER:
        state["clarifications"] = await _clarifications(session, [Clarification.session_id == session_id,
                                                                   Clarification.party_id == viewer.party_id])
        return state
    state["venues"] = ev.settings.get("venues", [])
    state.update(evaluation_round=ev.evaluation_round, reevaluation_of=ev.reevaluation_of,
                 reevaluation_reason=ev.reevaluation_reason)
    state["chair_seat"] = next((m.seat for m in members if m.id == ev.chair_member_id), None)
    state["venue_staff"] = await _venue_staff(session, session_id)
    if viewer.kind == views.STAFF:
        state["members"] = [{"member_id": m.id, "seat": m.seat, "status": m.status, "venue": m.venue}
                            for m in members]
        return state
    state.update(method=ev.method, parameters=ev.parameters, settings=ev.settings,
                 chair_member_id=ev.chair_member_id, scoring_round=ev.scoring_round,
                 members=[{**member_payload(m), "venue": m.venue} for m in members],
                 bids=await _bids(session, session_id), report_sha256=ev.report_sha256)
    if viewer.kind == views.MEMBER:
        state["me"] = viewer.member_id
    if viewer.kind == views.OVERSIGHT or ev.stage in (Stage.RESULTS, *MEMBER_REPORT_STAGES):
        state["results"] = ev.results
    return state


async def _venue_staff(session: AsyncSession, session_id: int) -> list[dict[str, Any]]:
    """Who is on duty at which venue, in the order they checked in."""
    rows = await session.execute(
        sa.select(EvaluationVenueStaff.user_id, User.username, EvaluationVenueStaff.venue)
        .join(User, User.id == EvaluationVenueStaff.user_id)  # type: ignore[arg-type]
        .where(EvaluationVenueStaff.session_id == session_id).order_by(EvaluationVenueStaff.id))
    return [{"user_id": user_id, "username": username, "venue": venue} for user_id, username, venue in rows]


async def _bids(session: AsyncSession, session_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(sa.select(EvaluatedBid).where(EvaluatedBid.session_id == session_id)
                                 .order_by(EvaluatedBid.id))
    return [{**_bid_payload(row), "review_passed": row.review_passed, "rejection_reasons": row.rejection_reasons,
             "abnormally_low": row.abnormally_low, "total_score": row.total_score, "rank": row.rank,
             "candidate": row.candidate} for row in rows]


@use_case("evaluation.read_report", REPORT_READERS)
async def read_report(session: AsyncSession, actor: Actor, session_id: int, blobs: BlobStore) -> bytes:
    """The report (.docx) the members sign: members from report signing on, oversight
    once it exists, the project's side once the session is finished."""
    ev = await get_session_row(session, session_id)
    await _require_report_reader(session, actor, ev)
    if ev.report_sha256 is None:
        raise NotFound(f"evaluation session {session_id} has no report yet (stage {ev.stage})")
    return await _blob_bytes(blobs, ev.report_sha256)


@use_case("evaluation.read_signed_report", REPORT_READERS)
async def read_signed_report(session: AsyncSession, actor: Actor, session_id: int, blobs: BlobStore) -> bytes:
    """The signed report bundle (report, signatures, dissent), once the session is finished."""
    ev = await get_session_row(session, session_id)
    await _require_report_reader(session, actor, ev)
    if ev.stage != Stage.FINISHED or ev.signed_report_sha256 is None:
        raise NotFound(f"evaluation session {session_id} has no signed report yet (stage {ev.stage})")
    return await _blob_bytes(blobs, ev.signed_report_sha256)


async def _require_report_reader(session: AsyncSession, actor: Actor, ev: EvaluationSession) -> None:
    if actor.has_any(OVERSIGHT_ROLES):
        return
    if actor.has_any({Role.EXPERT}):
        member = await member_for(session, ev.id, actor)  # type: ignore[arg-type]
        if member is not None and member.status == MemberStatus.ACTIVE:
            if ev.stage not in MEMBER_REPORT_STAGES:
                raise Conflict(f"the report is read at report signing; the session is in {ev.stage}")
            return
    if actor.has_any({Role.TENDERER, Role.AGENCY}) and actor.party_id is not None:
        project = await session.get(Project, ev.project_id)
        if project is not None and actor.party_id in (project.tenderer_party_id, project.agency_party_id):
            if ev.stage != Stage.FINISHED:
                raise Conflict(f"the report reaches the project once the evaluation is finished; it is in {ev.stage}")
            return
    raise PermissionDenied(f"the report of evaluation session {ev.id} is for its committee, oversight and, "
                           "once finished, the project's tenderer or agency")


async def _blob_bytes(blobs: BlobStore, sha256: str) -> bytes:
    with blobs.open(sha256) as handle:
        return handle.read()


@use_case("evaluation.read_bid_package", PACKAGE_READERS)
async def read_bid_package(session: AsyncSession, actor: Actor, session_id: int, bid_id: int) -> str:
    """The SHA-256 of the opened bid package (its blob), for active members and oversight."""
    ev = await get_session_row(session, session_id)
    if not actor.has_any(OVERSIGHT_ROLES):
        member = await member_for(session, session_id, actor)
        if member is None or member.status != MemberStatus.ACTIVE:
            raise PermissionDenied("bid packages are read by the active members of the committee and oversight")
    in_session = await session.scalar(sa.select(EvaluatedBid.id).where(
        EvaluatedBid.session_id == ev.id, EvaluatedBid.bid_id == bid_id))
    sha256 = await session.scalar(sa.select(OpeningRow.package_sha256).where(OpeningRow.bid_id == bid_id))
    if in_session is None or sha256 is None:
        raise NotFound(f"bid {bid_id} is not evaluated in session {session_id}")
    return sha256


@use_case("evaluation.my_clarifications", {Role.BIDDER})
async def my_clarifications(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """The clarification requests addressed to the actor's organisation, newest first."""
    if actor.party_id is None:
        return []
    return await _clarifications(session, [Clarification.party_id == actor.party_id])


async def _clarifications(session: AsyncSession, where: list[Any]) -> list[dict[str, Any]]:
    rows = await session.scalars(sa.select(Clarification).where(*where).order_by(Clarification.id.desc()))
    return [{"clarification_id": c.id, "session_id": c.session_id, "bid_id": c.bid_id, "question": c.question,
             "status": c.status, "asked_at": rfc3339(c.asked_at), "due_at": rfc3339(c.due_at), "answer": c.answer,
             "answered_at": rfc3339(c.answered_at) if c.answered_at else None} for c in rows]

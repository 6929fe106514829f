"""After the evaluation: the candidate list, its publicity and objections, the winner.

The lot moves EVALUATING -> PUBLICITY (candidates published) -> AWARDED (winner confirmed,
award notice sealed, result notice out); the contract (``trading.contracts``) takes it to
CONTRACTED. An objection to the candidates upheld because the evaluation was wrong takes it
back from PUBLICITY to EVALUATING: the publicity is withdrawn by a change notice, its
candidates move to an ``AwardWithdrawal``, and the re-evaluation's candidates start a new
publicity. A price competition's lot is awarded at the close of its concluded competition
(``trading.price_bidding_deal``), and its award notice is the sealed deal confirmation
(``trading.award_notice.issue_deal_notice``). Every step is an entry of ``award:<lot_id>``; the notices, the lot's status
changes and the publicity objections are entries of the project's stream.

The time limits (publicity length, objection window, reply due) come from the rule table
(``trading.rules``), never from numbers here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.usecases import ANY_ROLE, use_case
from identities.models import Party
from supervision.ledger.append import append
from trading import events, rules
from trading.award_events import (
    AWARD_FAILED,
    CANDIDATES_RECORDED,
    PUBLICITY_STARTED,
    PUBLICITY_WITHDRAWN,
    award_payload,
    award_stream,
)
from trading.award_models import (
    Award,
    AwardCandidate,
    AwardStatus,
    AwardWithdrawal,
    ContractSignature,
    PublicityObjectionOutcome,
)
from trading.award_schemas import CandidateList, ObjectionReplyIn, PublicityObjectionIn
from trading.bid_models import Bid
from trading.models import Lot, Objection, Project
from trading.notices import record_notice
from trading.objections import record_objection, record_objection_reply
from trading.projects import change_lot_status
from trading.states import (
    LotStatus,
    NoticeKind,
    ObjectionStage,
    ObjectionStatus,
    Segment,
)

PROJECT_SIDE = frozenset({Role.TENDERER, Role.AGENCY})
OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
# Ranked candidates a committee may recommend, by segment (Bidding Law Regulations art. 53:
# "no more than three" in construction); segments not listed take the schema's maximum.
CANDIDATE_LIMITS = {Segment.CONSTRUCTION: 3, Segment.GOVERNMENT_PROCUREMENT: 3}
# A party that withdrew or replaced its bid before the deadline is no bidder of the lot.
NOT_A_BID = ("replaced", "withdrawn")
PUBLICITY = ObjectionStage.PUBLICITY.value


# --- loading and access -------------------------------------------------------------------


async def lot_and_project(session: AsyncSession, lot_id: int, *, for_update: bool = False) -> tuple[Lot, Project]:
    """The lot and its project; ``for_update`` locks the lot row (PostgreSQL), which
    serialises the steps of one award: two signatures, or an objection and the winner's
    confirmation, never interleave."""
    lot = await session.get(Lot, lot_id, with_for_update=for_update)
    if lot is None:
        raise NotFound(f"lot {lot_id} does not exist")
    project = await session.get(Project, lot.project_id)
    assert project is not None
    return lot, project


async def award_of(session: AsyncSession, lot: Lot) -> Award:
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    if award is None:
        raise NotFound(f"lot {lot.code} has no award yet: no candidate list is recorded and no price "
                       "competition of it has concluded")
    return award


def is_project_side(actor: Actor, project: Project) -> bool:
    """The tenderer or the agency of ``project`` (their users act for their party)."""
    return (actor.has_any(PROJECT_SIDE) and actor.party_id is not None
            and actor.party_id in (project.tenderer_party_id, project.agency_party_id))


def require_project_side(actor: Actor, project: Project, what: str) -> None:
    if not is_project_side(actor, project):
        raise PermissionDenied(f"{what} is for the tenderer or agency of project {project.code} only")


def require_reader(actor: Actor, project: Project, what: str) -> None:
    """Project side and oversight (centre staff, regulators, auditors, admins)."""
    if not (actor.has_any(OVERSIGHT) or is_project_side(actor, project)):
        raise PermissionDenied(f"{what} is for the tenderer or agency of project {project.code} and oversight")


def require_lot_status(lot: Lot, *allowed: LotStatus, doing: str) -> None:
    if lot.status not in allowed:
        wanted = " or ".join(allowed)
        raise Conflict(f"lot {lot.code} is {lot.status}; {doing} needs it {wanted}")


# --- the candidate list --------------------------------------------------------------------


@use_case("trading.record_candidates", {Role.CENTER_STAFF})
async def record_candidates(session: AsyncSession, actor: Actor, lot_id: int, data: CandidateList) -> Award:
    """Centre staff enter the ranked candidates from an evaluation report made outside
    the platform (a paper evaluation); see :func:`record_evaluated_candidates`."""
    return await record_evaluated_candidates(session, actor, lot_id, data)


async def record_evaluated_candidates(session: AsyncSession, actor: Actor, lot_id: int,
                                      data: CandidateList) -> Award:
    """Record the evaluation's ranked candidates of an evaluating lot.

    The evaluation session calls this when every member has signed the report, giving the
    signed bundle's SHA-256; its actor is the committee member whose signature completed
    the report, so the role check is the caller's (the session checked membership).
    Candidates must be opened bids of the lot, at most as many as the segment allows.
    """
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    require_lot_status(lot, LotStatus.EVALUATING, doing="recording candidates")
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    if award is not None and award.status != AwardStatus.REEVALUATION:
        raise Conflict(f"the candidates of lot {lot.code} are already recorded")
    limit = CANDIDATE_LIMITS.get(Segment(project.segment))
    if limit is not None and len(data.candidates) > limit:
        raise RuleViolation(f"{project.segment} allows at most {limit} ranked candidates; "
                            f"{len(data.candidates)} were given", rule="candidate_count")
    bids = await _candidate_bids(session, lot, data)
    now = utcnow()
    # After a withdrawn publicity the award row stays (it is the lot's one award, its
    # withdrawals hang on it) and takes the re-evaluation's candidates.
    award = award or Award(lot_id=lot.id, recorded_at=now)  # type: ignore[arg-type]
    award.status, award.report_sha256 = AwardStatus.CANDIDATES, data.report_sha256
    award.recorded_by, award.recorded_at, award.updated_at = actor.user_id, now, now
    session.add(award)
    await session.flush()
    rows = [AwardCandidate(award_id=award.id, rank=rank, bid_id=item.bid_id, party_id=bids[item.bid_id].party_id,  # type: ignore[arg-type]
                           price=item.price, score=item.score)
            for rank, item in enumerate(data.candidates, start=1)]
    session.add_all(rows)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=CANDIDATES_RECORDED, actor=actor,
                 payload=award_payload(award, candidates=[events.row_snapshot(row) for row in rows]))
    return award


async def record_failed_evaluation(session: AsyncSession, actor: Actor, lot_id: int, *, session_id: int,
                                   report_sha256: str) -> Lot:
    """The committee rejected every bid: the tender failed (Bidding Law art. 42: when every
    bid of a tender that must be held by law is rejected, the tender is held again).

    Called by the evaluation session when the signed report names no candidate, like
    :func:`record_evaluated_candidates`; the lot fails and the failed-tender notice is
    published with the signed report's SHA-256."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    require_lot_status(lot, LotStatus.EVALUATING, doing="failing the tender after the evaluation")
    reason = "the evaluation committee rejected every bid"
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    if award is not None:  # a re-evaluation after a withdrawn publicity: the award ends with the lot
        award.status, award.report_sha256, award.updated_at = AwardStatus.FAILED, report_sha256, utcnow()
        session.add(award)
        await session.flush()
        await append(session, stream=award_stream(lot.id), event_type=AWARD_FAILED, actor=actor,
                     payload=award_payload(award, reason=reason, evaluation_session_id=session_id))
    await change_lot_status(session, actor, lot, LotStatus.FAILED, reason=f"failed tender: {reason}",
                            details={"evaluation_session_id": session_id, "report_sha256": report_sha256})
    await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.FAILED,
        title=f"Failed tender notice: lot {lot.code}",
        body=(f"The tender for lot {lot.code} of {project.title} failed at its evaluation on {rfc3339(utcnow())}: "
              f"{reason} (signed evaluation report SHA-256 {report_sha256}). The tender is to be held again "
              "(Bidding Law art. 42)."),
        details={"lot_code": lot.code, "evaluation_session_id": session_id, "report_sha256": report_sha256,
                 "reason": reason})
    return lot


async def _candidate_bids(session: AsyncSession, lot: Lot, data: CandidateList) -> dict[int, Bid]:
    ids = [item.bid_id for item in data.candidates]
    bids = {bid.id: bid for bid in await session.scalars(sa.select(Bid).where(Bid.id.in_(ids)))}  # type: ignore[union-attr]
    problems = []
    for index, bid_id in enumerate(ids):
        bid = bids.get(bid_id)
        if bid is None or bid.lot_id != lot.id:
            problems.append(FieldError(f"$.candidates[{index}].bid_id", f"bid {bid_id} is not a bid of lot {lot.code}"))
        elif bid.status != "opened":
            problems.append(FieldError(f"$.candidates[{index}].bid_id",
                                       f"bid {bid_id} is {bid.status}; only opened bids can be candidates"))
    if problems:
        raise InvalidInput("; ".join(problem.message for problem in problems), problems)
    return bids  # type: ignore[return-value]


# --- publicity -----------------------------------------------------------------------------


@use_case("trading.publish_candidate_publicity", PROJECT_SIDE)
async def publish_candidate_publicity(session: AsyncSession, actor: Actor, lot_id: int) -> Award:
    """Publish the candidates (中标候选人公示) for the period the rule table sets; the lot
    enters publicity and bidders of the lot may object until the window closes."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    require_project_side(actor, project, "publishing the candidates")
    award = await award_of(session, lot)
    require_lot_status(lot, LotStatus.EVALUATING, doing="publishing the candidates")
    if award.status != AwardStatus.CANDIDATES:
        raise Conflict(f"the candidates of lot {lot.code} are already {award.status}")
    now = utcnow()
    until = rules.publicity_end(project.segment, project.procedure, now)
    objection_until = rules.objection_deadline(project.segment, project.procedure, PUBLICITY,
                                               publicity_until=until, known_at=now)
    candidates = await candidate_facts(session, award)
    replaces = await latest_withdrawal(session, award)
    body = _publicity_body(project, lot, candidates, now, until)
    if replaces is not None:
        body += (f"\nThese candidates come from the re-evaluation after the publicity of {rfc3339(replaces.withdrawn_at)}"
                 f" was withdrawn (change notice {replaces.change_notice_id}).")
    notice = await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.CANDIDATE_PUBLICITY,
        title=f"{project.title} {lot.title}: candidate publicity (中标候选人公示)", body=body,
        details={"lot_id": lot.id, "candidates": candidates, "publicity_from": now, "publicity_until": until,
                 "objection_until": objection_until,
                 "replaces_withdrawal_id": replaces.id if replaces is not None else None},
        publicity_until=until)
    await change_lot_status(session, actor, lot, LotStatus.PUBLICITY, reason="candidate publicity published",
                            details={"notice_id": notice.id})
    award.status = AwardStatus.PUBLICITY
    award.publicity_notice_id, award.publicity_start, award.publicity_until = notice.id, now, until
    award.objection_until, award.updated_at = objection_until, now
    session.add(award)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=PUBLICITY_STARTED, actor=actor,
                 payload=award_payload(award))
    return award


async def candidate_facts(session: AsyncSession, award: Award) -> list[dict[str, Any]]:
    """The candidates as published: rank, bid, party name and credit code, price, score."""
    rows = (await session.execute(
        sa.select(AwardCandidate, Party).join(Party, Party.id == AwardCandidate.party_id)
        .where(AwardCandidate.award_id == award.id).order_by(AwardCandidate.rank))).all()
    return [{"rank": c.rank, "bid_id": c.bid_id, "party_id": c.party_id, "name": p.name, "uscc": p.uscc,
             "price": c.price, "score": c.score} for c, p in rows]


def _publicity_body(project: Project, lot: Lot, candidates: list[dict[str, Any]], start: datetime,
                    until: datetime) -> str:
    lines = [f"Project {project.code} {project.title}, lot {lot.code} {lot.title}.",
             f"Publicity from {rfc3339(start)} until {rfc3339(until)}.", "Candidates, best first:"]
    for c in candidates:
        score = f", score {c['score']}" if c["score"] is not None else ""
        lines.append(f"{c['rank']}. {c['name']} ({c['uscc']}), price {c['price']} yuan{score}")
    return "\n".join(lines)


# --- objections during the publicity ---------------------------------------------------------


@use_case("trading.raise_publicity_objection", {Role.BIDDER})
async def raise_publicity_objection(
    session: AsyncSession, actor: Actor, lot_id: int, data: PublicityObjectionIn
) -> Objection:
    """A bidder of the lot objects to the candidates (异议) inside the window; the winner
    cannot be confirmed until the objection is answered."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    award = await award_of(session, lot)
    if award.status != AwardStatus.PUBLICITY or award.publicity_until is None:
        raise Conflict(f"no candidate publicity runs for lot {lot.code} (the award is {award.status})")
    own_bid = await session.scalar(sa.select(Bid.id).where(
        Bid.lot_id == lot.id, Bid.party_id == actor.party_id, Bid.status.not_in(NOT_A_BID)))  # type: ignore[attr-defined]
    if own_bid is None or actor.party_id is None:
        raise PermissionDenied(f"only bidders of lot {lot.code} may object to its candidates")
    now = utcnow()
    window_end = award.objection_until or award.publicity_until
    if now > window_end:
        raise RuleViolation(f"the objection window of the candidate publicity of lot {lot.code} closed at "
                            f"{rfc3339(window_end)}; objections are no longer accepted",
                            rule="publicity_objection_window")
    reply_due = rules.objection_reply_due(project.segment, project.procedure, PUBLICITY, now)
    return await record_objection(session, actor, project=project, lot=lot, stage=ObjectionStage.PUBLICITY,
                                  party_id=actor.party_id, text=data.text, reply_due=reply_due, raised_at=now)


@use_case("trading.reply_publicity_objection", PROJECT_SIDE)
async def reply_publicity_objection(
    session: AsyncSession, actor: Actor, objection_id: int, data: ObjectionReplyIn
) -> Objection:
    """The tenderer or agency answers. A reply after the due date is still taken (the
    process cannot stay blocked); the row shows it was late (replied_at after reply_due).

    Upheld because the evaluation was wrong (``outcome`` upheld_evaluation), the result
    cannot stand: the publicity is withdrawn and the lot goes back to evaluation
    (:func:`_withdraw_publicity`)."""
    objection = await session.get(Objection, objection_id)
    if objection is None or objection.stage != PUBLICITY:
        raise NotFound(f"publicity objection {objection_id} does not exist")
    project = await session.get(Project, objection.project_id)
    assert project is not None
    require_project_side(actor, project, "answering objections")
    if data.outcome != PublicityObjectionOutcome.UPHELD_EVALUATION:
        return await record_objection_reply(session, actor, objection, data.reply)
    lot, _ = await lot_and_project(session, objection.lot_id, for_update=True)  # type: ignore[arg-type]
    award = await award_of(session, lot)
    _require_upholdable(lot, award, objection)
    await record_objection_reply(session, actor, objection, data.reply)
    await _withdraw_publicity(session, actor, project, lot, award, objection, data.reasons)  # type: ignore[arg-type]
    return objection


def _require_upholdable(lot: Lot, award: Award, objection: Objection) -> None:
    """Only an objection to the publicity that runs now can withdraw it.

    The reply may come after ``publicity_until`` (the law gives the tenderer 3 days from
    the objection, and the winner waits for it), so "ended" means the publicity is no
    longer the lot's step: the winner is confirmed, or it was withdrawn already."""
    if award.status != AwardStatus.PUBLICITY or lot.status != LotStatus.PUBLICITY:
        raise Conflict(f"the candidate publicity of lot {lot.code} has ended (the award is {award.status}, the lot "
                       f"{lot.status}): objection {objection.id} can no longer be upheld")
    started = ensure_utc(award.publicity_start)  # type: ignore[arg-type]
    if ensure_utc(objection.raised_at) < started:
        raise Conflict(f"objection {objection.id} concerns a candidate publicity of lot {lot.code} that was withdrawn "
                       f"before the current one started at {rfc3339(started)}; it can be dismissed, not upheld")


async def _withdraw_publicity(session: AsyncSession, actor: Actor, project: Project, lot: Lot, award: Award,
                              objection: Objection, reasons: str) -> AwardWithdrawal:
    """Withdraw the running publicity by a change notice, move its candidates to the
    award's history and send the lot back to evaluation (PUBLICITY -> EVALUATING)."""
    rows = list(await session.scalars(sa.select(AwardCandidate).where(AwardCandidate.award_id == award.id)
                                      .order_by(AwardCandidate.rank)))
    earlier = await session.scalar(sa.select(sa.func.count()).select_from(AwardWithdrawal)
                                   .where(AwardWithdrawal.award_id == award.id))
    now = utcnow()
    notice = await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.CHANGE,
        title=f"Change notice: candidate publicity of lot {lot.code} withdrawn",
        body=f"The candidate publicity of lot {lot.code} of {project.title} (notice {award.publicity_notice_id}) is "
             f"withdrawn: objection {objection.id} to the evaluation result is upheld. Reasons: {reasons} "
             "The lot is evaluated again and its candidates will be published anew.",
        details={"change": "publicity_withdrawn", "lot_code": lot.code, "objection_id": objection.id,
                 "publicity_notice_id": award.publicity_notice_id, "reasons": reasons})
    withdrawal = AwardWithdrawal(
        award_id=award.id, lot_id=lot.id, round=int(earlier or 0) + 1, objection_id=objection.id,  # type: ignore[arg-type]
        outcome=PublicityObjectionOutcome.UPHELD_EVALUATION, reasons=reasons, report_sha256=award.report_sha256,
        publicity_notice_id=award.publicity_notice_id, publicity_start=award.publicity_start,
        publicity_until=award.publicity_until, candidates=[events.row_snapshot(row) for row in rows],
        change_notice_id=notice.id, withdrawn_by=actor.user_id, withdrawn_at=now)
    session.add(withdrawal)
    for row in rows:  # the withdrawal keeps them; the award holds only candidates that stand
        await session.delete(row)
    award.status, award.report_sha256, award.updated_at = AwardStatus.REEVALUATION, None, now
    award.publicity_notice_id = award.publicity_start = award.publicity_until = award.objection_until = None
    session.add(award)
    await session.flush()
    await change_lot_status(session, actor, lot, LotStatus.EVALUATING,
                            reason="objection to the candidates upheld: the lot is evaluated again",
                            details={"objection_id": objection.id, "withdrawal_id": withdrawal.id,
                                     "change_notice_id": notice.id})
    await append(session, stream=award_stream(lot.id), event_type=PUBLICITY_WITHDRAWN, actor=actor,
                 payload=award_payload(award, withdrawal=events.row_snapshot(withdrawal),
                                       discarded=[row.id for row in rows]))
    return withdrawal


async def latest_withdrawal(session: AsyncSession, award: Award) -> AwardWithdrawal | None:
    return await session.scalar(sa.select(AwardWithdrawal).where(AwardWithdrawal.award_id == award.id)
                                .order_by(AwardWithdrawal.round.desc()).limit(1))  # type: ignore[attr-defined]


async def withdrawal_awaiting_reevaluation(session: AsyncSession, lot_id: int) -> AwardWithdrawal | None:
    """The withdrawn publicity the lot's re-evaluation answers, while its award waits for
    new candidates; None when no upheld objection sent the lot back to evaluation."""
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot_id))
    if award is None or award.status != AwardStatus.REEVALUATION:
        return None
    return await latest_withdrawal(session, award)


async def withdrawals_of(session: AsyncSession, award: Award) -> list[AwardWithdrawal]:
    """The award's withdrawn publicities, oldest first (read after :func:`get_award`)."""
    rows = await session.scalars(sa.select(AwardWithdrawal).where(AwardWithdrawal.award_id == award.id)
                                 .order_by(AwardWithdrawal.round))
    return list(rows)


async def open_objections(session: AsyncSession, lot: Lot) -> list[int]:
    rows = await session.scalars(sa.select(Objection.id).where(
        Objection.lot_id == lot.id, Objection.stage == PUBLICITY, Objection.status == ObjectionStatus.OPEN))
    return list(rows)


# --- reading ---------------------------------------------------------------------------------


@use_case("trading.get_award", ANY_ROLE)
async def get_award(
    session: AsyncSession, actor: Actor, lot_id: int
) -> tuple[Award, list[dict[str, Any]], list[ContractSignature]]:
    """The award with its candidates and contract signatures. Once published it is public
    (the publicity and result notices say as much); before, only the project side and
    oversight read it."""
    lot, project = await lot_and_project(session, lot_id)
    award = await award_of(session, lot)
    if award.status == AwardStatus.CANDIDATES:
        require_reader(actor, project, "the unpublished candidate list")
    if award.status == AwardStatus.CONCLUDED:  # public with the result notice; the board shows numbers meanwhile
        require_reader(actor, project, "a deal whose result notice is not out yet")
    candidates = await session.scalars(sa.select(AwardCandidate).where(AwardCandidate.award_id == award.id)
                                       .order_by(AwardCandidate.rank))
    parties = {c["bid_id"]: c for c in await candidate_facts(session, award)}
    rows = [{**events.row_snapshot(c), "party_name": parties[c.bid_id]["name"],
             "party_uscc": parties[c.bid_id]["uscc"]} for c in candidates]
    signatures = await session.scalars(sa.select(ContractSignature).where(ContractSignature.award_id == award.id)
                                       .order_by(ContractSignature.id))
    return award, rows, list(signatures)

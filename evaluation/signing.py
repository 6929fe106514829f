"""The evaluation report: prepared once, signed by every member, handed back to trading.

On entering REPORT_SIGNING the report is built from the tables (``report_data.gather``,
``report.build_report``) and stored as a blob; its SHA-256 is what every member signs.
Each active member sends a base64 DER detached CMS signature over the report's exact
bytes, made with a certificate the trust list accepts for signing and that names the
member's own ID number (a certificate or an e-seal); a signature over anything else
(another version of the report) is refused, naming the report it must cover. When the
last member has signed, the session finishes: the report, the signatures and the dissent
become one signed bundle (``report_bundle.make_bundle``), and the ranked candidates go to
trading with the bundle's SHA-256 (``trading.award.record_evaluated_candidates``), which
starts the candidate publicity there.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import rfc3339, utcnow
from core.errors import Conflict, PermissionDenied
from evaluation import events
from evaluation.context import Context
from evaluation.message_schemas import SignReport
from evaluation.models import CommitteeMember, EvaluationSession, ReportSignature
from evaluation.record import record
from evaluation.report import build_report
from evaluation.report_bundle import BundleSignature, make_bundle, signer_subject
from evaluation.report_data import dissents_of, gather
from evaluation.results import candidates_in_order
from evaluation.review import active_members, session_bids
from evaluation.schemas import parse
from evaluation.states import Stage
from expert_pool.models import Expert
from identities.signed_content import check_signature
from trading.award import record_evaluated_candidates, record_failed_evaluation
from trading.award_schemas import CandidateIn, CandidateList


async def prepare_report(session: AsyncSession, ctx: Context) -> str:
    """Build and store the report (on entering REPORT_SIGNING); its SHA-256."""
    ev = ctx.ev
    generated_at = utcnow()
    report = build_report(await gather(session, ev, generated_at=generated_at))
    stored = await ctx.services.blobs.put_bytes(report)
    ev.report_sha256, ev.report_size, ev.updated_at = stored.sha256, stored.size, generated_at
    session.add(ev)
    await session.flush()
    signers = [m.seat for m in await active_members(session, ctx.session_id)]
    await record(session, None, ctx.session_id, events.REPORT_PREPARED, {
        "report_sha256": stored.sha256, "size": stored.size, "generated_at": generated_at, "signers": signers})
    return stored.sha256


def report_bytes(ctx: Context) -> bytes:
    ev = ctx.ev
    assert ev.report_sha256 is not None, "the report is prepared on entering report signing"
    with ctx.services.blobs.open(ev.report_sha256) as stored:
        return stored.read()


async def handle_sign(session: AsyncSession, ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """``sign_report {signature}``: a member's detached CMS signature over the report."""
    ctx.require_stage(Stage.REPORT_SIGNING, doing="signing the report")
    member = ctx.require_active_member("signing the report")
    message = parse(SignReport, fields)
    ev = ctx.ev
    if await _signature_of(session, ev, member) is not None:
        raise Conflict(f"seat {member.seat} has already signed the report")
    report = report_bytes(ctx)
    expected = ev.report_sha256
    signer = await check_signature(
        session, ctx.services.revocation, report, message.signature, what="the evaluation report",
        mismatch=f"a signature over a different report: the signature does not cover this session's report "
                 f"(sha256 {expected}); download the report and sign its exact bytes")
    expert = await session.get(Expert, member.expert_id)
    assert expert is not None
    if signer.identity.get("person_id") != expert.id_number:
        raise PermissionDenied(f"the signing certificate names another person than the member in seat {member.seat}")
    now = utcnow()
    signature = ReportSignature(session_id=ctx.session_id, member_id=member.id, report_sha256=expected,  # type: ignore[arg-type]
                                signature=message.signature, signer_fingerprint=signer.fingerprint,
                                signer_subject=signer.subject, signed_at=now)
    session.add(signature)
    await session.flush()
    await record(session, ctx.actor, ctx.session_id, events.REPORT_SIGNED, {
        "member_id": member.id, "seat": member.seat, "report_sha256": expected,
        "signer_fingerprint": signer.fingerprint,
        "signature_sha256": hashlib.sha256(message.signature).hexdigest()})
    return {"report_sha256": expected, "signed_at": rfc3339(now)}


async def _signature_of(session: AsyncSession, ev: EvaluationSession,
                        member: CommitteeMember) -> ReportSignature | None:
    return await session.scalar(sa.select(ReportSignature).where(ReportSignature.session_id == ev.id,
                                                                 ReportSignature.member_id == member.id))


async def stage_complete(session: AsyncSession, ctx: Context) -> bool:
    """Every active member has signed this report."""
    members = await active_members(session, ctx.session_id)
    signed = set(await session.scalars(sa.select(ReportSignature.member_id).where(
        ReportSignature.session_id == ctx.session_id, ReportSignature.report_sha256 == ctx.ev.report_sha256)))
    return bool(members) and all(member.id in signed for member in members)


async def finish(session: AsyncSession, ctx: Context) -> str:
    """The signed bundle, and the candidates handed to trading (on entering FINISHED)."""
    ev = ctx.ev
    members = {m.id: m for m in await active_members(session, ctx.session_id)}
    rows = await session.scalars(sa.select(ReportSignature).where(ReportSignature.session_id == ctx.session_id)
                                 .order_by(ReportSignature.id))
    signatures = [BundleSignature(seat=members[row.member_id].seat, member=members[row.member_id].name,
                                  signer_subject=signer_subject(row.signature), signature=row.signature)
                  for row in rows if row.member_id in members]
    bundle = make_bundle(report_bytes(ctx), signatures, await dissents_of(session, ev))
    stored = await ctx.services.blobs.put_bytes(bundle)
    ev.finished_at = ev.updated_at = utcnow()
    session.add(ev)
    candidates = candidates_in_order(await session_bids(session, ctx.session_id))
    listed = [{"bid_id": bid.bid_id, "rank": bid.rank, "price": bid.corrected_price, "score": bid.total_score}
              for bid in candidates]
    award_id = None
    if candidates:
        award = await record_evaluated_candidates(session, ctx.actor, ev.lot_id, CandidateList(
            candidates=[CandidateIn(bid_id=bid.bid_id, price=bid.corrected_price, score=bid.total_score)  # type: ignore[arg-type]
                        for bid in candidates], report_sha256=stored.sha256))
        award_id = award.id
    else:
        await record_failed_evaluation(session, ctx.actor, ev.lot_id, session_id=ctx.session_id,
                                       report_sha256=stored.sha256)
    await session.flush()
    await record(session, None, ctx.session_id, events.SESSION_FINISHED, {
        "bundle_sha256": stored.sha256, "bundle_size": stored.size, "report_sha256": ev.report_sha256,
        "candidates": listed, "award_id": award_id,
        "note": None if candidates else "no valid bid remains: the tender failed (lot failed, notice published)"})
    return stored.sha256

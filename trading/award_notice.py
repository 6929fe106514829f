"""Confirming the winner: the award notice (中标通知书) as a sealed .docx, the result notice.

The notice is written with python-docx and sealed with the platform e-seal
(``ca_interop.eseal.seal_docx``): the seal's picture is placed in the document and a
GB/T 38540 SES_Signature over the saved file's exact bytes is kept beside it. Both are
blobs; the result notice names the document by its SHA-256, and anyone can check the seal
(:func:`verify_award_notice`).
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.eseal import seal_docx, verify_signature
from ca_interop.platform_seal import PlatformSeal
from ca_interop.revocation import RevocationSource
from ca_interop.validation import CertificateValidator, TrustAnchor
from core.actors import Actor
from core.blobs import BlobStore
from core.clock import rfc3339, to_shanghai, utcnow
from core.errors import Conflict, FieldError, InvalidInput, RuleViolation
from core.usecases import ANY_ROLE, use_case
from identities import trust_service
from identities.models import Party
from supervision.ledger.append import append
from trading.award import (
    PROJECT_SIDE,
    award_of,
    candidate_facts,
    lot_and_project,
    open_objections,
    require_lot_status,
    require_project_side,
)
from trading.award_events import WINNER_CONFIRMED, award_payload, award_stream
from trading.award_models import Award, AwardStatus
from trading.award_schemas import WinnerConfirmation
from trading.models import Lot, Project
from trading.notices import record_notice
from trading.projects import change_lot_status
from trading.states import LotStatus, NoticeKind

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SES_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class AwardFacts:
    """What the award notice states."""

    project: Project
    lot: Lot
    tenderer: Party
    agency: Party | None
    winner: dict[str, Any]
    publicity_start: datetime
    publicity_until: datetime
    confirmed_at: datetime
    deviation_reason: str | None


@use_case("trading.confirm_winner", PROJECT_SIDE)
async def confirm_winner(
    session: AsyncSession, actor: Actor, lot_id: int, data: WinnerConfirmation, *, blobs: BlobStore,
    seal: PlatformSeal,
) -> Award:
    """The tenderer (or its agency) confirms the winner once the publicity has ended and
    every objection is answered: normally the first candidate, another one only with a
    stated reason. Issues the sealed award notice and the result notice; the lot is awarded."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    require_project_side(actor, project, "confirming the winner")
    award = await award_of(session, lot)
    require_lot_status(lot, LotStatus.PUBLICITY, doing="confirming the winner")
    now = utcnow()
    if award.status != AwardStatus.PUBLICITY or award.publicity_until is None or award.publicity_start is None:
        raise Conflict(f"the candidates of lot {lot.code} are {award.status}, not in publicity")
    if now < award.publicity_until:
        raise RuleViolation(f"the candidate publicity of lot {lot.code} runs until {rfc3339(award.publicity_until)}; "
                            "the winner can be confirmed after it ends", rule="candidate_publicity")
    unanswered = await open_objections(session, lot)
    if unanswered:
        raise RuleViolation(f"objection(s) {', '.join(map(str, unanswered))} to the candidates of lot {lot.code} "
                            "are not answered yet; answer them before confirming the winner",
                            rule="publicity_objection_reply")
    winner = _chosen_candidate(await candidate_facts(session, award), data)
    tenderer = await session.get(Party, project.tenderer_party_id)
    agency = await session.get(Party, project.agency_party_id) if project.agency_party_id else None
    assert tenderer is not None
    facts = AwardFacts(project=project, lot=lot, tenderer=tenderer, agency=agency, winner=winner,
                       publicity_start=award.publicity_start, publicity_until=award.publicity_until,
                       confirmed_at=now, deviation_reason=data.reason if winner["rank"] != 1 else None)
    document, signature = await asyncio.to_thread(seal_award_notice, facts, seal)
    stored = await blobs.put_bytes(document)
    stored_signature = await blobs.put_bytes(signature)
    notice = await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.RESULT,
        title=f"{project.title} {lot.title}: result notice (中标结果公告)",
        body=f"The winner of lot {lot.code} {lot.title} is {winner['name']} ({winner['uscc']}) at "
             f"{winner['price']} yuan.",
        details={"lot_id": lot.id, "winner": winner, "award_notice_sha256": stored.sha256,
                 "seal_signature_sha256": stored_signature.sha256, "deviation_reason": facts.deviation_reason},
        document_sha256=stored.sha256)
    await change_lot_status(session, actor, lot, LotStatus.AWARDED, reason="winner confirmed",
                            details={"bid_id": winner["bid_id"], "result_notice_id": notice.id})
    award.status = AwardStatus.AWARDED
    award.winner_bid_id, award.winner_party_id, award.price = winner["bid_id"], winner["party_id"], winner["price"]
    award.deviation_reason, award.confirmed_by, award.confirmed_at = facts.deviation_reason, actor.user_id, now
    award.award_notice_sha256, award.award_notice_size = stored.sha256, stored.size
    award.seal_signature_sha256, award.result_notice_id, award.updated_at = stored_signature.sha256, notice.id, now
    session.add(award)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=WINNER_CONFIRMED, actor=actor,
                 payload=award_payload(award))
    return award


def _chosen_candidate(candidates: list[dict[str, Any]], data: WinnerConfirmation) -> dict[str, Any]:
    chosen = next((c for c in candidates if c["bid_id"] == data.bid_id), None)
    if chosen is None:
        ranked = ", ".join(f"{c['rank']}: bid {c['bid_id']}" for c in candidates)
        raise InvalidInput(f"bid {data.bid_id} is not a candidate ({ranked})",
                           [FieldError("$.bid_id", "not one of the published candidates")])
    if chosen["rank"] != 1 and not data.reason:
        raise InvalidInput(f"bid {data.bid_id} is candidate {chosen['rank']}, not the first: state the reason",
                           [FieldError("$.reason", "required when the first candidate is not chosen")])
    return chosen


# --- the document ------------------------------------------------------------------------------


def award_notice_docx(facts: AwardFacts) -> bytes:
    """The award notice, in Chinese with the English names of the platform beside them."""
    import docx

    project, lot, winner = facts.project, facts.lot, facts.winner
    document = docx.Document()
    document.add_heading("中标通知书 Award notice", level=1)
    document.add_paragraph(f"致 To: {winner['name']} (统一社会信用代码 USCC {winner['uscc']})")
    document.add_paragraph(
        "经评标委员会评审并公示，你单位被确定为下列标段的中标人。Following the evaluation and the candidate "
        "publicity, you are the winner of the lot below.")
    rows = [
        ("项目 Project", f"{project.code} {project.title}"),
        ("标段 Lot", f"{lot.code} {lot.title}"),
        ("中标人 Winner", f"{winner['name']}"),
        ("统一社会信用代码 USCC", winner["uscc"]),
        ("中标价 Price (yuan)", str(winner["price"])),
        ("候选人排名 Candidate rank", str(winner["rank"])),
        ("公示期 Publicity", f"{_local(facts.publicity_start)} - {_local(facts.publicity_until)}"),
        ("确定日期 Confirmed", _local(facts.confirmed_at)),
        ("招标人 Tenderer", f"{facts.tenderer.name} ({facts.tenderer.uscc})"),
    ]
    if facts.agency is not None:
        rows.append(("招标代理机构 Agency", f"{facts.agency.name} ({facts.agency.uscc})"))
    if facts.deviation_reason:
        rows.append(("未选第一候选人的理由 Reason", facts.deviation_reason))
    table = document.add_table(rows=0, cols=2)
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    document.add_paragraph("请于本通知书发出之日起三十日内签订书面合同。Please sign the written contract within "
                           "30 days of this notice.")
    document.add_paragraph(f"{facts.tenderer.name}  {_local(facts.confirmed_at)}")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def seal_award_notice(facts: AwardFacts, seal: PlatformSeal) -> tuple[bytes, bytes]:
    """The sealed .docx and its SES_Signature (blocking: run it in a thread)."""
    with tempfile.TemporaryDirectory(prefix="award-notice-") as directory:
        source, sealed = Path(directory) / "draft.docx", Path(directory) / f"award-notice-{facts.lot.code}.docx"
        source.write_bytes(award_notice_docx(facts))
        signature = seal_docx(source, seal.seal_der, seal.key, seal.certificate, sealed, time=facts.confirmed_at,
                              property_info=f"award-notice:lot={facts.lot.id}")
        return sealed.read_bytes(), signature


def _local(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


# --- verifying and reading -----------------------------------------------------------------------


@use_case("trading.verify_award_notice", ANY_ROLE)
async def verify_award_notice(
    session: AsyncSession, actor: Actor, lot_id: int, *, blobs: BlobStore, revocation: RevocationSource,
    seal_roots: tuple[x509.Certificate, ...] = (),
) -> dict[str, Any]:
    """Check the award notice's seal signature against the stored file: the document hash,
    the signatures of seal and signer, and the certificates against the trust list plus the
    platform seal's own root (``seal_roots``), which the platform trusts for its seal."""
    award = await _awarded(session, lot_id)
    validator = await trust_service.certificate_validator(session, revocation)
    anchors = [*validator.anchors, *(TrustAnchor(name="platform e-seal root", certificate=root) for root in seal_roots
                                     if all(root.dump() != a.certificate.dump() for a in validator.anchors))]
    validator = CertificateValidator(anchors, revocation)
    assert award.award_notice_sha256 is not None and award.seal_signature_sha256 is not None
    signature = blobs.path_for(award.seal_signature_sha256).read_bytes()
    return await verify_signature(blobs.path_for(award.award_notice_sha256), signature, validator=validator)


@use_case("trading.read_award_notice", ANY_ROLE)
async def award_notice_file(session: AsyncSession, actor: Actor, lot_id: int, part: str) -> tuple[str, str, str]:
    """``(blob sha256, media type, file name)`` of the award notice (``document``) or its
    seal signature (``signature``): public once the winner is confirmed."""
    award = await _awarded(session, lot_id)
    lot, _ = await lot_and_project(session, lot_id)
    if part == "document":
        return award.award_notice_sha256, DOCX_MEDIA_TYPE, f"award-notice-{lot.code}.docx"  # type: ignore[return-value]
    return award.seal_signature_sha256, SES_MEDIA_TYPE, f"award-notice-{lot.code}.docx.ses"  # type: ignore[return-value]


async def _awarded(session: AsyncSession, lot_id: int) -> Award:
    lot, _ = await lot_and_project(session, lot_id)
    award = await award_of(session, lot)
    if award.award_notice_sha256 is None:
        raise Conflict(f"lot {lot.code} has no award notice yet: the winner is not confirmed")
    return award

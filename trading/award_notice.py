"""Confirming the winner: the award notice (中标通知书) as a sealed .docx, the result notice.

A price competition's deal has no winner to confirm: its award notice is the deal
confirmation (成交确认书) as a sealed .docx, issued after the close (:func:`issue_deal_notice`).

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

import sqlalchemy as sa
from asn1crypto import x509
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.eseal import seal_docx, verify_signature
from ca_interop.platform_seal import PlatformSeal
from ca_interop.revocation import RevocationSource
from ca_interop.validation import CertificateValidator, TrustAnchor
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import rfc3339, to_shanghai, utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    PermissionDenied,
    RuleViolation,
)
from core.usecases import ANY_ROLE, use_case
from identities import trust_service
from identities.models import Party
from supervision.ledger.append import append
from trading.award import (
    PROJECT_SIDE,
    award_of,
    candidate_facts,
    is_project_side,
    lot_and_project,
    open_objections,
    require_lot_status,
    require_project_side,
)
from trading.award_events import (
    DEAL_NOTICE_ISSUED,
    WINNER_CONFIRMED,
    award_payload,
    award_stream,
)
from trading.award_models import Award, AwardStatus
from trading.award_schemas import WinnerConfirmation
from trading.models import Lot, Project
from trading.notices import record_notice
from trading.price_bidding_deal import competition_of_lot, deal_facts
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
    _add_fact_table(document, rows)
    document.add_paragraph("请于本通知书发出之日起三十日内签订书面合同。Please sign the written contract within "
                           "30 days of this notice.")
    document.add_paragraph(f"{facts.tenderer.name}  {_local(facts.confirmed_at)}")
    return _docx_bytes(document)


def seal_award_notice(facts: AwardFacts, seal: PlatformSeal) -> tuple[bytes, bytes]:
    """The sealed .docx and its SES_Signature (blocking: run it in a thread)."""
    return seal_document(award_notice_docx(facts), facts.lot, facts.confirmed_at, seal)


def seal_document(document: bytes, lot: Lot, moment: datetime, seal: PlatformSeal) -> tuple[bytes, bytes]:
    """``document`` (a .docx) with the platform seal placed, and its SES_Signature (blocking)."""
    with tempfile.TemporaryDirectory(prefix="award-notice-") as directory:
        source, sealed = Path(directory) / "draft.docx", Path(directory) / f"award-notice-{lot.code}.docx"
        source.write_bytes(document)
        signature = seal_docx(source, seal.seal_der, seal.key, seal.certificate, sealed, time=moment,
                              property_info=f"award-notice:lot={lot.id}")
        return sealed.read_bytes(), signature


# --- a price competition's deal --------------------------------------------------------------------


@dataclass(frozen=True)
class DealFacts:
    """What the award notice of a price competition's deal states."""

    project: Project
    lot: Lot
    transferor: Party
    agency: Party | None
    deal: dict[str, Any]
    issued_at: datetime


@use_case("trading.issue_deal_notice", PROJECT_SIDE | {Role.CENTER_STAFF})
async def issue_deal_notice(
    session: AsyncSession, actor: Actor, lot_id: int, *, blobs: BlobStore, seal: PlatformSeal
) -> Award:
    """Issue the award notice of a concluded price competition: the deal confirmation
    (成交确认书) as a .docx sealed with the platform e-seal, and the result notice
    (成交结果公告). The project's tenderer or agency, or centre staff (the exchange). The
    award becomes awarded, so the contract can follow; the lot was awarded at the close."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    if not (actor.has_any({Role.CENTER_STAFF}) or is_project_side(actor, project)):
        raise PermissionDenied(f"issuing the deal notice of lot {lot.code} is for the tenderer or agency of project "
                               f"{project.code} and centre staff")
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    competition = await competition_of_lot(session, lot.id)
    if award is None or competition is None or award.status not in (AwardStatus.CONCLUDED, AwardStatus.AWARDED,
                                                                    AwardStatus.CONTRACTED):
        raise Conflict(f"lot {lot.code} has no concluded price competition; a tender's award notice is issued "
                       "by confirming the winner after the candidate publicity")
    if award.status != AwardStatus.CONCLUDED:
        raise Conflict(f"the deal notice of lot {lot.code} is already issued (the award is {award.status})")
    deal = await deal_facts(session, competition)
    transferor = await session.get(Party, project.tenderer_party_id)
    agency = await session.get(Party, project.agency_party_id) if project.agency_party_id else None
    assert transferor is not None
    now = utcnow()
    facts = DealFacts(project=project, lot=lot, transferor=transferor, agency=agency, deal=deal, issued_at=now)
    document, signature = await asyncio.to_thread(seal_document, deal_notice_docx(facts), lot, now, seal)
    stored, stored_signature = await blobs.put_bytes(document), await blobs.put_bytes(signature)
    notice = await record_notice(
        session, actor, project=project, lot=lot, kind=NoticeKind.RESULT,
        title=f"{project.title} {lot.title}: deal result notice (成交结果公告)", body=_deal_body(facts),
        details={"lot_id": lot.id, "competition_id": competition.id, "winner": deal["winner"], "price": deal["price"],
                 "concluded_at": deal["concluded_at"], "reserve": deal["reserve"],
                 "award_notice_sha256": stored.sha256, "seal_signature_sha256": stored_signature.sha256},
        document_sha256=stored.sha256)
    award.status, award.confirmed_by, award.confirmed_at = AwardStatus.AWARDED, actor.user_id, now
    award.award_notice_sha256, award.award_notice_size = stored.sha256, stored.size
    award.seal_signature_sha256, award.result_notice_id, award.updated_at = stored_signature.sha256, notice.id, now
    session.add(award)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=DEAL_NOTICE_ISSUED, actor=actor,
                 payload=award_payload(award))
    return award


def _deal_body(facts: DealFacts) -> str:
    deal = facts.deal
    return (f"Lot {facts.lot.code} {facts.lot.title} of project {facts.project.code}: price competition "
            f"{deal['competition_id']} ({deal['mode']}) concluded on {deal['concluded_at']}. Buyer: bidder number "
            f"{deal['winner']['bidder_number']}, {deal['winner']['name']} ({deal['winner']['uscc']}), at "
            f"{deal['price']} yuan. {_reserve_line(deal['reserve'])}")


def _reserve_line(reserve: dict[str, Any]) -> str:
    if not reserve["set"]:
        return "No reserve price was set."
    checked = "matches" if reserve["verified"] else "DOES NOT match"
    return (f"Reserve price {reserve['price']} (salt {reserve['salt']}) {checked} the commitment "
            f"{reserve['commitment']} recorded at setup.")


def deal_notice_docx(facts: DealFacts) -> bytes:
    """The deal confirmation as the award notice of a price competition, Chinese and English."""
    import docx

    deal, project, lot = facts.deal, facts.project, facts.lot
    winner, reserve = deal["winner"], deal["reserve"]
    document = docx.Document()
    document.add_heading("成交确认书 Deal confirmation", level=1)
    document.add_paragraph(f"致 To: {winner['name']} (统一社会信用代码 USCC {winner['uscc']})")
    document.add_paragraph(
        "你单位在下列竞价中以最高有效报价竞得标的，成交已于竞价结束时确认。You bought the lot below with the "
        "highest valid quote; the deal was confirmed at the close of the competition.")
    rows = [
        ("项目 Project", f"{project.code} {project.title}"),
        ("标的 Lot", f"{lot.code} {lot.title}"),
        ("竞价编号 Competition", f"{deal['competition_id']} ({deal['mode']})"),
        ("竞得人 Buyer", winner["name"] or ""),
        ("统一社会信用代码 USCC", winner["uscc"] or ""),
        ("竞买号 Bidder number", winner["bidder_number"]),
        ("成交价 Price (yuan)", deal["price"]),
        ("成交时间 Concluded", deal["concluded_at"]),
        ("保留价 Reserve price", _reserve_cell(reserve)),
        ("账本 Ledger", f"{deal['ledger']['stream']}: setup entry {deal['ledger']['setup_seq']}, "
                        f"result entry {deal['ledger']['result_seq']}"),
        ("出让人/转让方 Transferor", f"{facts.transferor.name} ({facts.transferor.uscc})"),
        ("签发日期 Issued", _local(facts.issued_at)),
    ]
    if facts.agency is not None:
        rows.append(("代理机构 Agency", f"{facts.agency.name} ({facts.agency.uscc})"))
    _add_fact_table(document, rows)
    document.add_paragraph("请按公告约定的期限签订成交合同（出让合同/产权交易合同）。Please sign the contract "
                           "within the time the notice set.")
    document.add_paragraph(f"{facts.transferor.name}  {_local(facts.issued_at)}")
    return _docx_bytes(document)


def _add_fact_table(document: Any, rows: list[tuple[str, str]]) -> None:
    """A two-column table of label and value, one row each."""
    table = document.add_table(rows=0, cols=2)
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value


def _docx_bytes(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _reserve_cell(reserve: dict[str, Any]) -> str:
    if not reserve["set"]:
        return "未设 none"
    checked = "承诺值核验一致 commitment verified" if reserve["verified"] else "承诺值核验不符 commitment NOT verified"
    return f"{reserve['price']}; {checked} (SHA-256 {reserve['commitment']})"


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

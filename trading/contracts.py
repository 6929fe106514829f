"""The contract: uploaded by the tenderer, signed by the tenderer and the winner.

Each party signs the exact contract file with a detached CMS signature made on its own
machine by its certificate. The platform checks the signature over the stored file, the
certificate against the trust list (with revocation), and that the certificate speaks for
the signing party (its credit code). Both signatures make the lot contracted.
"""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.revocation import RevocationSource
from ca_interop.signature_reports import validate_detached_signature
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    PermissionDenied,
    RuleViolation,
)
from core.usecases import use_case
from identities import trust_service
from identities.models import Party
from supervision.ledger.append import append
from trading import events
from trading.award import (
    OVERSIGHT,
    PROJECT_SIDE,
    award_of,
    is_project_side,
    lot_and_project,
    require_project_side,
)
from trading.award_events import (
    CONTRACT_SIGNED,
    CONTRACT_UPLOADED,
    award_payload,
    award_stream,
)
from trading.award_models import Award, AwardStatus, ContractRole, ContractSignature
from trading.models import Lot, Project
from trading.projects import change_lot_status
from trading.states import LotStatus

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CONTRACT_TYPES = (PDF, DOCX)
MAX_SIGNATURE_BYTES = 512 * 1024


def check_contract_file(path: Path, media_type: str) -> None:
    """The file must be what it claims: a PDF, or a Word document (a ZIP with its body part)."""
    if media_type not in CONTRACT_TYPES:
        raise InvalidInput(f"a contract is a PDF ({PDF}) or a Word document ({DOCX}), not {media_type!r}",
                           [FieldError("content-type", "not a contract type")])
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:
        raise InvalidInput("the contract file is empty", [FieldError("body", "empty")])
    if media_type == PDF and not head.startswith(b"%PDF-"):
        raise InvalidInput("the body is not a PDF file (it does not start with %PDF-)", [FieldError("body", "not a PDF")])
    if media_type == DOCX and not _is_docx(path):
        raise InvalidInput("the body is not a Word .docx file (no word/document.xml inside)",
                           [FieldError("body", "not a .docx")])


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


@use_case("trading.upload_contract", PROJECT_SIDE)
async def upload_contract(
    session: AsyncSession, actor: Actor, lot_id: int, *, source: Path, media_type: str, blobs: BlobStore,
    max_bytes: int,
) -> Award:
    """Store the contract of an awarded lot (a PDF or .docx from ``source``, a spooled
    upload). It may be replaced until the first party signs it."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    require_project_side(actor, project, "uploading the contract")
    award = await _awarded_award(session, lot)
    if await _signatures(session, award):
        raise Conflict(f"the contract of lot {lot.code} is already being signed; it cannot be replaced")
    check_contract_file(source, media_type)
    stored = await asyncio.to_thread(blobs.put_file, source, max_bytes=max_bytes)
    now = utcnow()
    award.contract_sha256, award.contract_size, award.contract_media_type = stored.sha256, stored.size, media_type
    award.contract_uploaded_by, award.contract_uploaded_at, award.updated_at = actor.user_id, now, now
    session.add(award)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=CONTRACT_UPLOADED, actor=actor,
                 payload=award_payload(award))
    return award


@use_case("trading.sign_contract", {Role.TENDERER, Role.BIDDER})
async def sign_contract(
    session: AsyncSession, actor: Actor, lot_id: int, signature_der: bytes, *, blobs: BlobStore,
    revocation: RevocationSource,
) -> ContractSignature:
    """Record one party's signature over the contract; the second one makes the lot
    contracted. Refused, with the reason, when the signature does not cover this file,
    when the certificate does not validate, or when it speaks for another party."""
    lot, project = await lot_and_project(session, lot_id, for_update=True)
    award = await _awarded_award(session, lot)
    role, party = await _signing_party(session, actor, project, award)
    if award.contract_sha256 is None:
        raise Conflict(f"the contract of lot {lot.code} is not uploaded yet")
    if any(s.role == role for s in await _signatures(session, award)):
        raise Conflict(f"the {role} has already signed the contract of lot {lot.code}")
    if not signature_der or len(signature_der) > MAX_SIGNATURE_BYTES:
        raise InvalidInput(f"a signature is 1 to {MAX_SIGNATURE_BYTES} bytes of DER",
                           [FieldError("$.signature_base64", "empty or too large")])
    validator = await trust_service.certificate_validator(session, revocation)
    report = await validate_detached_signature(blobs.path_for(award.contract_sha256), signature_der, validator)
    fingerprint, uscc = _check_report(report, role, party)
    stored = await blobs.put_bytes(signature_der)
    row = ContractSignature(award_id=award.id, role=role, party_id=party.id, signer_uscc=uscc,  # type: ignore[arg-type]
                            cert_fingerprint=fingerprint, signature_sha256=stored.sha256,
                            contract_sha256=award.contract_sha256, signed_by=actor.user_id, signed_at=utcnow())
    session.add(row)
    await session.flush()
    if len(await _signatures(session, award)) == len(ContractRole):
        await _contracted(session, actor, lot, award)
    award.updated_at = utcnow()
    session.add(award)
    await session.flush()
    await append(session, stream=award_stream(lot.id), event_type=CONTRACT_SIGNED, actor=actor,
                 payload=award_payload(award, signature=events.row_snapshot(row)))
    return row


async def _contracted(session: AsyncSession, actor: Actor, lot: Lot, award: Award) -> None:
    award.status, award.contracted_at = AwardStatus.CONTRACTED, utcnow()
    await change_lot_status(session, actor, lot, LotStatus.CONTRACTED, reason="contract signed by both parties",
                            details={"contract_sha256": award.contract_sha256})


async def _awarded_award(session: AsyncSession, lot: Lot) -> Award:
    award = await award_of(session, lot)
    if award.status != AwardStatus.AWARDED:
        state = "already contracted" if award.status == AwardStatus.CONTRACTED else f"{award.status}, not awarded"
        raise Conflict(f"lot {lot.code} is {state}")
    return award


async def _signatures(session: AsyncSession, award: Award) -> list[ContractSignature]:
    rows = await session.scalars(sa.select(ContractSignature).where(ContractSignature.award_id == award.id))
    return list(rows)


async def _signing_party(session: AsyncSession, actor: Actor, project: Project, award: Award) -> tuple[ContractRole, Party]:
    """Which side of the contract the actor signs for: the tenderer's users for the
    tenderer (not the agency: the contract binds the tenderer), the winner's for the winner."""
    if actor.has_any({Role.TENDERER}) and actor.party_id == project.tenderer_party_id:
        role, party_id = ContractRole.TENDERER, project.tenderer_party_id
    elif actor.has_any({Role.BIDDER}) and actor.party_id is not None and actor.party_id == award.winner_party_id:
        role, party_id = ContractRole.WINNER, award.winner_party_id
    else:
        who = "the agency" if is_project_side(actor, project) else "this party"
        raise PermissionDenied(f"the contract is signed by the tenderer and the winner only, not by {who}")
    party = await session.get(Party, party_id)
    assert party is not None
    return role, party


def _check_report(report: dict, role: ContractRole, party: Party) -> tuple[str, str]:  # type: ignore[type-arg]
    if report["indication"] != "TOTAL_PASSED":
        raise RuleViolation(f"the {role}'s signature is not valid ({report['indication']}"
                            f"{'/' + report['subindication'] if report['subindication'] else ''}): {report['detail']}",
                            rule="contract_signature")
    certificate = report["certificate"]
    identity = certificate.get("identity") or {}
    if identity.get("uscc") != party.uscc:
        speaks_for = identity.get("uscc") or "no credit code"
        raise RuleViolation(f"the signing certificate speaks for {identity.get('name', '?')} ({speaks_for}), "
                            f"not for the {role} {party.name} ({party.uscc})", rule="contract_signer")
    return certificate["chain"][0]["fingerprint"], party.uscc


@use_case("trading.read_contract", PROJECT_SIDE | OVERSIGHT | {Role.BIDDER})
async def contract_file(session: AsyncSession, actor: Actor, lot_id: int) -> tuple[str, str, str]:
    """``(blob sha256, media type, file name)`` of the contract: for its two parties (and
    the agency), centre staff and oversight; contracts are not public."""
    lot, project = await lot_and_project(session, lot_id)
    award = await award_of(session, lot)
    winner = actor.has_any({Role.BIDDER}) and actor.party_id is not None and actor.party_id == award.winner_party_id
    if not (winner or is_project_side(actor, project) or actor.has_any(OVERSIGHT)):
        raise PermissionDenied(f"the contract of lot {lot.code} is for its parties and oversight")
    if award.contract_sha256 is None or award.contract_media_type is None:
        raise Conflict(f"the contract of lot {lot.code} is not uploaded yet")
    extension = "pdf" if award.contract_media_type == PDF else "docx"
    return award.contract_sha256, award.contract_media_type, f"contract-{lot.code}.{extension}"

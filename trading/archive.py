"""The project archive: one zip with every document of a finished project and the proof
that each is what the platform recorded.

Layout (format ``bidhall-archive/1``)::

    manifest.json                       format, project, files (path, sha256, size, the
                                        ledger entries recording each), the contents
                                        listing entry, where the ledger part is
    project/project.json                the project and its lots as stored
    documents/<id>-v<n>-<name>          tender documents and clarifications
    bids/lot-<n>/bid-<id>.envelope      every bid envelope, as submitted (sealed)
    opening/lot-<n>/record.json         the opening record, and opening/lot-<n>/packages/
                                        bid-<id>.package, the opened packages
    award/lot-<n>/candidates.json       the candidate list (and evaluation-report, if any)
    award/lot-<n>/deal-confirmation.json  a price competition's deal confirmation (成交确认书)
                                        as its award's first entry recorded it at the close
    competition/lot-<n>/competition.json  the lot's price competition as stored, with
                                        registrations/<id>.json and quotes/<id>.json
    award/lot-<n>/award-notice.docx     the sealed award notice and award-notice.docx.ses,
                                        its GB/T 38540 seal signature
    contract/lot-<n>/contract.<ext>     the contract and signature-<party>.p7s
    notices/notice-<id>.json            every notice as stored
    ledger/entries.json                 every entry of the project's streams (project,
                                        bid, opening, award, competition, archive) with its inclusion
                                        proof against ledger/head.json, the signed tree
                                        head, checked with ledger/platform-key.pem

Making it takes one transaction: the project becomes archived (an entry of its stream),
an ``archive:<project>`` entry records the SHA-256 of the file list, the tree head is
signed over all of that, and the zip is written streaming (envelopes of several GB never
sit in memory). The last entry names the finished zip. ``trading.archive_verify`` checks a
zip with nothing but the zip.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import PlatformSigner
from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import rfc3339, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from core.usecases import use_case
from supervision.ledger import inspect
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from trading import events
from trading.archive_verify import (
    ENTRIES,
    FORMAT,
    HEAD,
    MANIFEST,
    PUBLIC_KEY,
    contents_digest,
    plain_json,
)
from trading.award import is_project_side
from trading.award_events import (
    ARCHIVE_CONTENTS_LISTED,
    ARCHIVE_MADE,
    DEAL_CONCLUDED,
    archive_stream,
    award_stream,
)
from trading.award_models import (
    Award,
    AwardCandidate,
    ContractSignature,
    ProjectArchive,
)
from trading.bid_models import Bid
from trading.models import Lot, Notice, Project, TenderDocument
from trading.opening_models import Opening, OpeningRow
from trading.price_bidding_events import competition_stream
from trading.price_bidding_models import PriceCompetition, PriceQuote, PriceRegistration
from trading.projects import change_project_status
from trading.states import LotStatus, ProjectStatus

FINISHED = (LotStatus.CONTRACTED, LotStatus.FAILED, LotStatus.CANCELLED)
MAKERS = frozenset({Role.CENTER_STAFF, Role.TENDERER, Role.AGENCY, Role.ADMIN})
READERS = MAKERS | {Role.REGULATOR, Role.AUDITOR}
COPY_CHUNK = 1 << 20


@dataclass
class ArchiveFile:
    """One file of the archive: from a blob (``blob``) or generated (``data``)."""

    path: str
    sha256: str
    size: int
    blob: str | None = None
    data: bytes | None = None
    attested_by: list[dict[str, Any]] = field(default_factory=list)
    optional: bool = False  # left out when its blob is not stored (an evaluation report named by hash only)

    def listing(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "attested_by": self.attested_by}


@use_case("trading.make_archive", MAKERS)
async def make_archive(
    session: AsyncSession, actor: Actor, project_id: int, *, blobs: BlobStore, signer: PlatformSigner
) -> ProjectArchive:
    """Archive a project whose lots are all finished (contracted, failed or cancelled);
    the project becomes archived. Centre staff, admins, or the project's tenderer or agency."""
    project = await _project(session, project_id, for_update=True)  # one archive at a time
    if not actor.has_any({Role.CENTER_STAFF, Role.ADMIN}) and not is_project_side(actor, project):
        _not_yours(project)
    if await session.scalar(sa.select(ProjectArchive.id).where(ProjectArchive.project_id == project.id)):
        raise Conflict(f"project {project.code} is already archived")
    lots = list(await session.scalars(sa.select(Lot).where(Lot.project_id == project.id).order_by(Lot.number)))
    unfinished = [f"{lot.code} ({lot.status})" for lot in lots if lot.status not in FINISHED]
    if unfinished or not lots:
        raise RuleViolation(f"project {project.code} cannot be archived: lot(s) {', '.join(unfinished) or 'none'} "
                            "not finished (each must be contracted, failed or cancelled)", rule="archive_unfinished_lots")
    streams = await project_streams(session, project, lots)
    recorded = await _stream_entries(session, streams)
    files = _require_blobs(blobs, await collect_files(session, project, lots, recorded))
    if project.status == ProjectStatus.ACTIVE:
        await change_project_status(session, actor, project, ProjectStatus.CLOSED, reason="every lot is finished")
    await change_project_status(session, actor, project, ProjectStatus.ARCHIVED, reason="archive made")
    contents = {"format": FORMAT, "project": {"id": project.id, "code": project.code, "title": project.title},
                "files": [item.listing() for item in files]}
    listed = await append(session, stream=archive_stream(project.id), event_type=ARCHIVE_CONTENTS_LISTED,
                          actor=actor, payload={"project_id": project.id, "contents_sha256": contents_digest(contents),
                                                "file_count": len(files)})
    head = await inspect.head(session, signer)
    ledger_files = await ledger_section(session, [*streams, archive_stream(project.id)], head)
    manifest = {**contents, "contents_sha256": contents_digest(contents), "contents_entry_seq": listed.seq,
                "made_at": rfc3339(utcnow()), "ledger": {"entries": ENTRIES, "head": HEAD, "public_key": PUBLIC_KEY}}
    stored = await _write_and_store(blobs, files, manifest, ledger_files)
    archive = ProjectArchive(project_id=project.id, sha256=stored.sha256, size=stored.size, file_count=len(files),  # type: ignore[arg-type]
                             files_sha256=contents_digest(contents), tree_size=head["tree_size"],
                             made_by=actor.user_id, made_at=utcnow())
    session.add(archive)
    await session.flush()
    await append(session, stream=archive_stream(project.id), event_type=ARCHIVE_MADE, actor=actor,
                 payload={"archive": events.row_snapshot(archive)})
    return archive


@use_case("trading.read_archive", READERS)
async def get_archive(session: AsyncSession, actor: Actor, project_id: int) -> ProjectArchive:
    """The archive of a project: its tenderer or agency, centre staff and oversight."""
    project = await _project(session, project_id)
    if not actor.has_any(READERS - {Role.TENDERER, Role.AGENCY}) and not is_project_side(actor, project):
        _not_yours(project)
    archive = await session.scalar(sa.select(ProjectArchive).where(ProjectArchive.project_id == project.id))
    if archive is None:
        raise NotFound(f"project {project.code} has no archive yet")
    return archive


def _not_yours(project: Project) -> None:
    raise PermissionDenied(f"the archive of project {project.code} is for its tenderer or agency, "
                           "centre staff and oversight")


async def _project(session: AsyncSession, project_id: int, *, for_update: bool = False) -> Project:
    project = await session.get(Project, project_id, with_for_update=for_update)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    return project


# --- what goes in ---------------------------------------------------------------------------


async def project_streams(session: AsyncSession, project: Project, lots: list[Lot]) -> list[str]:
    """The ledger streams of a project: its own, each bid's, each lot's opening and award."""
    lot_ids = [lot.id for lot in lots]
    bid_ids = await session.scalars(sa.select(Bid.id).where(Bid.lot_id.in_(lot_ids)).order_by(Bid.id))  # type: ignore[union-attr]
    competition_ids = await session.scalars(sa.select(PriceCompetition.id).where(
        PriceCompetition.lot_id.in_(lot_ids)).order_by(PriceCompetition.id))  # type: ignore[attr-defined]
    return [events.project_stream(project.id), *(f"bid:{bid_id}" for bid_id in bid_ids),
            *(f"opening:{lot_id}" for lot_id in lot_ids), *(award_stream(lot_id) for lot_id in lot_ids),
            *(competition_stream(competition_id) for competition_id in competition_ids)]


async def _stream_entries(session: AsyncSession, streams: list[str]) -> list[dict[str, Any]]:
    table = LedgerEntry.__table__
    rows = await session.scalars(sa.select(table.c.leaf).where(table.c.stream.in_(streams)).order_by(table.c.seq))
    return [json.loads(leaf) for leaf in rows]


def _attesting(recorded: list[dict[str, Any]], sha256: str | None, stream: str) -> list[dict[str, Any]]:
    """The first entry of ``stream`` whose payload holds ``sha256`` (the entry that recorded it)."""
    for entry in recorded:
        if entry["stream"] == stream and sha256 in _strings(entry["payload"]):
            return [{"seq": entry["seq"], "match": "sha256"}]
    return []


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(item) for item in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(item) for item in value)) if value else set()
    return set()


async def collect_files(session: AsyncSession, project: Project, lots: list[Lot],
                        recorded: list[dict[str, Any]]) -> list[ArchiveFile]:
    project_stream = events.project_stream(project.id)
    files = [_generated("project/project.json", {"project": events.row_snapshot(project),
                                                 "lots": [events.row_snapshot(lot) for lot in lots]})]
    documents = await session.scalars(sa.select(TenderDocument).where(TenderDocument.project_id == project.id)
                                      .order_by(TenderDocument.id))
    for doc in documents:
        files.append(_blob(f"documents/{doc.id}-v{doc.version}-{_safe(doc.name)}", doc.sha256, doc.size,
                           _attesting(recorded, doc.sha256, project_stream)))
    for lot in lots:
        files.extend(await _lot_files(session, lot, recorded))
    notices = await session.scalars(sa.select(Notice).where(Notice.project_id == project.id).order_by(Notice.id))
    for notice in notices:
        item = _generated(f"notices/notice-{notice.id}.json", events.row_snapshot(notice))
        item.attested_by = [{"seq": e["seq"], "match": "json", "pointer": "/payload/row"} for e in recorded
                            if e["stream"] == project_stream and e["type"] == events.NOTICE_PUBLISHED
                            and e["payload"].get("row", {}).get("id") == notice.id]
        files.append(item)
    return files


async def _lot_files(session: AsyncSession, lot: Lot, recorded: list[dict[str, Any]]) -> list[ArchiveFile]:
    files: list[ArchiveFile] = []
    base = f"lot-{lot.number}"
    bids = await session.scalars(sa.select(Bid).where(Bid.lot_id == lot.id).order_by(Bid.id))
    for bid in bids:
        files.append(_blob(f"bids/{base}/bid-{bid.id}.envelope", bid.envelope_sha256, bid.envelope_size,
                           _attesting(recorded, bid.envelope_sha256, f"bid:{bid.id}")))
    files.extend(await _opening_files(session, lot, base, recorded))
    files.extend(await _competition_files(session, lot, base, recorded))
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot.id))
    if award is not None:
        files.extend(await _award_files(session, award, base, recorded))
    return files


async def _competition_files(session: AsyncSession, lot: Lot, base: str,
                             recorded: list[dict[str, Any]]) -> list[ArchiveFile]:
    """The price competition of a lot as stored, proven by its last entry (each entry carries
    the competition after its step; after the close nothing changes it), and its
    registrations and quotes, each proven by the entry that last wrote it."""
    competition = await session.scalar(sa.select(PriceCompetition).where(PriceCompetition.lot_id == lot.id))
    if competition is None:
        return []
    stream = competition_stream(competition.id)
    own = [entry for entry in recorded if entry["stream"] == stream]
    item = _generated(f"competition/{base}/competition.json", events.row_snapshot(competition))
    item.attested_by = [{"seq": own[-1]["seq"], "match": "json", "pointer": "/payload/competition"}] if own else []
    files = [item]
    for model, collection in ((PriceRegistration, "registrations"), (PriceQuote, "quotes")):
        rows = await session.scalars(sa.select(model).where(model.competition_id == competition.id)  # type: ignore[attr-defined]
                                     .order_by(model.id))  # type: ignore[attr-defined]
        for row in rows:
            files.append(_collection_row(f"competition/{base}/{collection}/{row.id}.json", row, collection, own))
    return files


def _collection_row(path: str, row: Any, collection: str, own: list[dict[str, Any]]) -> ArchiveFile:
    item = _generated(path, events.row_snapshot(row))
    for entry in reversed(own):
        rows = entry["payload"].get("changes", {}).get(collection, [])
        for index, recorded_row in enumerate(rows):
            if recorded_row.get("id") == row.id:
                item.attested_by = [{"seq": entry["seq"], "match": "json",
                                     "pointer": f"/payload/changes/{collection}/{index}"}]
                return item
    return item


async def _opening_files(session: AsyncSession, lot: Lot, base: str, recorded: list[dict[str, Any]]) -> list[ArchiveFile]:
    opening = await session.scalar(sa.select(Opening).where(Opening.lot_id == lot.id))
    if opening is None:
        return []
    stream, files = f"opening:{lot.id}", []
    if opening.record_sha256:
        files.append(_blob(f"opening/{base}/record.json", opening.record_sha256, None,
                           _attesting(recorded, opening.record_sha256, stream)))
    rows = await session.scalars(sa.select(OpeningRow).where(OpeningRow.opening_id == opening.id)
                                 .order_by(OpeningRow.bid_id))
    for row in rows:
        if row.package_sha256:
            files.append(_blob(f"opening/{base}/packages/bid-{row.bid_id}.package", row.package_sha256,
                               row.package_size, _attesting(recorded, row.package_sha256, stream)))
    return files


async def _award_files(session: AsyncSession, award: Award, base: str, recorded: list[dict[str, Any]]) -> list[ArchiveFile]:
    stream = award_stream(award.lot_id)
    candidates = await session.scalars(sa.select(AwardCandidate).where(AwardCandidate.award_id == award.id)
                                       .order_by(AwardCandidate.rank))
    files = [_generated(f"award/{base}/candidates.json", {"award": events.row_snapshot(award),
                                                          "candidates": [events.row_snapshot(c) for c in candidates]})]
    deals = [entry for entry in recorded if entry["stream"] == stream and entry["type"] == DEAL_CONCLUDED]
    if deals:  # a price competition's deal: its confirmation as recorded at the close
        item = _generated(f"award/{base}/deal-confirmation.json", deals[0]["payload"]["deal"])
        item.attested_by = [{"seq": deals[0]["seq"], "match": "json", "pointer": "/payload/deal"}]
        files.append(item)
    named = [(f"award/{base}/evaluation-report", award.report_sha256, None),
             (f"award/{base}/award-notice.docx", award.award_notice_sha256, award.award_notice_size),
             (f"award/{base}/award-notice.docx.ses", award.seal_signature_sha256, None),
             (f"contract/{base}/contract.{'pdf' if award.contract_media_type == 'application/pdf' else 'docx'}",
              award.contract_sha256, award.contract_size)]
    signatures = await session.scalars(sa.select(ContractSignature).where(ContractSignature.award_id == award.id)
                                       .order_by(ContractSignature.id))
    named += [(f"contract/{base}/signature-{s.role}.p7s", s.signature_sha256, None) for s in signatures]
    for path, sha256, size in named:
        if sha256 is not None:
            files.append(_blob(path, sha256, size, _attesting(recorded, sha256, stream)))
            files[-1].optional = path.endswith("/evaluation-report")
    return files


def _generated(path: str, value: Any) -> ArchiveFile:
    data = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    return ArchiveFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data), data=data)


def _blob(path: str, sha256: str, size: int | None, attested_by: list[dict[str, Any]]) -> ArchiveFile:
    return ArchiveFile(path=path, sha256=sha256, size=-1 if size is None else size, blob=sha256,
                       attested_by=attested_by)


def _safe(name: str) -> str:
    """A document name as one harmless path component (names come from users)."""
    cleaned = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", "_", name).strip(" .") or "document"
    return cleaned[:120]


def _require_blobs(blobs: BlobStore, files: list[ArchiveFile]) -> list[ArchiveFile]:
    """Every blob is there, and its size known, before anything is recorded. An optional
    file whose blob is not stored is left out (``candidates.json`` still names its hash)."""
    kept = []
    for item in files:
        kept.append(item)
        if item.blob is None:
            continue
        if item.optional and not blobs.exists(item.blob):
            kept.pop()
            continue
        if not blobs.exists(item.blob):
            raise Conflict(f"{item.path} (blob {item.blob}) is missing from the blob store; "
                           "the archive would be incomplete")
        item.size = blobs.size(item.blob)
    return kept


# --- the ledger part ----------------------------------------------------------------------------


async def ledger_section(session: AsyncSession, streams: list[str], head: dict[str, Any]) -> dict[str, bytes]:
    """Entries of ``streams`` with their inclusion proofs against ``head``, the head, the key."""
    table = LedgerEntry.__table__
    size = head["tree_size"]
    rows = await session.execute(sa.select(table.c.seq, table.c.leaf, table.c.leaf_hash)
                                 .where(table.c.stream.in_(streams), table.c.seq < size).order_by(table.c.seq))
    entries = []
    for seq, leaf, leaf_hash in rows.all():
        proof = await inspect.prove(session, seq, size)
        entries.append({"seq": seq, "leaf": base64.b64encode(bytes(leaf)).decode("ascii"),
                        "leaf_hash": bytes(leaf_hash).hex(), "audit_path": proof["audit_path"]})
    return {ENTRIES: plain_json({"tree_size": size, "root_hash": head["root_hash"], "entries": entries}),
            HEAD: plain_json(head), PUBLIC_KEY: head["public_key"].encode("ascii")}


# --- writing ----------------------------------------------------------------------------------------


async def _write_and_store(blobs: BlobStore, files: list[ArchiveFile], manifest: dict[str, Any],
                           ledger_files: dict[str, bytes]) -> Any:
    with tempfile.TemporaryDirectory(dir=_spool_dir(blobs), prefix="archive-") as directory:
        path = Path(directory) / "archive.zip"
        await asyncio.to_thread(write_zip, path, blobs, files, manifest, ledger_files)
        return await asyncio.to_thread(blobs.put_file, path)


def _spool_dir(blobs: BlobStore) -> Path:
    blobs.tmp_dir.mkdir(parents=True, exist_ok=True)
    return blobs.tmp_dir


def write_zip(path: Path, blobs: BlobStore, files: list[ArchiveFile], manifest: dict[str, Any],
              ledger_files: dict[str, bytes]) -> None:
    """Write the zip, copying blobs in chunks and checking each against its name on the way."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2), zipfile.ZIP_DEFLATED)
        for item in files:
            if item.data is not None:
                archive.writestr(item.path, item.data, zipfile.ZIP_DEFLATED)
            else:
                _copy_blob(archive, blobs, item)
        for name, data in ledger_files.items():
            archive.writestr(name, data, zipfile.ZIP_DEFLATED)


def _copy_blob(archive: zipfile.ZipFile, blobs: BlobStore, item: ArchiveFile) -> None:
    info = zipfile.ZipInfo(item.path, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED  # envelopes and signed files do not compress
    digest = hashlib.sha256()
    with blobs.open(item.blob) as source, archive.open(info, "w", force_zip64=True) as target:  # type: ignore[arg-type]
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != item.sha256:
        raise Conflict(f"{item.path}: the stored blob no longer hashes to {item.sha256} (changed on disk)")

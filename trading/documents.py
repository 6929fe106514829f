"""Tender documents: versioned content-addressed blobs, and who downloaded them.

Each upload of a name makes its next version. A bidder's download is allowed only while
the documents are offered (between the lot's ``documents_from`` and ``documents_until``)
and is recorded twice: a row (the law asks who obtained the documents) and a ledger entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore, BlobTooLarge
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotFound, RuleViolation
from core.usecases import use_case
from supervision.ledger.append import append
from trading import events
from trading.models import DocumentDownload, Lot, Project, TenderDocument
from trading.projects import (
    MANAGERS,
    OVERSIGHT,
    get_project_row,
    is_manager,
    lots_of,
    require_manager,
)
from trading.states import DocumentKind, LotStatus, ProjectStatus

READERS = MANAGERS | OVERSIGHT | {Role.BIDDER}
DOCUMENTS_WINDOW_RULE = "trading.documents_window"
MAX_NAME = 200


def check_document_name(name: str | None) -> str:
    text = (name or "").strip()
    if not text or len(text) > MAX_NAME or not text.isprintable() or "/" in text or "\\" in text:
        raise InvalidInput("a document needs a name of 1 to 200 printable characters without slashes",
                           [FieldError("?name", f"got {name!r}")])
    return text


def check_document_kind(kind: str | None) -> DocumentKind:
    try:
        return DocumentKind(kind or "")
    except ValueError:
        allowed = ", ".join(k.value for k in DocumentKind)
        raise InvalidInput(f"document kind must be one of {allowed}", [FieldError("?kind", f"got {kind!r}")]) from None


@use_case("trading.upload_document", MANAGERS)
async def upload_document(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    *,
    name: str,
    kind: str,
    lot_id: int | None,
    media_type: str,
    content: AsyncIterable[bytes],
    blobs: BlobStore,
    max_bytes: int,
) -> TenderDocument:
    """Store the next version of document ``name``; everything is checked before the
    body is read, and a refused or failed upload leaves no blob behind."""
    project = await get_project_row(session, project_id, for_update=True)
    require_manager(actor, project)
    name, document_kind = check_document_name(name), check_document_kind(kind)
    if project.status not in (ProjectStatus.DRAFT, ProjectStatus.ACTIVE):
        raise Conflict(f"project {project.code} is {project.status}; its documents no longer change")
    if lot_id is not None:
        lot = await session.get(Lot, lot_id)
        if lot is None or lot.project_id != project.id:
            raise InvalidInput(f"no lot {lot_id} in project {project.code}", [FieldError("?lot", "not a lot of this project")])
    try:
        info = await blobs.put_stream(content, max_bytes=max_bytes)
    except BlobTooLarge:
        raise InvalidInput(f"the document is over the limit of {max_bytes} bytes",
                           [FieldError("$", f"at most {max_bytes} bytes")]) from None
    already_stored = bool(await session.scalar(sa.select(sa.func.count()).select_from(TenderDocument)
                                               .where(TenderDocument.sha256 == info.sha256)))
    try:
        return await _store_version(session, actor, project, name, document_kind, lot_id, media_type, info.sha256, info.size)
    except BaseException:
        if not already_stored:  # the same bytes as an earlier document stay where they are
            blobs.delete(info.sha256, missing_ok=True)
        raise


async def _store_version(session: AsyncSession, actor: Actor, project: Project, name: str, kind: DocumentKind,
                         lot_id: int | None, media_type: str, sha256: str, size: int) -> TenderDocument:
    latest = await session.scalar(sa.select(sa.func.max(TenderDocument.version))
                                  .where(TenderDocument.project_id == project.id, TenderDocument.name == name))
    document = TenderDocument(project_id=project.id, lot_id=lot_id, name=name, version=(latest or 0) + 1,  # type: ignore[arg-type]
                              kind=kind, media_type=media_type[:100] or "application/octet-stream", sha256=sha256,
                              size=size, uploaded_by=actor.user_id, uploaded_at=utcnow())
    session.add(document)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.DOCUMENT_UPLOADED,
                 actor=actor, payload={"row": events.row_snapshot(document)})
    return document


async def list_documents(session: AsyncSession, actor: Actor | None, project_id: int) -> list[TenderDocument]:
    """Every version of every document of a published project (drafts: managers and
    oversight only)."""
    project = await visible_project(session, actor, project_id)
    rows = await session.scalars(sa.select(TenderDocument).where(TenderDocument.project_id == project.id)
                                 .order_by(TenderDocument.name, TenderDocument.version))
    return list(rows.all())


async def visible_project(session: AsyncSession, actor: Actor | None, project_id: int) -> Project:
    project = await get_project_row(session, project_id)
    if project.status == ProjectStatus.DRAFT and not (
            is_manager(actor, project) or (actor is not None and actor.has_any(OVERSIGHT))):
        raise NotFound(f"no project {project_id}")
    return project


async def visible_lot(session: AsyncSession, actor: Actor | None, lot_id: int) -> Lot:
    """A lot, seen as its project is: public once published, else only by its managers and
    oversight; an unseen lot is not told apart from one that does not exist."""
    lot = await session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id}")
    try:
        await visible_project(session, actor, lot.project_id)
    except NotFound:
        raise NotFound(f"no lot {lot_id}") from None
    return lot


@use_case("trading.download_document", READERS)
async def download_document(session: AsyncSession, actor: Actor, document_id: int) -> TenderDocument:
    """Check that ``actor`` may fetch the document now and record a bidder's download;
    the caller streams the blob."""
    document = await session.get(TenderDocument, document_id)
    if document is None:
        raise NotFound(f"no document {document_id}")
    project = await visible_project(session, actor, document.project_id)
    if is_manager(actor, project) or actor.has_any(OVERSIGHT):
        return document
    await _require_offered(session, document, project)
    download = DocumentDownload(document_id=document.id, party_id=actor.party_id, user_id=actor.user_id,  # type: ignore[arg-type]
                                downloaded_at=utcnow())
    session.add(download)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.DOCUMENT_DOWNLOADED,
                 actor=actor, payload={"row": events.row_snapshot(download)})
    return document


async def _require_offered(session: AsyncSession, document: TenderDocument, project: Project) -> None:
    lots = await lots_of(session, project.id)  # type: ignore[arg-type]
    lots = [lot for lot in lots if lot.id == document.lot_id] if document.lot_id else lots
    offered = [lot for lot in lots if lot.status not in (LotStatus.DRAFT, LotStatus.CANCELLED)]
    if not offered:
        raise Conflict(f"document {document.name} belongs to no lot open for bids")
    now = utcnow()
    start = min(ensure_utc(lot.documents_from) for lot in offered if lot.documents_from)
    end = max(ensure_utc(lot.documents_until) for lot in offered if lot.documents_until)
    if not start <= now <= end:
        raise RuleViolation(f"the tender documents are offered from {_text(start)} to {_text(end)}; "
                            f"it is {_text(now)}", rule=DOCUMENTS_WINDOW_RULE)


def _text(moment: datetime) -> str:
    return rfc3339(moment)

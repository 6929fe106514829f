"""Project events and their replay (stream ``project:<id>``).

One stream per project carries everything its tenderer, agency and the platform did to it
outside the bids: the project and its lots (every column, the opening-key record as
stored), notices, tender documents and their downloads, questions and objections. Status
changes of a lot made by the opening or the award go through
``trading.projects.change_lot_status`` so they land here too, which keeps the fold exact
whoever moved the lot. Entries of types this module does not know (bids and the like,
should anyone write them here) are skipped.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry
from trading.models import (
    DocumentDownload,
    Lot,
    Notice,
    Objection,
    Project,
    Question,
    TenderDocument,
)

PROJECT_CREATED = "trading.project_created"
PROJECT_STATUS_CHANGED = "trading.project_status_changed"
LOT_ADDED = "trading.lot_added"
LOT_EDITED = "trading.lot_edited"
LOT_STATUS_CHANGED = "trading.lot_status_changed"
LOT_TIMETABLE_MOVED = "trading.lot_timetable_moved"
TENDER_PUBLISHED = "trading.tender_published"
NOTICE_PUBLISHED = "trading.notice_published"
DOCUMENT_UPLOADED = "trading.document_uploaded"
DOCUMENT_DOWNLOADED = "trading.document_downloaded"
QUESTION_ASKED = "trading.question_asked"
QUESTION_ANSWERED = "trading.question_answered"
OBJECTION_RAISED = "trading.objection_raised"
OBJECTION_REPLIED = "trading.objection_replied"

# Collections of the state, by the event that adds or replaces one of their rows.
_ROW_EVENTS = {
    LOT_ADDED: "lots",
    NOTICE_PUBLISHED: "notices",
    DOCUMENT_UPLOADED: "documents",
    DOCUMENT_DOWNLOADED: "downloads",
    QUESTION_ASKED: "questions",
    QUESTION_ANSWERED: "questions",
    OBJECTION_RAISED: "objections",
    OBJECTION_REPLIED: "objections",
}
# Events that merge some columns into one lot (the payload names the lot and the columns).
_LOT_MERGE_EVENTS = (LOT_EDITED, LOT_STATUS_CHANGED, LOT_TIMETABLE_MOVED)
_COLLECTIONS = ("lots", "notices", "documents", "downloads", "questions", "objections")


def project_stream(project_id: int | None) -> str:
    return f"project:{project_id}"


def row_snapshot(row: SQLModel, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of ``row`` as JSON values: what the stream state holds of it."""
    columns = row.__table__.columns.keys()  # type: ignore[attr-defined]
    return to_json_value({name: getattr(row, name) for name in columns if name not in without})  # type: ignore[no-any-return]


def lot_columns(lot: Lot, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return to_json_value({name: getattr(lot, name) for name in names})  # type: ignore[no-any-return]


def apply_project(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == PROJECT_CREATED:
        return {"project": payload["project"], **{name: {} for name in _COLLECTIONS}}
    if state is None:
        return None
    if kind == PROJECT_STATUS_CHANGED:
        return {**state, "project": {**state["project"], **payload["project"]}}
    if kind in _ROW_EVENTS:
        return _put_row(state, _ROW_EVENTS[kind], payload["row"])
    if kind in _LOT_MERGE_EVENTS:
        return _merge_lot(state, payload["lot_id"], payload["columns"])
    if kind == TENDER_PUBLISHED:
        merged = {**state, "project": {**state["project"], **payload["project"]}}
        for lot_id, columns in payload["lots"].items():
            merged = _merge_lot(merged, int(lot_id), columns)
        return merged
    return state


def _put_row(state: State, collection: str, row: dict[str, Any]) -> State:
    return {**state, collection: {**state[collection], str(row["id"]): row}}


def _merge_lot(state: State, lot_id: int, columns: dict[str, Any]) -> State:
    key = str(lot_id)
    return {**state, "lots": {**state["lots"], key: {**state["lots"][key], **columns}}}


async def load_project_state(session: AsyncSession, stream: str) -> State | None:
    try:
        project = await session.get(Project, int(stream.partition(":")[2]))
    except ValueError:
        return None
    if project is None:
        return None
    by_project = {
        "lots": Lot, "notices": Notice, "documents": TenderDocument, "questions": Question,
        "objections": Objection,
    }
    state: State = {"project": row_snapshot(project)}
    for name, model in by_project.items():
        rows = (await session.scalars(sa.select(model).where(model.project_id == project.id))).all()  # type: ignore[attr-defined]
        state[name] = {str(row.id): row_snapshot(row) for row in rows}
    downloads = (await session.scalars(
        sa.select(DocumentDownload).join(TenderDocument, TenderDocument.id == DocumentDownload.document_id)
        .where(TenderDocument.project_id == project.id))).all()
    state["downloads"] = {str(row.id): row_snapshot(row) for row in downloads}
    return state


async def list_project_streams(session: AsyncSession) -> list[str]:
    return [project_stream(i) for i in (await session.scalars(sa.select(Project.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``project`` stream kind with the replay registry."""
    registry.register(StreamKind("project", apply_project, load_project_state, list_project_streams))

"""Permission-walk entries of projects, notices, documents, questions and objections
(merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored. A tenderer or
agency acts on a project of its own organisation, as the rules require.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import utcnow
from tests.factories import actor_of, make_user
from tests.trading.project_factories import lot_payload, project_payload
from trading import documents, objections, projects, publication, questions
from trading.models import Lot, Project
from trading.notice_schemas import (
    AnswerCreate,
    ClarificationCreate,
    ObjectionCreate,
    ObjectionReply,
    PublishTender,
    QuestionCreate,
)
from trading.schemas import LotCreate, LotEdit, ProjectCreate


async def _manager_for(session: AsyncSession, actor: Actor) -> Actor:
    """``actor`` when it may manage projects, else a fresh tenderer."""
    if actor.has_any(projects.MANAGERS):
        return actor
    return actor_of(await make_user(session, Role.TENDERER))


async def _create(session: AsyncSession, actor: Actor) -> Project:
    extra: dict[str, Any] = {}
    if Role.AGENCY in actor.roles:
        extra["tenderer_party_id"] = (await make_user(session, Role.TENDERER)).party_id
    return await projects.create_project(session, actor, ProjectCreate.model_validate_json(
        json.dumps(project_payload(**extra))))


async def _draft(session: AsyncSession, actor: Actor) -> tuple[Project, Lot, Actor]:
    manager = await _manager_for(session, actor)
    project = await _create(session, manager)
    lot = await projects.add_lot(session, manager, project.id, LotCreate.model_validate_json(  # type: ignore[arg-type]
        json.dumps(lot_payload(utcnow()))))
    return project, lot, manager


async def _published(session: AsyncSession, actor: Actor, *, documents_open: bool = False) -> tuple[Project, Lot, Actor]:
    project, lot, manager = await _draft(session, actor)
    await publication.publish_tender(session, manager, project.id, PublishTender())  # type: ignore[arg-type]
    if documents_open:  # the walk cannot wait an hour for the documents' window
        lot.documents_from = utcnow() - timedelta(seconds=1)
        session.add(lot)
    return project, lot, manager


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _blobs() -> BlobStore:
    return BlobStore(Path(tempfile.mkdtemp(prefix="walk-blobs-")))


async def _upload(session: AsyncSession, actor: Actor, project: Project, manager: Actor) -> Any:
    return await documents.upload_document(
        session, actor, project.id, name="tender.pdf", kind="tender_documents", lot_id=None,  # type: ignore[arg-type]
        media_type="application/pdf", content=_chunks(b"%PDF-1.7 walk"), blobs=_blobs(), max_bytes=1024)


async def _upload_own(session: AsyncSession, actor: Actor) -> Any:
    project, _, manager = await _draft(session, actor)
    return await _upload(session, actor, project, manager)


async def _download(session: AsyncSession, actor: Actor) -> Any:
    project, _, manager = await _published(session, actor, documents_open=True)
    document = await _upload(session, manager, project, manager)
    return await documents.download_document(session, actor, document.id)  # type: ignore[arg-type]


async def _ask(session: AsyncSession, actor: Actor) -> Any:
    _, lot, _ = await _published(session, actor)
    return await questions.ask_question(session, actor, lot.id, QuestionCreate(text="Which drawings apply?"))  # type: ignore[arg-type]


async def _answer(session: AsyncSession, actor: Actor) -> Any:
    _, lot, _ = await _published(session, actor)
    bidder = actor_of(await make_user(session, Role.BIDDER))
    question = await questions.ask_question(session, bidder, lot.id, QuestionCreate(text="Which drawings?"))  # type: ignore[arg-type]
    return await questions.answer_question(session, actor, question.id, AnswerCreate(answer="Version 2."))  # type: ignore[arg-type]


async def _object(session: AsyncSession, actor: Actor) -> Any:
    _, lot, _ = await _published(session, actor)
    return await objections.object_to_documents(session, actor, lot.id, ObjectionCreate(text="Unfair clause."))  # type: ignore[arg-type]


async def _reply(session: AsyncSession, actor: Actor) -> Any:
    _, lot, _ = await _published(session, actor)
    bidder = actor_of(await make_user(session, Role.BIDDER))
    objection = await objections.object_to_documents(session, bidder, lot.id, ObjectionCreate(text="Unfair."))  # type: ignore[arg-type]
    return await objections.reply_to_objection(session, actor, objection.id, ObjectionReply(reply="Removed."))  # type: ignore[arg-type]


async def _on_draft(session: AsyncSession, actor: Actor, act: Callable[[Project, Lot], Awaitable[Any]]) -> Any:
    project, lot, _ = await _draft(session, actor)
    return await act(project, lot)


async def _on_published(session: AsyncSession, actor: Actor, act: Callable[[Project, Lot], Awaitable[Any]]) -> Any:
    project, lot, _ = await _published(session, actor)
    return await act(project, lot)


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "trading.create_project": _create,
    "trading.add_lot": lambda s, a: _on_draft(s, a, lambda p, lot: projects.add_lot(
        s, a, p.id, LotCreate.model_validate_json(json.dumps(lot_payload(utcnow(), title="Lot 2"))))),  # type: ignore[arg-type]
    "trading.edit_lot": lambda s, a: _on_draft(s, a, lambda p, lot: projects.edit_lot(
        s, a, lot.id, LotEdit.model_validate_json('{"title": "Renamed"}'))),  # type: ignore[arg-type]
    "trading.cancel_lot": lambda s, a: _on_draft(s, a, lambda p, lot: projects.cancel_lot(
        s, a, lot.id, "not needed")),  # type: ignore[arg-type]
    "trading.publish_tender": lambda s, a: _on_draft(s, a, lambda p, lot: publication.publish_tender(
        s, a, p.id, PublishTender())),  # type: ignore[arg-type]
    "trading.publish_clarification": lambda s, a: _on_published(s, a, lambda p, lot: publication.publish_clarification(
        s, a, lot.id, ClarificationCreate(title="Clarification", body="Drawing 4 replaced."))),  # type: ignore[arg-type]
    "trading.upload_document": _upload_own,
    "trading.download_document": _download,
    "trading.ask_question": _ask,
    "trading.answer_question": _answer,
    "trading.list_questions": lambda s, a: _on_published(s, a, lambda p, lot: questions.list_questions(
        s, a, lot.id)),  # type: ignore[arg-type]
    "trading.object_to_documents": _object,
    "trading.reply_to_objection": _reply,
    "trading.list_objections": lambda s, a: _on_published(s, a, lambda p, lot: objections.list_objections(
        s, a, lot.id)),  # type: ignore[arg-type]
}

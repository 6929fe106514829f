"""HTTP endpoints of tender documents (streamed up and down), questions and objections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from core.actors import Actor
from trading import documents, objections, questions
from trading.notice_schemas import (
    AnswerCreate,
    DocumentOut,
    ObjectionCreate,
    ObjectionOut,
    ObjectionReply,
    QuestionCreate,
    QuestionOut,
)
from trading.states import DocumentKind
from web.api import QueryParam, json_response, parse_body, path_int
from web.auth import with_actor
from web.middleware import BodyTooLarge
from web.trading_http import api, query_id, with_optional_actor

TAG = "documents"


# --- documents --------------------------------------------------------------------------------


@api.operation("POST", "/projects/{project_id}/documents",
               "Upload the next version of a tender document (raw body, streamed)", response=DocumentOut,
               status=201, tag=TAG, errors=(403, 404, 409, 413, 422),
               query=(QueryParam("name", {"type": "string", "maxLength": 200}, required=True),
                      QueryParam("kind", {"type": "string", "enum": [k.value for k in DocumentKind]}, required=True),
                      QueryParam("lot", {"type": "integer", "minimum": 1})))
async def upload_document(request: Request) -> Response:
    project_id = path_int(request, "project_id")
    lot_id = query_id(request, "lot")
    runtime = request.app.state.runtime
    limit = runtime.settings.max_document_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    async def work(session: AsyncSession, actor: Actor) -> Response:
        document = await documents.upload_document(
            session, actor, project_id, name=request.query_params.get("name", ""),
            kind=request.query_params.get("kind", ""), lot_id=lot_id, media_type=media_type,
            content=_bounded(request.stream(), limit), blobs=runtime.blobs, max_bytes=limit)
        return json_response(DocumentOut.model_validate(document), 201)

    return await with_actor(request, work)


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body, refused with 413 as soon as it passes ``limit`` (chunked bodies announce no size)."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        yield chunk


@api.operation("GET", "/projects/{project_id}/documents", "Every version of a project's documents",
               response=DocumentOut, response_is_list=True, authenticated=False, tag=TAG, errors=(404,))
async def list_documents(request: Request) -> Response:
    project_id = path_int(request, "project_id")

    async def work(session: AsyncSession, actor: Actor | None) -> Response:
        rows = await documents.list_documents(session, actor, project_id)
        return json_response([DocumentOut.model_validate(row) for row in rows])

    return await with_optional_actor(request, work)


@api.operation("GET", "/documents/{document_id}/download",
               "Download a document (bidders: within the documents' window; recorded)", tag=TAG,
               errors=(403, 404, 409))
async def download_document(request: Request) -> Response:
    document_id = path_int(request, "document_id")
    blobs = request.app.state.runtime.blobs

    async def work(session: AsyncSession, actor: Actor) -> Response:
        document = await documents.download_document(session, actor, document_id)
        filename = quote(document.name)
        headers = {"Content-Length": str(document.size), "ETag": f'"{document.sha256}"',
                   "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
                   "X-Content-SHA256": document.sha256}
        return StreamingResponse(blobs.iter_chunks(document.sha256), media_type=document.media_type,
                                 headers=headers)

    return await with_actor(request, work)


# --- questions ---------------------------------------------------------------------------------


def _question_out(view: questions.QuestionView) -> QuestionOut:
    return QuestionOut.model_validate({**view.question.model_dump(), "asked_by_me": view.asked_by_me,
                                       "asker_party_id": view.asker_party_id})


@api.operation("POST", "/lots/{lot_id}/questions", "Ask a question (bidder, until the cut-off)",
               request=QuestionCreate, response=QuestionOut, status=201, tag=TAG, errors=(403, 404, 409))
async def ask_question(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, QuestionCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        question = await questions.ask_question(session, actor, lot_id, data)
        return json_response(_question_out(questions.QuestionView(question, True, question.asker_party_id)), 201)

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/questions", "Questions and answers (askers hidden from bidders)",
               response=QuestionOut, response_is_list=True, tag=TAG, errors=(403, 404))
async def list_questions(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response([_question_out(v) for v in await questions.list_questions(session, actor, lot_id)])

    return await with_actor(request, work)


@api.operation("POST", "/questions/{question_id}/answer", "Answer a question (tenderer or agency)",
               request=AnswerCreate, response=QuestionOut, tag=TAG, errors=(403, 404, 409))
async def answer_question(request: Request) -> Response:
    question_id = path_int(request, "question_id")
    data = await parse_body(request, AnswerCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        question = await questions.answer_question(session, actor, question_id, data)
        return json_response(_question_out(questions.QuestionView(question, False, None)))

    return await with_actor(request, work)


# --- objections --------------------------------------------------------------------------------


@api.operation("POST", "/lots/{lot_id}/objections", "Object to the tender documents (bidder, within the window)",
               request=ObjectionCreate, response=ObjectionOut, status=201, tag=TAG, errors=(403, 404, 409))
async def raise_objection(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, ObjectionCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        objection = await objections.object_to_documents(session, actor, lot_id, data)
        return json_response(ObjectionOut.model_validate(objection), 201)

    return await with_actor(request, work)


@api.operation("GET", "/lots/{lot_id}/objections", "Objections of every stage (bidders: their own)",
               response=ObjectionOut, response_is_list=True, tag=TAG, errors=(403, 404))
async def list_objections(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor) -> Response:
        rows = await objections.list_objections(session, actor, lot_id)
        return json_response([ObjectionOut.model_validate(row) for row in rows])

    return await with_actor(request, work)


@api.operation("POST", "/objections/{objection_id}/reply", "Reply to an objection to the documents",
               request=ObjectionReply, response=ObjectionOut, tag=TAG, errors=(403, 404, 409))
async def reply_to_objection(request: Request) -> Response:
    objection_id = path_int(request, "objection_id")
    data = await parse_body(request, ObjectionReply)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        objection = await objections.reply_to_objection(session, actor, objection_id, data)
        return json_response(ObjectionOut.model_validate(objection))

    return await with_actor(request, work)


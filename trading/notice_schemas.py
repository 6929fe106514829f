"""Inputs and outputs of notices, tender documents, questions and objections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from core.schemas import Input, Output

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class PublishTender(Input):
    title: Title | None = Field(default=None, description="Default: 'Tender notice: <project title>'.")
    body: Text | None = Field(default=None, description="Default: a summary of the lots and their timetable.")


class ClarificationCreate(Input):
    title: Title
    body: Text
    document_id: int | None = Field(default=None, ge=1,
                                    description="An uploaded document of kind clarification (optional).")


class NoticeOut(Output):
    id: int
    project_id: int
    lot_id: int | None
    kind: str
    title: str
    body: str
    details: dict[str, Any]
    segment: str
    region_code: str
    publicity_until: datetime | None
    document_sha256: str | None
    published_at: datetime


class NoticePage(Output):
    items: list[NoticeOut]
    total: int
    offset: int
    limit: int


class DocumentOut(Output):
    id: int
    project_id: int
    lot_id: int | None
    name: str
    version: int
    kind: str
    media_type: str
    sha256: str
    size: int
    uploaded_at: datetime


class QuestionCreate(Input):
    text: Text


class AnswerCreate(Input):
    answer: Text


class QuestionOut(Output):
    """``asker_party_id`` is shown to the asker itself and to oversight roles only."""

    id: int
    project_id: int
    lot_id: int | None
    text: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None
    asked_by_me: bool = False
    asker_party_id: int | None = None


class ObjectionCreate(Input):
    text: Text


class ObjectionReply(Input):
    reply: Text


class ObjectionOut(Output):
    id: int
    project_id: int
    lot_id: int | None
    stage: str
    party_id: int | None
    text: str
    raised_at: datetime
    reply_due: datetime
    reply: str | None
    replied_at: datetime | None
    status: str

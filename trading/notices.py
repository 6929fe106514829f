"""Notices: recording one (tender, change, candidate publicity, result, failed tender),
and the public feed.

``record_notice`` is not a use case: the publishing use cases (trading.publication, the
award) call it after their own checks, so every notice is a row and an event of its
project's stream. Reading notices needs no sign-in: they are public by law.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.clock import utcnow
from core.errors import NotFound
from supervision.ledger.append import append
from supervision.ledger.canonical import to_json_value
from trading import events
from trading.models import Lot, Notice, Project
from trading.states import NoticeKind


async def record_notice(
    session: AsyncSession,
    actor: Actor | None,
    *,
    project: Project,
    lot: Lot | None,
    kind: NoticeKind,
    title: str,
    body: str,
    details: dict[str, Any],
    publicity_until: datetime | None = None,
    document_sha256: str | None = None,
) -> Notice:
    """Store and publish a notice of ``project`` (and ``lot``), appending its event."""
    if lot is not None and lot.project_id != project.id:
        raise ValueError(f"lot {lot.code} is not a lot of project {project.code}")
    notice = Notice(
        project_id=project.id,  # type: ignore[arg-type]
        lot_id=lot.id if lot else None,
        kind=NoticeKind(kind),
        title=title,
        body=body,
        details=to_json_value(details),
        segment=project.segment,
        region_code=project.region_code,
        publicity_until=publicity_until,
        document_sha256=document_sha256,
        published_at=utcnow(),
        published_by=actor.user_id if actor else None,
    )
    session.add(notice)
    await session.flush()
    await append(session, stream=events.project_stream(project.id), event_type=events.NOTICE_PUBLISHED,
                 actor=actor, payload={"row": events.row_snapshot(notice)})
    return notice


@dataclass(frozen=True)
class NoticeFilter:
    """What the public feed may be narrowed by; ``region`` matches a code prefix
    ("35" is Fujian, "350100" Fuzhou), ``text`` a part of the title."""

    segment: str | None = None
    kind: str | None = None
    region: str | None = None
    project_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        table = Notice.__table__.c  # type: ignore[attr-defined]
        found: list[sa.ColumnElement[bool]] = []
        if self.segment:
            found.append(table.segment == self.segment)
        if self.kind:
            found.append(table.kind == self.kind)
        if self.region:
            found.append(table.region_code.startswith(self.region, autoescape=True))
        if self.project_id is not None:
            found.append(table.project_id == self.project_id)
        if self.since is not None:
            found.append(table.published_at >= self.since)
        if self.until is not None:
            found.append(table.published_at < self.until)
        if self.text:
            found.append(table.title.icontains(self.text, autoescape=True))
        return found


async def search_notices(session: AsyncSession, where: NoticeFilter, *, offset: int, limit: int) -> tuple[list[Notice], int]:
    """One page of notices, newest first, and how many match in all."""
    conditions = where.conditions()
    total = await session.scalar(sa.select(sa.func.count()).select_from(Notice).where(*conditions))
    page = await session.scalars(sa.select(Notice).where(*conditions)
                                 .order_by(Notice.published_at.desc(), Notice.id.desc())  # type: ignore[attr-defined]
                                 .offset(offset).limit(limit))
    return list(page.all()), int(total or 0)


async def get_notice(session: AsyncSession, notice_id: int) -> Notice:
    notice = await session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"no notice {notice_id}")
    return notice

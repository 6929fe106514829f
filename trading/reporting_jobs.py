"""The reporting job's two halves: build the batches that are due, send one batch.

Run by the worker (``trading.tasks``) as the system actor. Building catches up day by day
from the last day reported (at most :data:`CATCH_UP_DAYS` at once, so a long outage does
not make one endless run); sending reads the batch, calls the uploader outside any
transaction, then records the outcome in a transaction of its own.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from core.actors import SYSTEM, Actor
from core.clock import utcnow
from core.database import Database
from core.errors import NotFound
from trading import reporting
from trading.reporting_models import BatchStatus, ReportBatch
from trading.reporting_upload import (
    OutgoingBatch,
    Uploader,
    UploadFailed,
    UploadRejected,
)

CATCH_UP_DAYS = 7


def due_days(last_reported: date | None, today: date) -> list[date]:
    """The finished days not reported yet, oldest first: from the day after the last one
    reported (the day before ``today`` when none was), up to yesterday."""
    yesterday = today - timedelta(days=1)
    first = last_reported + timedelta(days=1) if last_reported is not None else yesterday
    first = max(first, yesterday - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=offset) for offset in range((yesterday - first).days + 1)]


async def build_due_batches(database: Database, actor: Actor = SYSTEM) -> list[str]:
    """Build every dataset's batch of every due day; returns the ids of all pending batches."""
    async with database.transaction() as session:
        days = due_days(await reporting.last_reported_day(session), utcnow().date())
        for day in days:
            for dataset in sorted(reporting.DATASETS):
                await reporting.build_batch(session, actor, dataset, reporting.day_window(day))
    async with database.reader() as session:
        return await reporting.pending_batches(session)


async def send_batch(database: Database, identifier: str, uploader: Uploader, actor: Actor = SYSTEM) -> str:
    """Send one batch unless it was accepted (or refused for good) already; returns its
    status. A failed try is recorded, then :class:`UploadFailed` is raised for the retry."""
    async with database.reader() as session:
        batch = await session.get(ReportBatch, identifier)
        if batch is None:
            raise NotFound(f"no report batch {identifier!r}")
        if batch.status != BatchStatus.PENDING:
            return batch.status
        outgoing = OutgoingBatch(batch_id=batch.id, dataset=batch.dataset, content=batch.content.encode(),
                                 content_sha256=batch.content_sha256, record_count=batch.record_count)
    try:
        receipt = await asyncio.to_thread(uploader.upload, outgoing)
    except UploadRejected as refused:
        return await _record(database, actor, identifier, reporting.Attempt("rejected", error=str(refused)))
    except Exception as error:  # noqa: BLE001 - any other failure is one failed try, to be retried
        await _record(database, actor, identifier, reporting.Attempt("failed", error=_describe(error)))
        raise error if isinstance(error, UploadFailed) else UploadFailed(_describe(error)) from error
    return await _record(database, actor, identifier, reporting.Attempt("accepted", receipt=receipt))


async def _record(database: Database, actor: Actor, identifier: str, attempt: reporting.Attempt) -> str:
    async with database.transaction() as session:
        batch = await reporting.record_attempt(session, actor, identifier, attempt)
        return batch.status


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if not isinstance(error, UploadFailed) else str(error)

"""The national data reporting: batches of one dataset and one window, sent upward once.

A batch is built once per (dataset, window): its id is derived from both
(:func:`batch_id`), so building again finds the stored batch and sending again carries the
same id, which the national platform uses to recognise a resend. A batch is sent until it
is accepted, then never again; a refusal for good (the upstream says the batch itself is
wrong) stops the sending too, for an operator to look at. Each step (built, every attempt
that failed, accepted, rejected) is a ledger entry of ``report_batch:<id>``.

Sending is network I/O, so it happens outside any transaction: the job reads the batch,
calls the uploader (``trading.reporting_upload``), then records the outcome with
:func:`record_attempt` in a transaction of its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import FieldError, InvalidInput, NotFound
from core.usecases import use_case
from supervision.ledger.append import append
from supervision.replay import State, StreamKind, StreamRegistry
from trading.events import row_snapshot
from trading.reporting_datasets import DATASETS, Row
from trading.reporting_experts import Window
from trading.reporting_models import BatchStatus, ReportBatch

# The platform's code in the national network (its region code): the first part of every
# batch id. A deployment sets its own (see the report of wanted settings).
PLATFORM_CODE = "bidhall-350000"
STREAM = "report_batch"
BATCH_BUILT = "trading.report_batch_built"
BATCH_SEND_FAILED = "trading.report_batch_send_failed"
BATCH_ACCEPTED = "trading.report_batch_accepted"
BATCH_REJECTED = "trading.report_batch_rejected"
MAX_ERROR_CHARS = 2000

__all__ = ["DATASETS", "Window", "batch_id", "build_batch", "day_window", "json_lines", "record_attempt"]


def batch_stream(identifier: str) -> str:
    return f"{STREAM}:{identifier}"


def day_window(day: date) -> Window:
    """The UTC day ``day`` as a window (reports are made per day)."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return Window(start=start, end=start + timedelta(days=1))


def batch_id(dataset: str, window: Window) -> str:
    """The batch's id: platform, dataset and window, so the same batch always has the same id."""
    return f"{PLATFORM_CODE}.{dataset}.{window.start:%Y%m%dT%H%M%SZ}.{window.end:%Y%m%dT%H%M%SZ}"


def json_lines(rows: list[Row]) -> bytes:
    """One JSON object per line, keys sorted, UTF-8: the same rows always give the same bytes."""
    return b"".join(json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n" for row in rows)


async def dataset_rows(session: AsyncSession, dataset: str, window: Window) -> list[Row]:
    if dataset not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise InvalidInput(f"unknown dataset {dataset!r} (known: {known})", [FieldError("dataset", "unknown")])
    if window.end <= window.start:
        raise InvalidInput("the window must end after it starts", [FieldError("window", "empty or reversed")])
    if window.end > utcnow():
        raise InvalidInput("a window is reported once it is over", [FieldError("window", "not over yet")])
    return await DATASETS[dataset](session, window)


@use_case("trading.build_report_batch", {Role.ADMIN})
async def build_batch(session: AsyncSession, actor: Actor, dataset: str, window: Window) -> ReportBatch:
    """The batch of ``dataset`` over ``window``: the stored one if it was built before."""
    identifier = batch_id(dataset, window)
    existing = await session.get(ReportBatch, identifier)
    if existing is not None:
        return existing
    rows = await dataset_rows(session, dataset, window)
    content = json_lines(rows)
    now = utcnow()
    batch = ReportBatch(id=identifier, dataset=dataset, window_start=window.start, window_end=window.end,
                        record_count=len(rows), content=content.decode(), content_sha256=hashlib.sha256(content).hexdigest(),
                        status=BatchStatus.PENDING, attempts=0, built_at=now, updated_at=now)
    session.add(batch)
    await session.flush()
    await append(session, stream=batch_stream(identifier), event_type=BATCH_BUILT, actor=actor,
                 payload={"batch": _snapshot(batch)})
    return batch


@dataclass(frozen=True)
class Attempt:
    """What one sending of a batch came to: ``accepted`` (with the upstream's receipt),
    ``failed`` (try again later) or ``rejected`` (refused for good)."""

    outcome: str
    receipt: str | None = None
    error: str | None = None


@use_case("trading.record_report_attempt", {Role.ADMIN})
async def record_attempt(session: AsyncSession, actor: Actor, identifier: str, attempt: Attempt) -> ReportBatch:
    """Record how sending the batch went. A batch already accepted or rejected stays so
    (a late duplicate attempt changes nothing and records nothing)."""
    if attempt.outcome not in ("accepted", "failed", "rejected"):
        raise InvalidInput(f"unknown outcome {attempt.outcome!r}", [FieldError("outcome", "accepted, failed or rejected")])
    batch = await session.get(ReportBatch, identifier, with_for_update=True)
    if batch is None:
        raise NotFound(f"no report batch {identifier!r}")
    if batch.status != BatchStatus.PENDING:
        return batch
    now = utcnow()
    batch.attempts += 1
    batch.updated_at = now
    if attempt.outcome == "accepted":
        batch.status, batch.receipt, batch.accepted_at, batch.last_error = BatchStatus.ACCEPTED, attempt.receipt, now, None
        event = BATCH_ACCEPTED
    else:
        batch.last_error = (attempt.error or "no reason given")[:MAX_ERROR_CHARS]
        event = BATCH_SEND_FAILED
        if attempt.outcome == "rejected":
            batch.status, event = BatchStatus.REJECTED, BATCH_REJECTED
    session.add(batch)
    await session.flush()
    await append(session, stream=batch_stream(identifier), event_type=event, actor=actor,
                 payload={"batch": _snapshot(batch)})
    return batch


async def pending_batches(session: AsyncSession) -> list[str]:
    rows = await session.scalars(sa.select(ReportBatch.id).where(ReportBatch.status == BatchStatus.PENDING)
                                 .order_by(ReportBatch.window_end, ReportBatch.id))
    return list(rows.all())


async def last_reported_day(session: AsyncSession) -> date | None:
    """The last day a batch was built for (every dataset is built together)."""
    end = await session.scalar(sa.select(sa.func.max(ReportBatch.window_end)))
    return (end - timedelta(days=1)).date() if end is not None else None


def _snapshot(batch: ReportBatch) -> dict[str, Any]:
    # The content is named by its hash: the ledger keeps what was sent without holding it twice.
    return row_snapshot(batch, without=("content",))


# --- replay: report_batch:<id> ---------------------------------------------------------------


def apply_batch(state: State | None, entry: dict[str, Any]) -> State | None:
    if entry["type"] in (BATCH_BUILT, BATCH_SEND_FAILED, BATCH_ACCEPTED, BATCH_REJECTED):
        return {"batch": entry["payload"]["batch"]}
    return state


async def load_batch_state(session: AsyncSession, stream: str) -> State | None:
    batch = await session.get(ReportBatch, stream.partition(":")[2])
    return {"batch": _snapshot(batch)} if batch is not None else None


async def list_batch_streams(session: AsyncSession) -> list[str]:
    return [batch_stream(identifier) for identifier in (await session.scalars(sa.select(ReportBatch.id))).all()]


def register(registry: StreamRegistry) -> None:
    """Register the ``report_batch`` stream kind with the replay registry."""
    registry.register(StreamKind(STREAM, apply_batch, load_batch_state, list_batch_streams))

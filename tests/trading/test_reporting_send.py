"""Sending reporting batches upward: once, retried with Celery on failure, never again once
accepted, stopped when refused for good; the HTTP uploader's mapping of answers; the
periodic job building what is due and sending it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.actors import SYSTEM
from core.clock import utcnow
from core.settings import Settings, load_settings
from core.tasks import close_worker_loop, create_celery_app, current_celery_app
from supervision.ledger.models import LedgerEntry
from tests.trading.reporting_fakes import FakeUploader
from trading import reporting, reporting_upload, tasks
from trading.reporting_jobs import send_batch
from trading.reporting_models import ReportBatch
from trading.reporting_upload import (
    HttpUploader,
    OutgoingBatch,
    UploadFailed,
    UploadRejected,
)

WINDOW = reporting.day_window(date(2026, 3, 2))


async def built(database, dataset: str = "entities") -> str:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return (await reporting.build_batch(session, SYSTEM, dataset, WINDOW)).id


async def stored(database, identifier: str) -> ReportBatch:  # type: ignore[no-untyped-def]
    async with database.reader() as session:
        batch = await session.get(ReportBatch, identifier)
        assert batch is not None
        return batch


async def stream_types(database, identifier: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with database.reader() as session:
        rows = await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == reporting.batch_stream(identifier)).order_by(LedgerEntry.seq))
        return list(rows.all())


async def test_a_batch_is_sent_once(database) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)
    upstream = FakeUploader()
    assert await send_batch(database, identifier, upstream) == "accepted"
    assert await send_batch(database, identifier, upstream) == "accepted"  # a duplicate task sends nothing
    assert upstream.sent_ids == [identifier]
    batch = await stored(database, identifier)
    assert batch.receipt == "receipt-1" and batch.attempts == 1 and batch.accepted_at is not None
    assert upstream.tries[0].content == batch.content.encode()
    assert await stream_types(database, identifier) == [reporting.BATCH_BUILT, reporting.BATCH_ACCEPTED]


async def test_a_refused_batch_is_not_sent_again(database) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)
    upstream = FakeUploader(refuse=True)
    assert await send_batch(database, identifier, upstream) == "rejected"
    assert await send_batch(database, identifier, upstream) == "rejected"
    assert len(upstream.tries) == 1 and "unknown dataset" in (await stored(database, identifier)).last_error  # type: ignore[operator]


async def test_a_failed_try_is_recorded_and_raised_for_the_retry(database) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)

    class Broken:
        def upload(self, batch: OutgoingBatch) -> str:
            raise ConnectionResetError("peer went away")

    with pytest.raises(UploadFailed, match="ConnectionResetError"):
        await send_batch(database, identifier, Broken())
    batch = await stored(database, identifier)
    assert batch.status == "pending" and batch.attempts == 1 and "peer went away" in batch.last_error  # type: ignore[operator]


# --- the Celery tasks ----------------------------------------------------------------------------


@pytest.fixture
def as_worker(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    """This process acting as a worker (tasks applied in process, retries too)."""
    settings = load_settings(data_dir=tmp_path / "var", database_url=database_url)
    app = create_celery_app(settings)
    yield settings
    reporting_upload.install_uploader(None)
    close_worker_loop()
    app.close()


async def test_the_task_retries_until_accepted_and_then_sends_no_more(database, as_worker) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)
    upstream = FakeUploader(failures=2)
    reporting_upload.install_uploader(upstream)
    result = tasks.send_report_batch.apply(args=[identifier])
    assert result.get() == "accepted" and upstream.sent_ids == [identifier] * 3
    assert (await stored(database, identifier)).attempts == 3
    assert await stream_types(database, identifier) == [
        reporting.BATCH_BUILT, reporting.BATCH_SEND_FAILED, reporting.BATCH_SEND_FAILED, reporting.BATCH_ACCEPTED]
    assert tasks.send_report_batch.apply(args=[identifier]).get() == "accepted"
    assert len(upstream.tries) == 3  # accepted: never resent


async def test_the_task_gives_up_after_its_retries(database, as_worker) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)
    upstream = FakeUploader(failures=100)
    reporting_upload.install_uploader(upstream)
    result = tasks.send_report_batch.apply(args=[identifier])
    with pytest.raises(UploadFailed):
        result.get()
    assert len(upstream.tries) == tasks.SEND_RETRIES + 1
    assert (await stored(database, identifier)).status == "pending"  # the next run of the job tries again


async def test_without_an_uploader_batches_wait(database, as_worker) -> None:  # type: ignore[no-untyped-def]
    identifier = await built(database)
    assert reporting_upload.configured_uploader() is None
    assert tasks.send_report_batch.apply(args=[identifier]).get() == "pending"
    assert (await stored(database, identifier)).attempts == 0


async def test_the_periodic_job_builds_what_is_due_and_sends_it(database, as_worker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sent: list[list[str]] = []
    monkeypatch.setattr(current_celery_app(), "send_task", lambda name, args: sent.append([name, *args]))
    pending = tasks.report_datasets.apply().get()
    yesterday = utcnow().date() - timedelta(days=1)
    assert len(pending) == len(reporting.DATASETS)
    assert all(reporting.day_window(yesterday).start.strftime("%Y%m%d") in identifier for identifier in pending)
    assert sent == [["trading.send_report_batch", identifier] for identifier in pending]
    assert tasks.report_datasets.apply().get() == pending  # nothing new is due; the pending wait their turn
    assert "trading.report_datasets" in tasks.PERIODIC_TASKS


# --- the HTTP uploader ----------------------------------------------------------------------------

OUTGOING = OutgoingBatch(batch_id="bidhall-350000.entities.X.Y", dataset="entities", content=b'{"a": 1}\n',
                         content_sha256="0" * 64, record_count=1)


def uploader(status: int, body: object = None, seen: list[httpx.Request] | None = None) -> HttpUploader:
    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="no")

    return HttpUploader("https://national.example/api/", "secret", transport=httpx.MockTransport(answer))


def test_the_http_uploader_puts_the_batch_under_its_id() -> None:
    seen: list[httpx.Request] = []
    assert uploader(201, {"receipt": "NAT-7"}, seen).upload(OUTGOING) == "NAT-7"
    request = seen[0]
    assert request.method == "PUT" and str(request.url) == "https://national.example/api/batches/" + OUTGOING.batch_id
    assert request.headers["Idempotency-Key"] == OUTGOING.batch_id and request.headers["Authorization"] == "Bearer secret"
    assert request.headers["Digest"].startswith("SHA-256=") and request.content == OUTGOING.content
    assert uploader(409).upload(OUTGOING).startswith("409")  # it holds the batch already: accepted


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_the_http_uploader_retries_what_may_pass_later(status: int) -> None:
    with pytest.raises(UploadFailed, match=f"HTTP {status}"):
        uploader(status).upload(OUTGOING)


@pytest.mark.parametrize("status", [400, 401, 422])
def test_the_http_uploader_stops_on_a_refusal(status: int) -> None:
    with pytest.raises(UploadRejected, match=f"HTTP {status}"):
        uploader(status).upload(OUTGOING)


def test_the_http_uploader_turns_network_errors_into_failed_tries() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UploadFailed, match="ConnectError"):
        HttpUploader("https://national.example", transport=httpx.MockTransport(down)).upload(OUTGOING)


def test_the_configured_uploader_is_http_when_an_endpoint_is_set(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.settings import load_settings

    monkeypatch.setattr(reporting_upload, "worker_settings", lambda: load_settings(data_dir=tmp_path))
    assert reporting_upload.configured_uploader() is None  # no endpoint: batches wait
    monkeypatch.setattr(reporting_upload, "worker_settings", lambda: load_settings(
        data_dir=tmp_path, reporting_endpoint="https://national.example", reporting_token="t0ken"))
    uploader = reporting_upload.configured_uploader()
    assert isinstance(uploader, HttpUploader)

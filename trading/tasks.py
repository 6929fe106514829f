"""Trading jobs: clearing the spool of uploads bidders abandoned, resuming lots whose
complaint suspension ran out, and the national data reporting (building the due batches,
sending each with retries)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task

from core.database import Database
from core.tasks import current_celery_app, run_in_worker, worker_settings
from trading import complaints, price_bidding_close
from trading.reporting_jobs import build_due_batches, send_batch
from trading.reporting_upload import UploadFailed, configured_uploader
from trading.uploads import UploadSpool, purge_abandoned_uploads

ABANDONED_AFTER = timedelta(days=1)
REPORT_EVERY_SECONDS = 3600
PERIODIC_TASKS = {"trading.purge_abandoned_uploads": 3600, "trading.report_datasets": REPORT_EVERY_SECONDS,
                  "trading.resume_expired_suspensions": 900, "trading.close_due_price_competitions": 60}


@shared_task(name="trading.purge_abandoned_uploads")
def purge_uploads() -> int:
    """An upload untouched for a day (given up, or completed and never submitted) must not
    hold disk space for ever; returns how many were removed."""
    spool = UploadSpool(worker_settings().resolved_upload_dir)

    async def run(database: Database) -> int:
        async with database.transaction() as session:
            return await purge_abandoned_uploads(session, ABANDONED_AFTER, spool=spool)

    return run_in_worker(run)


@shared_task(name="trading.resume_expired_suspensions")
def resume_expired_suspensions() -> list[int]:
    """A suspension ordered for a complaint with an end date (procurement: at most 30 days)
    ends by itself; returns the complaints whose lots were resumed."""

    async def run(database: Database) -> list[int]:
        async with database.transaction() as session:
            return await complaints.resume_expired_suspensions(session)

    return run_in_worker(run)


@shared_task(name="trading.close_due_price_competitions")
def close_due_price_competitions() -> list[int]:
    """Apply what the clock made due (listing closes, live countdowns, rounds, sealed periods,
    Dutch clocks) to competitions nobody is reading or quoting in; returns their ids. Every read
    and act applies it too, so this only bounds how late an untouched result is recorded."""

    async def run(database: Database) -> list[int]:
        async with database.transaction() as session:
            return await price_bidding_close.close_due_competitions(session)

    return run_in_worker(run)


# --- national data reporting ----------------------------------------------------------------

SEND_RETRIES = 8
SEND_BACKOFF_SECONDS = 60  # doubled at each retry: 1, 2, 4 ... minutes, at most an hour apart


@shared_task(name="trading.report_datasets")
def report_datasets() -> list[str]:
    """Build the national reporting batches that are due and send each pending one (its own
    task, so one batch's retries do not hold the others up); returns the pending ids. A
    batch still retrying may be sent a second task: sending is idempotent here and upstream."""
    pending = run_in_worker(build_due_batches)
    app = current_celery_app()
    for identifier in pending:
        app.send_task("trading.send_report_batch", args=[identifier])
    return pending


@shared_task(name="trading.send_report_batch", bind=True, max_retries=SEND_RETRIES)
def send_report_batch(self: Any, identifier: str) -> str:
    """Send one batch; a failed try is retried with a growing delay. A batch already
    accepted is not sent again, so a duplicate task or a late retry sends nothing."""
    uploader = configured_uploader()
    if uploader is None:
        return "pending"  # no endpoint configured: the batch waits, built and recorded

    async def run(database: Database) -> str:
        return await send_batch(database, identifier, uploader)

    try:
        return run_in_worker(run)  # type: ignore[no-any-return]
    except UploadFailed as failed:
        delay = min(SEND_BACKOFF_SECONDS * 2 ** self.request.retries, 3600)
        raise self.retry(exc=failed, countdown=delay) from failed

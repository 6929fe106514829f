"""Trading jobs: clearing the spool of uploads bidders abandoned."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from core.database import Database
from core.tasks import run_in_worker, worker_settings
from trading.uploads import UploadSpool, purge_abandoned_uploads

ABANDONED_AFTER = timedelta(days=1)
PERIODIC_TASKS = {"trading.purge_abandoned_uploads": 3600}


@shared_task(name="trading.purge_abandoned_uploads")
def purge_uploads() -> int:
    """An upload untouched for a day (given up, or completed and never submitted) must not
    hold disk space for ever; returns how many were removed."""
    spool = UploadSpool(worker_settings().resolved_upload_dir)

    async def run(database: Database) -> int:
        async with database.transaction() as session:
            return await purge_abandoned_uploads(session, ABANDONED_AFTER, spool=spool)

    return run_in_worker(run)

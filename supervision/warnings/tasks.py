"""The warnings' periodic job: run every registered rule over the last day, every hour.

Overlapping windows are harmless (a finding already raised is not raised again) and mean a
worker that was down for a while still reviews what happened meanwhile. The rules of every
domain are registered when the worker imports ``evaluation.tasks`` (core.tasks.TASK_MODULES).
Parameter overrides come from the JSON file named by ``BIDHALL_WARNING_PARAMETERS`` (read
at each run, so a changed file applies without a restart).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task

from core.actors import SYSTEM
from core.blobs import BlobStore
from core.clock import utcnow
from core.database import Database
from core.tasks import run_in_worker, worker_settings
from supervision.warnings.rules import read_overrides
from supervision.warnings.service import run_warning_rules

RUN_EVERY_SECONDS = 3600
LOOK_BACK = timedelta(days=1)
PARAMETERS_VARIABLE = "BIDHALL_WARNING_PARAMETERS"

PERIODIC_TASKS = {"supervision.run_warning_rules": RUN_EVERY_SECONDS}


def overrides_from_environment() -> dict[str, dict[str, Any]] | None:
    path = os.environ.get(PARAMETERS_VARIABLE)
    if not path:
        return None
    return read_overrides(Path(path).read_text(encoding="utf-8"), path)


@shared_task(name="supervision.run_warning_rules")
def run_warning_rules_task() -> dict[str, Any]:
    """Run the rules over the last day and return the run's report."""
    settings = worker_settings()
    overrides = overrides_from_environment()

    async def run(database: Database) -> dict[str, Any]:
        until = utcnow()
        async with database.transaction() as session:
            report = await run_warning_rules(session, SYSTEM, since=until - LOOK_BACK, until=until,
                                             blobs=BlobStore(settings.resolved_blob_dir), overrides=overrides)
        return report.to_json()

    return run_in_worker(run)

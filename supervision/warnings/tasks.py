"""The warnings' periodic job: run every registered rule over the last day, every hour.

Overlapping windows are harmless (a finding already raised is not raised again) and mean a
worker that was down for a while still reviews what happened meanwhile. The rules of every
domain are registered when the worker imports ``evaluation.tasks`` (core.tasks.TASK_MODULES).
Parameter overrides come from the JSON file of the setting ``warning_parameters_file``
(``BIDHALL_WARNING_PARAMETERS_FILE``; read at each run, so a changed file applies without a
restart).
"""

from __future__ import annotations

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

PERIODIC_TASKS = {"supervision.run_warning_rules": RUN_EVERY_SECONDS}


def configured_overrides(path: Path | None) -> dict[str, dict[str, Any]] | None:
    """The parameter overrides of the settings' ``warning_parameters_file``, if any."""
    if path is None:
        return None
    return read_overrides(path.read_text(encoding="utf-8"), str(path))


@shared_task(name="supervision.run_warning_rules")
def run_warning_rules_task() -> dict[str, Any]:
    """Run the rules over the last day and return the run's report."""
    settings = worker_settings()
    overrides = configured_overrides(settings.warning_parameters_file)

    async def run(database: Database) -> dict[str, Any]:
        until = utcnow()
        async with database.transaction() as session:
            report = await run_warning_rules(session, SYSTEM, since=until - LOOK_BACK, until=until,
                                             blobs=BlobStore(settings.resolved_blob_dir), overrides=overrides)
        return report.to_json()

    return run_in_worker(run)

"""Supervision's background jobs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from celery import shared_task
from celery.signals import worker_init

from ca_interop.platform_keys import Ed25519PlatformSigner, PlatformSigner
from core.database import Database
from core.tasks import run_in_worker, worker_settings
from supervision.ledger.heads import current_head

# A signed head at least every minute, so the published head keeps up with the ledger
# without signing inside every request.
PERIODIC_TASKS = {"supervision.sign_tree_head": 60}


@cache
def _signer_at(path: Path) -> Ed25519PlatformSigner:
    return Ed25519PlatformSigner.load_or_create(path)


def platform_signer() -> PlatformSigner:
    """The platform key of this worker process, read (or on a first run made) once."""
    return _signer_at(worker_settings().resolved_platform_key_file)


@worker_init.connect(dispatch_uid="supervision.load_platform_key")
def load_platform_key(**_: object) -> None:
    """Load the platform key in the worker's main process, before the pool starts.

    Pool processes then inherit the loaded key instead of racing each other to create the
    file on a first run.
    """
    platform_signer()


@shared_task(name="supervision.sign_tree_head")
def sign_tree_head() -> int:
    """Sign a head over every committed entry (if the latest does not already cover them).

    Sent after commits that matter, so the published head keeps up with the ledger without
    signing inside every request. Returns the size the current head covers.
    """
    signer = platform_signer()

    async def run(database: Database) -> int:
        async with database.transaction() as session:
            head = await current_head(session, signer)
            return head.tree_size

    return run_in_worker(run)

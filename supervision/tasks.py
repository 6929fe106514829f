"""Supervision's background jobs: signing heads as the ledger grows, publishing them on a
schedule."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from celery import shared_task
from celery.signals import worker_init

from ca_interop.platform_keys import Ed25519PlatformSigner, PlatformSigner
from core.actors import SYSTEM
from core.database import Database
from core.tasks import run_in_worker, worker_settings
from supervision.heads import publish_head
from supervision.ledger.heads import current_head

# How often a head is published for outsiders to keep. Hourly: frequent enough that an
# archive or receipt finds a published head soon after it is made, rare enough that the
# list of heads stays short to mirror (a publication with no new entries adds nothing).
PUBLISH_HEAD_SECONDS = 3600

# A signed head at least every minute, so the current head keeps up with the ledger
# without signing inside every request.
PERIODIC_TASKS = {"supervision.sign_tree_head": 60, "supervision.publish_tree_head": PUBLISH_HEAD_SECONDS}


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


@shared_task(name="supervision.publish_tree_head")
def publish_tree_head() -> int:
    """Publish a head over every committed entry, as the platform; returns its size."""
    signer = platform_signer()

    async def run(database: Database) -> int:
        async with database.transaction() as session:
            published = await publish_head(session, SYSTEM, signer, trigger="schedule")
            return int(published["tree_size"])

    return run_in_worker(run)

"""Supervision's background jobs."""

from __future__ import annotations

from celery import shared_task

from ca_interop.platform_keys import Ed25519PlatformSigner
from core.database import Database
from core.tasks import run_in_worker, worker_settings
from supervision.ledger.heads import current_head


@shared_task(name="supervision.sign_tree_head")
def sign_tree_head() -> int:
    """Sign a head over every committed entry (if the latest does not already cover them).

    Sent after commits that matter (and periodically), so the published head keeps up with
    the ledger without signing inside every request.
    """
    signer = Ed25519PlatformSigner.load_or_create(worker_settings().resolved_platform_key_file)

    async def run(database: Database) -> int:
        async with database.transaction() as session:
            head = await current_head(session, signer)
            return head.tree_size

    return int(run_in_worker(run))

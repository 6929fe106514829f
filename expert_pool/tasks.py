"""Expert-pool jobs: calling drawn experts in sequence and handling their answers."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from celery import shared_task

from core.database import Database
from core.tasks import current_celery_app, run_in_worker, worker_settings
from expert_pool import notifications
from expert_pool.notify.base import NotificationProvider
from expert_pool.notify.registry import provider_from_settings
from expert_pool.notify.simulator import SimulatedProvider


@cache
def _provider(name: str, settings_json: str) -> NotificationProvider:
    import json

    return provider_from_settings(name, **json.loads(settings_json))


def provider() -> NotificationProvider:
    """This worker's provider, built once from the settings."""
    import json

    settings = worker_settings()
    return _provider(settings.notify_provider, json.dumps(settings.notify_settings, sort_keys=True))


@shared_task(name="expert_pool.notify_next")
def notify_next(draw_id: int) -> list[int]:
    async def run(database: Database) -> list[int]:
        async with database.transaction() as session:
            return await notifications.place_due_calls(session, draw_id)

    return list(run_in_worker(run))


@shared_task(name="expert_pool.send_invitation")
def send_invitation(call_id: int) -> str | None:
    window = timedelta(seconds=worker_settings().answer_window_seconds)
    chosen = provider()

    async def run(database: Database) -> str | None:
        async with database.transaction() as session:
            invitation = await notifications.claim_invitation(session, call_id, window)
        if invitation is None:
            return None  # already invited (a retried task) or already answered
        reference = await notifications.send(chosen, invitation)
        async with database.transaction() as session:
            from expert_pool.models import DrawCall

            call = await session.get(DrawCall, call_id)
            call.provider_reference = reference  # type: ignore[union-attr]
        if isinstance(chosen, SimulatedProvider):
            await _deliver_simulated_answers(database, chosen)
        return reference

    result = run_in_worker(run)
    current_celery_app().send_task("expert_pool.answer_timeout", args=[call_id], countdown=window.total_seconds())
    return result  # type: ignore[no-any-return]


async def _deliver_simulated_answers(database: Database, simulator: SimulatedProvider) -> None:
    """The simulator answers at once (no delay configured): apply its pushes like callbacks."""
    async with database.transaction() as session:
        draw_ids = await notifications.apply_events(session, simulator.events_due())
    await notifications.continue_draws(database, draw_ids)


@shared_task(name="expert_pool.answer_timeout")
def answer_timeout(call_id: int) -> Any:
    async def run(database: Database) -> int | None:
        async with database.transaction() as session:
            draw_id = await notifications.expire(session, call_id)
        if draw_id is not None:
            await notifications.continue_draws(database, [draw_id])
        return draw_id

    return run_in_worker(run)

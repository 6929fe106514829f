"""Telling drawn experts, over Celery: call in sequence, record answers, replace decliners.

One invitation per call, sent once: ``invited_at`` is committed before the provider is
asked, so a worker that crashes and retries never calls the same expert twice (the silence
then counts as a decline after the answer window). Answers arrive by the provider's
callback, an SMS reply, the expert's own page, or the timeout; each is applied once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM
from core.clock import utcnow
from core.database import Database
from core.tasks import enqueue_after_commit
from expert_pool import draws
from expert_pool.models import Draw, DrawCall, Expert
from expert_pool.notify.base import (
    CallbackEvent,
    Invitation,
    NotificationProvider,
    ProviderError,
)

log = logging.getLogger("bidhall.experts.notify")


async def place_due_calls(session: AsyncSession, draw_id: int) -> list[int]:
    """Call every expert the draw needs now, in the seed's order; send their invitations."""
    placed = []
    while (call := await draws.call_next(session, SYSTEM, draw_id)) is not None:
        placed.append(call.id)
        enqueue_after_commit(session, "expert_pool.send_invitation", call.id)  # type: ignore[arg-type]
    return placed


async def claim_invitation(session: AsyncSession, call_id: int, window: timedelta) -> Invitation | None:
    """Mark the call as invited (once) and return what to tell the expert, or None."""
    call = await session.scalar(sa.select(DrawCall).where(DrawCall.id == call_id).with_for_update())
    if call is None or call.invited_at is not None or call.answer is not None:
        return None
    draw = await session.get(Draw, call.draw_id)
    expert = await session.get(Expert, call.expert_id)
    call.invited_at = utcnow()
    # The place of the expert's own venue: a venue draw's other venues are never named.
    return Invitation(reference=str(call.id), phone=expert.phone, evaluation_time=draw.evaluation_at,  # type: ignore[union-attr]
                      place=draws.venue_place(draw, call.venue),  # type: ignore[arg-type]
                      reply_deadline=call.invited_at + window)


async def send(provider: NotificationProvider, invitation: Invitation) -> str | None:
    """Voice call and SMS; a provider failure is logged (the timeout then declines)."""
    references = []
    for channel in ("call", "sms"):
        if channel not in provider.channels:
            continue
        try:
            sender = provider.place_call if channel == "call" else provider.send_sms
            receipt = await sender(invitation)
            references.append(f"{channel}:{receipt.provider_id}")
        except ProviderError as error:
            log.warning("invitation %s by %s failed: %s", invitation.reference, channel, error)
    return ";".join(references) or None


async def apply_events(session: AsyncSession, events: Sequence[CallbackEvent]) -> list[int]:
    """Record the answers among ``events``; returns the draws that need their next call."""
    draws_to_continue = []
    for event in events:
        if event.kind != "answer" or event.answer is None:
            continue
        call = await _call_for(session, event)
        if call is None:
            log.info("answer for an unknown invitation from %s ignored: %s", event.provider, event.dedup_key)
            continue
        await draws.record_answer(session, SYSTEM, call.id, event.answer)  # type: ignore[arg-type]
        draws_to_continue.append(call.draw_id)
    return draws_to_continue


async def _call_for(session: AsyncSession, event: CallbackEvent) -> DrawCall | None:
    if event.our_reference and event.our_reference.isdigit():
        return await session.get(DrawCall, int(event.our_reference))
    if event.phone:  # an SMS reply carries only the phone: its one open invitation
        rows = await session.scalars(
            sa.select(DrawCall).join(Expert, Expert.id == DrawCall.expert_id)
            .where(Expert.phone == event.phone.removeprefix("+86"), DrawCall.answer.is_(None)))
        open_calls = list(rows)
        return open_calls[0] if len(open_calls) == 1 else None
    return None


async def expire(session: AsyncSession, call_id: int) -> int | None:
    """No answer within the window: a decline. Returns the draw to continue, if any."""
    call = await session.get(DrawCall, call_id)
    if call is None or call.answer is not None:
        return None
    await draws.record_answer(session, SYSTEM, call_id, "no_answer")
    return call.draw_id


async def continue_draws(database: Database, draw_ids: Sequence[int]) -> None:
    for draw_id in sorted(set(draw_ids)):
        async with database.transaction() as session:
            enqueue_after_commit(session, "expert_pool.notify_next", draw_id)

"""The drawn committee as the evaluation session sees it: reveal, recusal and replacement.

The drawn list stays sealed until the evaluation session opens; :func:`reveal_to_session`
hands the session the experts who accepted, and, like a regulator's read, every such read is
a ledger entry on the draw's stream (without names or codes: the stream is the sealed view).

A member who finds a conflict at the session recuses (:func:`recuse`): the acceptance becomes
``recused``, the slot reopens, and the notification worker calls the next expert the same
seed gives for that specialty (at the same venue, in a venue draw), so the replacement is as verifiable as the first call. When
the draw is filled again (or runs out of experts) the hooks registered with
:func:`on_committee_change` are told, inside the same transaction.

These are plain functions, not use cases: the evaluation domain calls them after checking
who may act in its own session.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.tasks import enqueue_after_commit
from expert_pool import draw_algorithm as algorithm
from expert_pool.draws import (
    COMMITTEE_REVEALED,
    EXPERT_RECUSED,
    _finish_if_over,
    _live_draw,
    clear_hooks,
    draw_stream,
    on_committee_change,
    venue_name,
)
from expert_pool.models import Draw, DrawCall, Expert
from supervision.ledger.append import append

__all__ = ["CommitteeSeat", "clear_hooks", "on_committee_change", "recuse", "reveal_to_session"]

# The committee may be handed over once the draw is complete (and also after the public reveal).
REVEALABLE = ("filled", "revealed")
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class CommitteeSeat:
    """One accepted expert of the draw; ``position`` is the call's place in the draw's log;
    ``venue`` the name of the venue the expert serves at (a venue draw), None otherwise."""

    expert_id: int
    expert_code: str
    name: str
    id_number: str
    user_id: int | None
    specialty: str
    position: int
    venue: str | None = None


async def reveal_to_session(session: AsyncSession, actor: Actor, draw_id: int, *,
                            session_reference: str) -> list[CommitteeSeat]:
    """The accepted experts of the draw, in call order (recused ones excluded)."""
    if not isinstance(session_reference, str) or not session_reference.strip():
        raise InvalidInput("the evaluation session revealing the committee must be named",
                           [FieldError("$.session_reference", "required")])
    draw, _, calls = await _live_draw(session, draw_id)  # also proves the stored calls follow the seed
    if draw.status not in REVEALABLE:
        raise Conflict(f"draw {draw_id} is {draw.status}: its committee is revealed only once it is filled")
    accepted = [call for call in calls if call.answer == algorithm.Answer.ACCEPTED]
    experts = {expert.id: expert for expert in await session.scalars(
        sa.select(Expert).where(Expert.id.in_([call.expert_id for call in accepted] or [-1])))}
    await append(session, stream=draw_stream(draw_id), event_type=COMMITTEE_REVEALED, actor=actor,
                 payload={"session_reference": session_reference, "count": len(accepted)})
    return [_seat(experts[call.expert_id], call, venue_name(draw, call.venue)) for call in accepted]


async def recuse(session: AsyncSession, actor: Actor, draw_id: int, expert_id: int, reason: str) -> None:
    """An accepted expert leaves the committee; the seed's next expert of the specialty is called.

    Refused, with nothing stored, when the reason is empty, the draw does not exist, or the
    expert has no accepted call in this draw.
    """
    reason = _checked_reason(reason)
    draw = await session.scalar(sa.select(Draw).where(Draw.id == draw_id).with_for_update())
    if draw is None:
        raise NotFound(f"draw {draw_id} does not exist")
    call = await session.scalar(sa.select(DrawCall).where(
        DrawCall.draw_id == draw_id, DrawCall.expert_id == expert_id).with_for_update())
    if call is None or call.answer != algorithm.Answer.ACCEPTED:
        state = "was not called" if call is None else f"answered {call.answer or 'nothing yet'}"
        raise Conflict(f"expert {expert_id} has no accepted call in draw {draw_id} ({state}): "
                       "only a member of the committee can recuse")
    _, live, _ = await _live_draw(session, draw_id)
    expert_code = await session.scalar(sa.select(Expert.code).where(Expert.id == expert_id))
    live.recuse(expert_code)  # type: ignore[arg-type]
    call.answer = algorithm.Answer.RECUSED.value
    draw.status = "calling"  # the slot is open again, whether the draw was filled or revealed
    await session.flush()
    payload = {"position": call.position, "specialty": call.specialty, "reason": reason}
    await append(session, stream=draw_stream(draw_id), event_type=EXPERT_RECUSED, actor=actor,
                 payload=payload if call.venue is None else {**payload, "venue": call.venue})
    enqueue_after_commit(session, "expert_pool.notify_next", draw_id)
    await _finish_if_over(session, actor, draw, live)  # nobody left to call: unfillable at once


def _checked_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a recusal needs its reason", [FieldError("$.reason", "required")])
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"the reason is at most {MAX_REASON_LENGTH} characters",
                           [FieldError("$.reason", f"longer than {MAX_REASON_LENGTH} characters")])
    return reason.strip()


def _seat(expert: Expert, call: DrawCall, venue: str | None) -> CommitteeSeat:
    return CommitteeSeat(expert_id=expert.id, expert_code=expert.code, name=expert.name,  # type: ignore[arg-type]
                         id_number=expert.id_number, user_id=expert.user_id, specialty=call.specialty,
                         position=call.position, venue=venue)

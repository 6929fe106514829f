"""What the session does when its committee's draw changes (a recusal's replacement).

The expert pool cannot import the evaluation domain (it sits below it), so it calls the
hooks the composition root registers (``expert_pool.draws.on_committee_change``) inside
the transaction that filled the draw again or ran it out of experts:

* "filled": the newly accepted experts take the recused members' seats (``MEMBER_SEATED``
  names the seat they replace; in a venue draw the replacement is of the same venue) and
  sign in like everyone else, at their own venue;
* "unfillable": nobody is left to call; the session is suspended (``SESSION_SUSPENDED``)
  until the centre forms the committee again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from evaluation import events, stages
from evaluation.context import Context, EvaluationServices
from evaluation.members import drawn_venues
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.record import record
from evaluation.service import member_payload
from evaluation.states import FINISHED_STAGES, MemberStatus, Stage

if TYPE_CHECKING:
    from expert_pool.committee import CommitteeSeat


async def on_committee_change(session: AsyncSession, actor: Actor, draw_id: int, status: str) -> None:
    """Seat replacements, or suspend the session, of every open session of ``draw_id``."""
    sessions = list(await session.scalars(sa.select(EvaluationSession).where(
        EvaluationSession.draw_id == draw_id).with_for_update()))
    for ev in sessions:
        if ev.stage in FINISHED_STAGES:
            continue
        if status == "filled":
            await _seat_replacements(session, actor, ev, draw_id)
        elif status == "unfillable" and await _waiting_for_replacement(session, ev):
            await _suspend(session, actor, ev, draw_id)


async def _waiting_for_replacement(session: AsyncSession, ev: EvaluationSession) -> bool:
    seats = await stages.members(session, ev.id)  # type: ignore[arg-type]
    replaced = {m.replaces_member_id for m in seats if m.replaces_member_id is not None}
    return any(m.status == MemberStatus.RECUSED and m.id not in replaced for m in seats)


async def _seat_replacements(session: AsyncSession, actor: Actor, ev: EvaluationSession, draw_id: int) -> None:
    from expert_pool.committee import reveal_to_session

    seats = await stages.members(session, ev.id)  # type: ignore[arg-type]
    seated = {m.expert_id for m in seats}
    replaced = {m.replaces_member_id for m in seats if m.replaces_member_id is not None}
    waiting = [m for m in seats if m.status == MemberStatus.RECUSED and m.id not in replaced]
    if not waiting:
        return
    accepted = await reveal_to_session(session, actor, draw_id, session_reference=events.session_stream(ev.id))
    newcomers = [seat for seat in accepted if seat.expert_id not in seated]
    next_seat = max((m.seat for m in seats), default=0) + 1
    for recused, seat in await _pairs(session, draw_id, waiting, newcomers):
        member = CommitteeMember(session_id=ev.id, seat=next_seat, expert_id=seat.expert_id,  # type: ignore[arg-type]
                                 expert_code=seat.expert_code, name=seat.name, user_id=seat.user_id,
                                 specialty=seat.specialty, status=MemberStatus.SEATED,
                                 replaces_member_id=recused.id)
        next_seat += 1
        session.add(member)
        await session.flush()
        await record(session, actor, ev.id, events.MEMBER_SEATED,  # type: ignore[arg-type]
                     {**member_payload(member), "replaces_member_id": recused.id, "replaces_seat": recused.seat})


async def _pairs(session: AsyncSession, draw_id: int, waiting: list[CommitteeMember],
                 newcomers: list[CommitteeSeat]) -> list[tuple[CommitteeMember, CommitteeSeat]]:
    """Each recused member with the newcomer who replaces them: in a venue draw the newcomer
    of the same venue and specialty (the draw replaces within the venue); otherwise in order."""
    venues = await drawn_venues(session, draw_id)
    if not venues:
        return list(zip(waiting, newcomers, strict=False))
    left = list(newcomers)
    pairs = []
    for recused in waiting:
        match = next((seat for seat in left if seat.venue == venues.get(recused.expert_id)
                      and seat.specialty == recused.specialty), None)
        if match is None:  # never seated across venues; a filled draw always has the match
            continue
        left.remove(match)
        pairs.append((recused, match))
    return pairs


async def _suspend(session: AsyncSession, actor: Actor, ev: EvaluationSession, draw_id: int) -> None:
    context = Context(ev=ev, services=_NO_SERVICES, actor=actor)
    await stages.move(session, context, Stage.SUSPENDED)
    await record(session, actor, ev.id, events.SESSION_SUSPENDED, {  # type: ignore[arg-type]
        "draw_id": draw_id, "reason": "the draw has no expert left to replace a recused member"})


# Moving to SUSPENDED needs no platform service (nothing is signed or stored).
_NO_SERVICES = EvaluationServices(blobs=None, revocation=None)  # type: ignore[arg-type]


def install() -> None:
    """Register :func:`on_committee_change` with the expert pool (idempotent).

    Called by every process that may fill a draw again: the web and command-line
    runtime (``web.runtime.Runtime``) and the task worker (``evaluation.tasks``)."""
    from expert_pool.draws import on_committee_change as register

    register(on_committee_change)

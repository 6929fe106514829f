"""The stage machine: the server, not a client, moves a session on.

After every message (``evaluation.channel.act``) and every change from outside (a refilled
committee), :func:`advance` asks whether the current stage's work is complete; if so it
closes the stage, moves to the next one (one ``STAGE_CHANGED`` entry, through
``ALLOWED_STAGE_MOVES``) and enters it, and asks again, so a message that completes
several stages at once (a method without scored factors) moves through all of them.

Sign-in and the chair's election are decided here; the work stages belong to their own
modules (review, scoring, results, signing), imported when the stage is reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from evaluation import events
from evaluation.context import Context
from evaluation.models import CommitteeMember
from evaluation.record import record
from evaluation.states import ALLOWED_STAGE_MOVES, MemberStatus, Stage

StageCheck = Callable[[AsyncSession, Context], Awaitable[bool]]
StageStep = Callable[[AsyncSession, Context], Awaitable[Any]]
NextStage = Callable[[AsyncSession, Context], Awaitable[Stage]]


class StageMoveRefused(RuntimeError):
    """A move ``ALLOWED_STAGE_MOVES`` does not have: a defect, never a client's doing."""


async def members(session: AsyncSession, session_id: int) -> list[CommitteeMember]:
    return list(await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == session_id).order_by(CommitteeMember.seat)))


async def active_members(session: AsyncSession, session_id: int) -> list[CommitteeMember]:
    return [m for m in await members(session, session_id) if m.status == MemberStatus.ACTIVE]


# --- sign-in and the chair ------------------------------------------------------------------


async def sign_in_complete(session: AsyncSession, ctx: Context) -> bool:
    """Every seat not recused is active, and every recused member has been replaced."""
    seats = await members(session, ctx.session_id)
    working = [m for m in seats if m.status != MemberStatus.RECUSED]
    replaced = {m.replaces_member_id for m in seats if m.replaces_member_id is not None}
    pending = [m for m in seats if m.status == MemberStatus.RECUSED and m.id not in replaced]
    return bool(working) and not pending and all(m.status == MemberStatus.ACTIVE for m in working)


async def chair_elected(session: AsyncSession, ctx: Context) -> bool:
    """Once every active member has voted: a majority elects; otherwise the votes are
    reset (an entry says so) and the members vote again."""
    voters = await active_members(session, ctx.session_id)
    if not voters or any(m.chair_vote is None for m in voters):
        return False
    tally = Counter(m.chair_vote for m in voters)
    chosen, votes = tally.most_common(1)[0]
    if votes * 2 <= len(voters):
        await record(session, None, ctx.session_id, events.CHAIR_VOTE_TIED, {
            "votes": {str(member_id): count for member_id, count in sorted(tally.items())}, "voters": len(voters)})
        for member in voters:
            member.chair_vote = None
            session.add(member)
        await session.flush()
        return False
    chair = next(m for m in voters if m.id == chosen)
    ctx.ev.chair_member_id = chair.id
    session.add(ctx.ev)
    await record(session, None, ctx.session_id, events.CHAIR_ELECTED,
                 {"member_id": chair.id, "seat": chair.seat, "votes": votes, "voters": len(voters)})
    return True


# --- the work stages ------------------------------------------------------------------------


async def _review_complete(session: AsyncSession, ctx: Context) -> bool:
    from evaluation import review

    return await review.stage_complete(session, ctx)


async def _review_close(session: AsyncSession, ctx: Context) -> None:
    from evaluation import review

    await review.close_stage(session, ctx)


async def _after_review(session: AsyncSession, ctx: Context) -> Stage:
    from evaluation.methods.catalogue import scoring_factors

    return Stage.DETAILED_SCORING if scoring_factors(ctx.ev.method, ctx.ev.parameters) else Stage.RESULTS


async def _scoring_complete(session: AsyncSession, ctx: Context) -> bool:
    from evaluation import scoring

    return await scoring.stage_complete(session, ctx)


async def _scoring_close(session: AsyncSession, ctx: Context) -> None:
    from evaluation import scoring

    await scoring.close_stage(session, ctx)


async def _results_enter(session: AsyncSession, ctx: Context) -> None:
    from evaluation import results

    await results.compute(session, ctx)


async def _results_complete(session: AsyncSession, ctx: Context) -> bool:
    from evaluation import results

    return await results.stage_complete(session, ctx)


async def _signing_enter(session: AsyncSession, ctx: Context) -> None:
    from evaluation import signing

    await signing.prepare_report(session, ctx)


async def _signing_complete(session: AsyncSession, ctx: Context) -> bool:
    from evaluation import signing

    return await signing.stage_complete(session, ctx)


async def _finish(session: AsyncSession, ctx: Context) -> None:
    from evaluation import signing

    ctx.ev.finished_at = utcnow()
    bundle_sha256 = await signing.finish(session, ctx)
    ctx.ev.signed_report_sha256 = bundle_sha256
    ctx.ev.signed_report_size = ctx.services.blobs.size(bundle_sha256)
    session.add(ctx.ev)
    await session.flush()


def _to(stage: Stage) -> NextStage:
    async def next_stage(session: AsyncSession, ctx: Context) -> Stage:
        return stage

    return next_stage


@dataclass(frozen=True)
class StageWork:
    complete: StageCheck
    next_stage: NextStage
    close: StageStep | None = None


STAGE_WORK: dict[Stage, StageWork] = {
    Stage.SIGN_IN: StageWork(sign_in_complete, _to(Stage.CHAIR_ELECTION)),
    Stage.CHAIR_ELECTION: StageWork(chair_elected, _to(Stage.PRELIMINARY_REVIEW)),
    Stage.PRELIMINARY_REVIEW: StageWork(_review_complete, _after_review, _review_close),
    Stage.DETAILED_SCORING: StageWork(_scoring_complete, _to(Stage.RESULTS), _scoring_close),
    Stage.RESULTS: StageWork(_results_complete, _to(Stage.REPORT_SIGNING)),
    Stage.REPORT_SIGNING: StageWork(_signing_complete, _to(Stage.FINISHED)),
}
ON_ENTER: dict[Stage, StageStep] = {
    Stage.RESULTS: _results_enter,
    Stage.REPORT_SIGNING: _signing_enter,
    Stage.FINISHED: _finish,
}


async def advance(session: AsyncSession, ctx: Context) -> None:
    """Move on while the current stage's work is complete (FINISHED and SUSPENDED stay)."""
    while (work := STAGE_WORK.get(Stage(ctx.ev.stage))) is not None:
        if not await work.complete(session, ctx):
            return
        if work.close is not None:
            await work.close(session, ctx)
        await move(session, ctx, await work.next_stage(session, ctx))


async def move(session: AsyncSession, ctx: Context, to: Stage, **detail: Any) -> None:
    """The one setter of a session's stage: an allowed move, its entry, then the new
    stage's entry work. ``detail`` goes into the entry (why, e.g. a re-score)."""
    current = Stage(ctx.ev.stage)
    if to not in ALLOWED_STAGE_MOVES[current]:
        raise StageMoveRefused(f"evaluation session {ctx.session_id}: no move from {current} to {to}")
    ctx.ev.stage, ctx.ev.updated_at = to.value, utcnow()
    session.add(ctx.ev)
    await session.flush()
    await record(session, None, ctx.session_id, events.STAGE_CHANGED, {"from": current.value, "to": to.value,
                                                                       **detail})
    enter = ON_ENTER.get(to)
    if enter is not None:
        await enter(session, ctx)

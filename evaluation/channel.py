"""The session's live channel, below the websocket: who may follow it, and applying one
client message.

:func:`join` decides, at connect, what kind of viewer the actor is (oversight, a member,
centre staff, a bidder of the lot) and refuses everyone else; the returned
:class:`Viewer` filters every entry sent to it (``evaluation.views``). :func:`act` applies
one message in the caller's transaction: the session row is locked first, so two messages
of one session never interleave, then the message kind's handler runs and the stage
machine moves the session on if the message completed a stage. A refused message raises
and the transaction rolls back: the session is unchanged.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from core.usecases import use_case
from evaluation import stages, views
from evaluation.context import (
    COMPOSITIONS,
    RECORDED,
    Context,
    EvaluationServices,
    Recorded,
    lock_session,
)
from evaluation.events import session_stream
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession
from evaluation.states import MemberStatus, Stage
from supervision import live

OVERSIGHT_ROLES = frozenset({Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
FOLLOWERS = frozenset({Role.EXPERT, Role.CENTER_STAFF, Role.BIDDER}) | OVERSIGHT_ROLES
ACTORS = frozenset({Role.EXPERT, Role.CENTER_STAFF, Role.BIDDER})
READS_COMPOSITION = frozenset({"score", "confirm_score", "request_rescore"})
"""Message kinds that only read the committee and the bids: in detailed scoring they take
them from the process's cache, checked against the session's stream (``context.Compositions``)."""

Handler = Callable[[AsyncSession, Context, dict[str, Any]], Awaitable[dict[str, Any]]]

# Message kind -> (module, handler); modules are imported on first use.
HANDLERS: dict[str, tuple[str, str]] = {
    "sign_in": ("evaluation.members", "handle_sign_in"),
    "staff_check_in": ("evaluation.members", "handle_staff_check_in"),
    "confirm_identity": ("evaluation.members", "handle_confirm_identity"),
    "declare": ("evaluation.members", "handle_declare"),
    "recuse": ("evaluation.members", "handle_recuse"),
    "vote_chair": ("evaluation.members", "handle_vote_chair"),
    "review": ("evaluation.review", "handle_review"),
    "ask_clarification": ("evaluation.clarifications", "handle_ask"),
    "answer_clarification": ("evaluation.clarifications", "handle_answer"),
    "score": ("evaluation.scoring", "handle_score"),
    "confirm_score": ("evaluation.scoring", "handle_confirm_score"),
    "request_rescore": ("evaluation.scoring", "handle_request_rescore"),
    "accept_results": ("evaluation.results", "handle_accept"),
    "dissent": ("evaluation.results", "handle_dissent"),
    "sign_report": ("evaluation.signing", "handle_sign"),
}


@dataclass(frozen=True)
class Viewer:
    """One follower of a session: what it is to the session decides what it sees."""

    session_id: int
    kind: str                      # views.OVERSIGHT, MEMBER, STAFF or BIDDER
    member_id: int | None = None
    party_id: int | None = None

    def visible(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        return views.visible(self.kind, entry, member_id=self.member_id, party_id=self.party_id)

    def audience(self, entry: dict[str, Any]) -> tuple[Any, ...]:
        """Viewers of one audience see the same of ``entry`` (``views.audience``)."""
        return views.audience(self.kind, entry, member_id=self.member_id, party_id=self.party_id)


@use_case("evaluation.follow", FOLLOWERS)
async def join(session: AsyncSession, actor: Actor, session_id: int) -> Viewer:
    """The viewer ``actor`` is in session ``session_id``; refused for anyone with no part in it."""
    ev = await get_session_row(session, session_id)
    return await viewer_of(session, actor, ev)


async def viewer_of(session: AsyncSession, actor: Actor, ev: EvaluationSession) -> Viewer:
    session_id: int = ev.id  # type: ignore[assignment]
    if actor.has_any(OVERSIGHT_ROLES):
        return Viewer(session_id, views.OVERSIGHT)
    if actor.has_any({Role.EXPERT}):
        member = await member_for(session, session_id, actor)
        if member is not None and member.status != MemberStatus.RECUSED:
            return Viewer(session_id, views.MEMBER, member_id=member.id)
    if actor.has_any({Role.CENTER_STAFF}):
        return Viewer(session_id, views.STAFF)
    if actor.has_any({Role.BIDDER}) and actor.party_id is not None:
        if await _bids_in_session(session, session_id, actor.party_id):
            return Viewer(session_id, views.BIDDER, party_id=actor.party_id)
        raise PermissionDenied(f"evaluation session {session_id} evaluates another lot: your organisation has no "
                               "bid in it")
    if actor.has_any({Role.EXPERT}):
        raise PermissionDenied(f"you are not a member of the committee of evaluation session {session_id}")
    raise PermissionDenied(f"evaluation session {session_id} is followed by its committee, centre staff, "
                           "the lot's bidders and oversight only")


@use_case("evaluation.act", ACTORS)
async def act(session: AsyncSession, actor: Actor, session_id: int, kind: str, fields: dict[str, Any],
              services: EvaluationServices) -> dict[str, Any]:
    """Apply one channel message; returns the handler's (JSON-able) result."""
    handler = _handler(kind)
    if not isinstance(fields, dict):
        raise InvalidInput("the message's fields form a JSON object", [FieldError("$", "expected an object")])
    ev = await get_session_row(session, session_id, lock=True)
    composition = None
    if kind in READS_COMPOSITION and ev.stage == Stage.DETAILED_SCORING:
        composition = await COMPOSITIONS.load(session, session_id)
        member: Any = composition.seat_of(actor.user_id) if actor.has_any({Role.EXPERT}) else None
    else:
        member = await member_for(session, session_id, actor) if actor.has_any({Role.EXPERT}) else None
    if member is None and not actor.has_any({Role.CENTER_STAFF}):
        await viewer_of(session, actor, ev)  # a stranger is refused here, whatever the message
    ctx = Context(ev=ev, services=services, actor=actor, member=member, composition=composition)
    recorded: Recorded = []
    session.info[RECORDED] = recorded
    try:
        result = await handler(session, ctx, fields)
        await stages.advance(session, ctx)
    finally:
        session.info.pop(RECORDED, None)
    if composition is not None:
        COMPOSITIONS.after_message(session, session_id, composition, recorded)
        # The stream's last entry was read under the lock every writer of it holds: what
        # this message recorded is every entry after it, so followers here take them as is.
        live.publish(session, session_stream(session_id), composition.seq,
                     [json.loads(entry.leaf) for recorded_for, entry in recorded if recorded_for == session_id])
    else:  # the composition may have changed: a cached copy is not trusted even before the check
        COMPOSITIONS.forget(session, session_id)
    return result


def _handler(kind: object) -> Handler:
    if not isinstance(kind, str) or kind not in HANDLERS:
        known = ", ".join(HANDLERS)
        raise InvalidInput(f"unknown message type {kind!r}; the session knows: {known}",
                           [FieldError("$.type", f"one of {known}")])
    module, name = HANDLERS[kind]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


async def get_session_row(session: AsyncSession, session_id: int, *, lock: bool = False) -> EvaluationSession:
    ev = await lock_session(session, session_id) if lock else await session.scalar(
        sa.select(EvaluationSession).where(EvaluationSession.id == session_id))
    if ev is None:
        raise NotFound(f"evaluation session {session_id} does not exist")
    return ev




async def member_for(session: AsyncSession, session_id: int, actor: Actor) -> CommitteeMember | None:
    """The actor's seat in the session (a working seat before a recused one)."""
    if actor.user_id is None:
        return None
    seats = list(await session.scalars(sa.select(CommitteeMember).where(
        CommitteeMember.session_id == session_id, CommitteeMember.user_id == actor.user_id)))
    seats.sort(key=lambda m: m.status == MemberStatus.RECUSED)
    return seats[0] if seats else None


async def _bids_in_session(session: AsyncSession, session_id: int, party_id: int) -> bool:
    found = await session.scalar(sa.select(EvaluatedBid.id).where(
        EvaluatedBid.session_id == session_id, EvaluatedBid.party_id == party_id).limit(1))
    return found is not None

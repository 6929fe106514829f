"""What every step of a session works with: the session row, the platform services, and
the acting member (if the actor is one); and the checks every step repeats.

The live channel builds a :class:`Context` per message (the session row locked for the
message's transaction), so two messages of one session never interleave their checks
and writes.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.revocation import RevocationSource
from core.actors import Actor
from core.blobs import BlobStore
from core.database import after_commit
from core.errors import Conflict, NotFound, PermissionDenied
from evaluation import events
from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession
from evaluation.states import MemberStatus, Stage
from supervision.ledger.append import AppendedEntry
from supervision.ledger.models import LedgerEntry


@dataclass(frozen=True)
class EvaluationServices:
    """Platform services a session step may need (from ``web.runtime.Runtime``)."""

    blobs: BlobStore
    revocation: RevocationSource


@dataclass
class Context:
    ev: EvaluationSession
    services: EvaluationServices
    actor: Actor
    member: CommitteeMember | Seat | None = None
    composition: Composition | None = None
    """The committee and the bids, when the message kind reads them from the process's
    cache (:data:`COMPOSITIONS`) rather than from the database."""
    memo: dict[str, Any] = field(default_factory=dict)
    """What a step already loaded in this message's transaction, for the stage check that
    follows it (e.g. the scores table after a score), so it is not queried twice."""

    @property
    def session_id(self) -> int:
        return self.ev.id  # type: ignore[return-value]

    def require_stage(self, *stages: Stage, doing: str) -> None:
        """A message for another stage changes nothing and says which stage it is."""
        if self.ev.stage not in stages:
            wanted = " or ".join(stages)
            raise WrongStage(f"{doing} belongs to the {wanted} stage; the session is in {self.ev.stage}")

    def require_member(self, *statuses: MemberStatus, doing: str) -> Any:
        if self.member is None:
            raise PermissionDenied(f"{doing} is for members of this evaluation committee only")
        if statuses and self.member.status not in statuses:
            wanted = " or ".join(statuses)
            raise Conflict(f"{doing} needs a member who is {wanted}; seat {self.member.seat} is {self.member.status}")
        return self.member

    def require_active_member(self, doing: str) -> Any:
        return self.require_member(MemberStatus.ACTIVE, doing=doing)

    def require_chair(self, doing: str) -> Any:
        member = self.require_active_member(doing)
        if self.ev.chair_member_id != member.id:
            raise PermissionDenied(f"{doing} is for the chair of the committee")
        return member


class WrongStage(Conflict):
    code = "evaluation-wrong-stage"
    title = "The message belongs to another stage of the session"


# --- the committee and the bids of a running session, kept per process -------------------------


@dataclass(frozen=True)
class Seat:
    """What a scoring step reads of a committee member (a snapshot, never written back)."""

    id: int
    seat: int
    status: str
    user_id: int | None


@dataclass(frozen=True)
class BidUnderEvaluation:
    """What a scoring step reads of an evaluated bid."""

    id: int
    bid_id: int
    review_passed: bool | None


@dataclass(frozen=True)
class Composition:
    """The committee (every seat, by seat number) and the bids (by id) of one session, as
    of the session stream's entry ``seq`` (whose leaf hash is ``leaf_hash``)."""

    seq: int
    leaf_hash: bytes | None
    seats: tuple[Seat, ...]
    bids: tuple[BidUnderEvaluation, ...]

    def active(self) -> list[Seat]:
        return [seat for seat in self.seats if seat.status == MemberStatus.ACTIVE]

    def seat_of(self, user_id: int | None) -> Seat | None:
        """The user's seat, a working one before a recused one (as ``channel.member_for``)."""
        if user_id is None:
            return None
        mine = sorted((seat for seat in self.seats if seat.user_id == user_id),
                      key=lambda seat: seat.status == MemberStatus.RECUSED)
        return mine[0] if mine else None

    def bid(self, session_id: int, bid_id: int) -> BidUnderEvaluation:
        for bid in self.bids:
            if bid.bid_id == bid_id:
                return bid
        raise NotFound(f"bid {bid_id} is not under evaluation in session {session_id}")


KEEPS_COMPOSITION: Final = frozenset({events.BID_SCORED, events.SCORE_FLAGGED, events.SCORE_CONFIRMED,
                                      events.RESCORE_REQUESTED})
"""Entries that change neither the committee nor the bids: after a message that recorded
only these, the cached composition still holds at its last entry."""
RECORDED: Final = "evaluation.recorded"
"""``session.info`` key of the (session id, appended entry) of the entries a message
records (``record.record``)."""
Recorded = list[tuple[int, AppendedEntry]]


class Compositions:
    """The committee and bids of the sessions this process has scored lately.

    Scoring reads them on every message; they change only by a recusal, a replacement, a
    sign-in or a review, and every such change is recorded on the session's stream in the
    transaction that makes it, under the session's row lock (``channel.act``,
    ``committee_hook``). So a cached composition is used only when the stream's last
    entry, read inside the message's transaction after the lock, is still the one it was
    valid at (same sequence number, same leaf hash): any change by any process since
    (another server, the worker) appended a later entry, and the composition is read again
    from the database. A message that records only :data:`KEEPS_COMPOSITION` entries moves
    the cached copy on to its own last entry once it has committed; any other entry drops
    it. Copies are kept per database engine, never shared between two databases.
    """

    def __init__(self, kept: int = 2000) -> None:
        self.kept = kept
        self._by_session: OrderedDict[tuple[int, int], tuple[weakref.ref[Any], Composition]] = OrderedDict()

    @staticmethod
    def _key(session: AsyncSession, session_id: int) -> tuple[int, int]:
        return (id(session.bind), session_id)

    def _cached(self, session: AsyncSession, session_id: int) -> Composition | None:
        held = self._by_session.get(self._key(session, session_id))
        if held is None or held[0]() is not session.bind:  # another engine at a reused address
            return None
        return held[1]

    async def load(self, session: AsyncSession, session_id: int) -> Composition:
        """The session's composition, valid now (call with the session row locked)."""
        seq, leaf_hash = await last_entry(session, session_id)
        cached = self._cached(session, session_id)
        if cached is not None and (cached.seq, cached.leaf_hash) == (seq, leaf_hash):
            self._by_session.move_to_end(self._key(session, session_id))
            return cached
        return await read_composition(session, session_id, seq, leaf_hash)

    def after_message(self, session: AsyncSession, session_id: int, used: Composition, recorded: Recorded) -> None:
        """Keep ``used`` for the next message once this one commits, if what it recorded
        leaves the committee and bids as they were; forget the session otherwise."""
        own = [(entry.type, entry.seq, entry.leaf_hash) for recorded_for, entry in recorded
               if recorded_for == session_id]
        if any(event_type not in KEEPS_COMPOSITION for event_type, _, _ in own):
            self.forget(session, session_id)
            return
        moved = used
        if own:
            _, seq, leaf_hash = max(own, key=lambda item: item[1])
            moved = Composition(seq, leaf_hash, used.seats, used.bids)
        key, engine = self._key(session, session_id), weakref.ref(session.bind)

        async def keep() -> None:
            current = self._by_session.get(key)
            if current is None or current[0]() is not engine() or current[1].seq < moved.seq:
                self._by_session[key] = (engine, moved)  # (a later message's copy stays)
                self._by_session.move_to_end(key)
                if len(self._by_session) > self.kept:
                    self._by_session.popitem(last=False)

        after_commit(session, keep)

    def forget(self, session: AsyncSession, session_id: int) -> None:
        self._by_session.pop(self._key(session, session_id), None)


COMPOSITIONS: Final = Compositions()


async def last_entry(session: AsyncSession, session_id: int) -> tuple[int, bytes | None]:
    """The sequence number and leaf hash of the last entry of the session's stream."""
    table = LedgerEntry.__table__
    row = (await session.execute(sa.select(table.c.seq, table.c.leaf_hash).where(
        table.c.stream == events.session_stream(session_id)).order_by(table.c.seq.desc()).limit(1))).first()
    return (-1, None) if row is None else (int(row[0]), bytes(row[1]))


async def read_composition(session: AsyncSession, session_id: int, seq: int, leaf_hash: bytes | None) -> Composition:
    members = CommitteeMember.__table__
    bids = EvaluatedBid.__table__
    seats = await session.execute(sa.select(members.c.id, members.c.seat, members.c.status, members.c.user_id)
                                  .where(members.c.session_id == session_id).order_by(members.c.seat))
    evaluated = await session.execute(sa.select(bids.c.id, bids.c.bid_id, bids.c.review_passed)
                                      .where(bids.c.session_id == session_id).order_by(bids.c.id))
    return Composition(seq, leaf_hash, tuple(Seat(*row) for row in seats),
                       tuple(BidUnderEvaluation(*row) for row in evaluated))


# --- the session row's lock ----------------------------------------------------------------------

_LOCKED: Final = "evaluation.locked_sessions"


def _locks(session: AsyncSession) -> dict[int, EvaluationSession | None]:
    """The sessions whose rows this transaction has locked (the row, when it was loaded)."""
    transaction = session.sync_session.get_transaction()
    held: tuple[Any, dict[int, EvaluationSession | None]] | None = session.info.get(_LOCKED)
    if held is None or transaction is None or held[0] is not transaction:
        return {}
    return held[1]


def _remember_lock(session: AsyncSession, session_id: int, ev: EvaluationSession | None) -> None:
    transaction = session.sync_session.get_transaction()  # begun by the locking statement
    held: tuple[Any, dict[int, EvaluationSession | None]] | None = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[_LOCKED] = held
    held[1][session_id] = ev


async def lock_session(session: AsyncSession, session_id: int) -> EvaluationSession | None:
    """The session row, locked until the transaction ends and read fresh once the lock is
    held (None if there is no such session). Locking it again in the same transaction
    costs no statement: the row is locked and loaded already."""
    loaded = _locks(session).get(session_id)
    if loaded is not None:
        return loaded
    ev = await session.scalar(sa.select(EvaluationSession).where(EvaluationSession.id == session_id)
                              .with_for_update().execution_options(populate_existing=True))
    if ev is not None:
        _remember_lock(session, session_id, ev)
    return ev


async def hold_session_lock(session: AsyncSession, session_id: int) -> None:
    """Lock the session row for the rest of the transaction, if it is not locked already.

    Every writer of a session's stream holds this lock (``record.record`` makes sure), so
    whoever holds it knows that the stream's entries after its last one are its own."""
    if session_id in _locks(session):
        return
    table = EvaluationSession.__table__
    await session.execute(sa.select(table.c.id).where(table.c.id == session_id).with_for_update())
    _remember_lock(session, session_id, None)

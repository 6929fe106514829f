"""The live feed: follow a ledger stream from a sequence number, entry by entry, for ever.

Openings, evaluation sessions, auctions and the regulators' feed are live channels over
ledger streams (DESIGN.md "Live sessions"). A follower asks for every entry of a stream
from a sequence number on and receives them in order; after a reconnect it asks again
from the number after its last one and misses nothing, because sequence numbers follow
commit order (``ledger.append.reserve_sequence`` holds the counter's row lock until
commit), so nothing can later appear below a number already seen.

Waking followers up
===================

Followers read the ledger table; they only need to know *when* to look again:

* every append announces its stream (``ledger.append`` calls :func:`claim`; older callers
  of :func:`announce` are harmless: a stream is announced once per transaction);
* in process, the followers of an announced stream, and those of the whole ledger
  (:func:`follow_all`), are woken once the transaction has committed
  (``core.database.after_commit``): a rolled-back change wakes nobody;
* across processes on PostgreSQL, the transaction sends ``NOTIFY bidhall_ledger,
  '<stream>'`` once per stream (PostgreSQL delivers it at commit, drops it on rollback),
  and each process following anything keeps one ``LISTEN`` connection that turns each
  notification into wake-ups of that stream and of the whole ledger;
* and whatever is missed (a dropped LISTEN connection, SQLite shared by several
  processes, a session committed outside ``Database.transaction``) is caught by a short poll.

Supervision knows no domain: which entries a follower may see, and how they are shown to
it, is the ``visible`` function the domain passes in.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import inspect
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.database import Database, after_commit
from supervision.ledger.models import LedgerEntry

log = logging.getLogger("bidhall.live")

CHANNEL: Final = "bidhall_ledger"
"""The PostgreSQL notification channel; the payload is the stream name."""
POLL_INTERVAL: Final = 1.0
"""Seconds a follower waits for a wake-up before it looks anyway."""
BATCH: Final = 500
"""Entries read per query."""

Entry = dict[str, Any]
Visible = Callable[[Entry], Entry | None]
AsyncVisible = Callable[[Entry], Awaitable[Entry | None]]


class _Wakeups:
    """In-process wake-ups per stream: a follower takes a waiter *before* it reads, so an
    entry committed between its read and its wait still wakes it."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._generations: dict[str, int] = {}

    def generation(self, stream: str) -> int:
        """How many wake-ups ``stream`` has had in this process (see :class:`_SharedTail`)."""
        return self._generations.get(stream, 0)

    def waiter(self, stream: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(stream, set()).add(future)
        return future

    def discard(self, stream: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiters.get(stream)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiters[stream]

    def wake(self, stream: str) -> None:
        self._generations[stream] = self._generations.get(stream, 0) + 1
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for future in self._waiters.pop(stream, set()):
            if future.done():
                continue
            loop = future.get_loop()
            if loop is running:  # the usual case: no self-pipe write per follower
                loop.call_soon(_resolve, future)
            else:
                loop.call_soon_threadsafe(_resolve, future)

    def followers(self, stream: str) -> int:
        return len(self._waiters.get(stream, ()))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


WAKEUPS: Final = _Wakeups()
ALL: Final = "*"
"""The wake-up key of the whole ledger (no stream name is without a colon)."""


def wake(stream: str) -> None:
    """Wake this process's followers of ``stream``, and those of the whole ledger, now
    (they re-read the ledger)."""
    WAKEUPS.wake(stream)
    WAKEUPS.wake(ALL)


class _Announcement:
    """The streams one transaction has announced; woken together once it commits."""

    def __init__(self, transaction: object | None) -> None:
        self.transaction = transaction
        self.streams: set[str] = set()

    async def wake(self) -> None:
        for stream in self.streams:
            WAKEUPS.wake(stream)
        WAKEUPS.wake(ALL)  # once per transaction, however many streams it touched


_ANNOUNCEMENT_KEY: Final = "live_announcement"


def claim(session: AsyncSession, stream: str) -> bool:
    """Mark ``stream`` as announced by the session's current transaction; True the first
    time (the caller then sends the NOTIFY), False after.

    Local followers are woken after commit whatever the answer. The mark belongs to the
    transaction, not the session: a session that commits and goes on announces again.
    """
    transaction = session.sync_session.get_transaction()  # None before the first statement
    announcement: _Announcement | None = session.info.get(_ANNOUNCEMENT_KEY)
    if announcement is None or transaction is None or announcement.transaction is not transaction:
        announcement = _Announcement(transaction)
        session.info[_ANNOUNCEMENT_KEY] = announcement
        after_commit(session, announcement.wake)
    if stream in announcement.streams:
        return False
    announcement.streams.add(stream)
    return True


def bind_claims(session: AsyncSession) -> None:
    """Tie the announcement made before the transaction's first statement to it."""
    announcement: _Announcement | None = session.info.get(_ANNOUNCEMENT_KEY)
    if announcement is not None and announcement.transaction is None:
        announcement.transaction = session.sync_session.get_transaction()


def notify_clause(session: AsyncSession, stream: str) -> sa.ColumnElement[Any] | None:
    """``pg_notify(channel, stream)`` to put in a statement the transaction runs anyway,
    on PostgreSQL; None elsewhere."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return sa.func.pg_notify(CHANNEL, stream)
    return None


async def announce(session: AsyncSession, stream: str) -> None:
    """Say that this transaction appended to ``stream``: its followers are woken when it
    commits (in this process, and on PostgreSQL in every process by NOTIFY).

    Every ``ledger.append`` already does this; a second announcement of a stream in the
    same transaction does nothing.
    """
    if not claim(session, stream):
        return
    clause = notify_clause(session, stream)
    if clause is not None:
        await session.execute(sa.select(clause))
    bind_claims(session)


class _Listener:
    """One LISTEN connection per database URL in this process, opened on first need and
    reopened when it drops; its notifications become in-process wake-ups."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, int], Any] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def ensure(self, database: Database) -> None:
        if not database.is_postgres:
            return
        # Per event loop too: an asyncpg connection belongs to the loop that opened it.
        key = (database.engine.url.render_as_string(hide_password=False), id(asyncio.get_running_loop()))
        connection = self._connections.get(key)
        if connection is not None and not connection.is_closed():
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            connection = self._connections.get(key)
            if connection is not None and not connection.is_closed():
                return
            try:
                self._connections[key] = await _listen(database)
            except Exception as error:  # noqa: BLE001 - asyncpg's own errors; polling still works
                log.warning("live feed: cannot LISTEN on %s (%s); polling only", CHANNEL, error)

    async def close(self) -> None:
        loop = id(asyncio.get_running_loop())
        mine = [key for key in self._connections if key[1] == loop]
        for key in mine:
            connection = self._connections.pop(key)
            with contextlib.suppress(Exception):
                await connection.close()


async def _listen(database: Database) -> Any:
    import asyncpg

    url = database.engine.url
    connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                       password=url.password, database=url.database, timeout=10)

    def notified(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        wake(payload)  # the stream's followers and the whole ledger's

    await connection.add_listener(CHANNEL, notified)
    return connection


LISTENER: Final = _Listener()


async def stop_listening() -> None:
    """Close this process's LISTEN connections (at shutdown, or the end of a test run)."""
    await LISTENER.close()


async def read_entries(database: Database, stream: str, from_seq: int, *, limit: int = BATCH) -> list[Entry]:
    """The entries of ``stream`` with sequence numbers ``>= from_seq``, in order."""
    table = LedgerEntry.__table__
    query = (sa.select(table.c.leaf).where(table.c.stream == stream, table.c.seq >= from_seq)
             .order_by(table.c.seq).limit(limit))
    async with database.reader() as session:
        rows = (await session.execute(query)).scalars().all()
    return [json.loads(leaf) for leaf in rows]


async def read_all_entries(database: Database, from_seq: int, *, limit: int = BATCH) -> list[Entry]:
    """The entries of the whole ledger with sequence numbers ``>= from_seq``, in order."""
    table = LedgerEntry.__table__
    query = sa.select(table.c.leaf).where(table.c.seq >= from_seq).order_by(table.c.seq).limit(limit)
    async with database.reader() as session:
        rows = (await session.execute(query)).scalars().all()
    return [json.loads(leaf) for leaf in rows]


async def _read(database: Database, key: str, from_seq: int) -> list[Entry]:
    # Looked up at call time, so a test can count the reads of either kind.
    if key == ALL:
        return await read_all_entries(database, from_seq)
    return await read_entries(database, key, from_seq)


class _SharedTail:
    """The latest entries of one stream (or of the whole ledger), shared by this process's
    followers of it.

    Without it, one wake-up makes every follower of the stream run the same query; a
    session of ten people would query ten times per message. Here the first follower to
    look after a wake-up reads the new entries and keeps them; the others take them from
    memory. A read is reused only if it *began* after the wake-up the follower is
    answering (wake-ups come after commit, so such a read saw the entry); a follower whose
    wait timed out (an appender that does not announce) always queries.
    """

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.start = -1  # every entry of the stream with start <= seq < end is in ``entries``
        self.end = -1
        self.read_generation = -1
        self.read_at = -math.inf  # monotonic time the last query of this tail began
        self.lock = asyncio.Lock()
        self.followers = 0

    async def read(self, database: Database, stream: str, position: int, generation: int, *,
                   force: bool, poll_interval: float) -> list[Entry]:
        async with self.lock:
            if self.start < 0 or position < self.start:  # first reader, or one catching up from far back
                entries = await _read(database, stream, position)
                if self.start < 0 or not self.entries:
                    self._reset(position, entries)
                return entries
            # A follower whose wait timed out looks at the ledger unless another follower
            # did so during the last poll interval: the poll is per stream, not per follower.
            stale = force and time.monotonic() - self.read_at >= poll_interval
            if stale or self.read_generation < generation:
                await self._read_more(database, stream)
            index = bisect.bisect_left(self.entries, position, key=_seq)
            return self.entries[index:index + BATCH]

    def _reset(self, position: int, entries: list[Entry]) -> None:
        self.entries = list(entries)
        self.start = position
        self.end = int(entries[-1]["seq"]) + 1 if entries else position
        if len(entries) == BATCH:  # there may be more: the next reader queries again
            self.read_generation = -1

    async def _read_more(self, database: Database, stream: str) -> None:
        began = WAKEUPS.generation(stream)
        self.read_at = time.monotonic()
        new = await _read(database, stream, self.end)
        if new:
            self.entries.extend(new)
            self.end = int(new[-1]["seq"]) + 1
        self.read_generation = began if len(new) < BATCH else -1
        if len(self.entries) > TAIL_KEPT:
            del self.entries[:len(self.entries) - TAIL_KEPT]
            self.start = int(self.entries[0]["seq"])


def _seq(entry: Entry) -> int:
    return int(entry["seq"])


TAIL_KEPT: Final = 2 * BATCH
"""Entries kept per followed stream; a follower further behind reads the ledger itself."""
_TAILS: dict[tuple[int, int, str], _SharedTail] = {}


@contextlib.contextmanager
def _shared_tail(database: Database, stream: str) -> Iterator[_SharedTail]:
    # Per event loop too: the tail's lock belongs to the loop that uses it.
    key = (id(database), id(asyncio.get_running_loop()), stream)
    tail = _TAILS.get(key)
    if tail is None:
        tail = _TAILS[key] = _SharedTail()
    tail.followers += 1
    try:
        yield tail
    finally:
        tail.followers -= 1
        if tail.followers == 0 and _TAILS.get(key) is tail:
            del _TAILS[key]


async def follow(
    database: Database,
    stream: str,
    from_seq: int = 0,
    *,
    visible: Visible | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> AsyncIterator[Entry]:
    """Every entry of ``stream`` from ``from_seq`` on, in order, then each new one as it
    is committed; never ends by itself (the consumer stops iterating).

    ``visible(entry)`` returns what this follower may see of an entry (the entry, a
    redacted copy) or None to skip it; skipped entries still advance the position.
    """
    async for entry in _follow(database, stream, from_seq, visible, poll_interval):
        yield entry


async def follow_all(
    database: Database,
    from_seq: int = 0,
    *,
    visible: Visible | AsyncVisible | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> AsyncIterator[Entry]:
    """Every entry of the whole ledger from ``from_seq`` on, in order, then each new one
    as it is committed, whatever its stream; never ends by itself.

    Resume after a disconnect from the last ``seq`` seen + 1. ``visible`` is as for
    :func:`follow`, and may be a coroutine function (deciding may need the database,
    e.g. a stream's scope). The followers of this process share their reads and their poll.
    """
    async for entry in _follow(database, ALL, from_seq, visible, poll_interval):
        yield entry


async def _follow(database: Database, key: str, from_seq: int, visible: Visible | AsyncVisible | None,
                  poll_interval: float) -> AsyncIterator[Entry]:
    await LISTENER.ensure(database)
    position = max(0, from_seq)
    force = True  # the first read always looks at the ledger
    with _shared_tail(database, key) as tail:
        while True:
            waiter = WAKEUPS.waiter(key)
            try:
                entries = await tail.read(database, key, position, WAKEUPS.generation(key), force=force,
                                          poll_interval=poll_interval)
                force = False
                for entry in entries:
                    position = int(entry["seq"]) + 1
                    shown = entry if visible is None else visible(entry)
                    if inspect.isawaitable(shown):
                        shown = await shown
                    if shown is not None:
                        yield shown
                if len(entries) < BATCH:
                    try:
                        await asyncio.wait_for(asyncio.shield(waiter), poll_interval)
                    except asyncio.TimeoutError:
                        force = True  # nobody woke us: look at the ledger ourselves
            finally:
                WAKEUPS.discard(key, waiter)

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
  notification into wake-ups of that stream and of the whole ledger; a notification
  sent by one of the process's own connections is not turned into a second wake-up (the
  commit woke the followers already, and a second wake-up is a second read);
* and whatever is missed (a dropped LISTEN connection, SQLite shared by several
  processes, a session committed outside ``Database.transaction``) is caught by a short
  poll: one query per poll interval for the whole process (:class:`_Poller`), which asks
  which streams have entries past those already checked and wakes the followers of any
  that has an entry its followers have not read. Followers never poll by themselves: a
  thousand idle connections cost nothing between wake-ups.

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
import weakref
from collections import Counter
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

    def nudge(self, stream: str) -> None:
        """Resolve the waiters of ``stream`` without counting a wake-up: what they need is
        already in memory (see :meth:`_SharedTail._extended`), no new read is due."""
        for future in self._waiters.pop(stream, set()):
            if not future.done():
                future.get_loop().call_soon(_resolve, future)

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

    def __init__(self, transaction: object | None, bind: Any = None) -> None:
        self.transaction = transaction
        self.bind = bind
        self.streams: set[str] = set()
        self.published: dict[str, tuple[int, list[Entry]]] = {}

    async def wake(self) -> None:
        for stream in self.streams:
            offered = self.published.get(stream)
            if offered is not None and _handed_over(self.bind, stream, *offered):
                WAKEUPS.nudge(stream)  # every follower has them in memory: nothing to read
            else:
                WAKEUPS.wake(stream)
        WAKEUPS.wake(ALL)  # once per transaction, however many streams it touched


def publish(session: AsyncSession, stream: str, after_seq: int, entries: list[Entry]) -> None:
    """Hand the entries this transaction appended to ``stream`` to the process's followers
    when it commits, so that they need not read them back from the ledger.

    The caller vouches that ``entries`` will be *every* entry of ``stream`` after
    ``after_seq`` at commit (it holds what serialises the stream's writers, e.g. a row
    lock every writer takes, since before it learnt ``after_seq``). A shared tail that has
    read the stream past ``after_seq`` and is not reading takes them and its followers are
    nudged; if any tail of the stream cannot, its followers are woken and read as usual.
    Call after the appends (``ledger.append`` announces the stream).
    """
    announcement: _Announcement | None = session.info.get(_ANNOUNCEMENT_KEY)
    if announcement is None or stream not in announcement.streams or not entries:
        return
    earlier = announcement.published.get(stream)
    if earlier is not None:
        after_seq, entries = earlier[0], [*earlier[1], *entries]
    announcement.published[stream] = (after_seq, entries)


def _handed_over(bind: Any, stream: str, after_seq: int, entries: list[Entry]) -> bool:
    """Whether every tail of ``stream`` in this process now holds ``entries``."""
    tails = [tail for (_, _, key), tail in list(_TAILS.items()) if key == stream]
    if not tails:
        return False  # nobody to hand them to: a plain wake-up costs nothing
    loop = asyncio.get_running_loop()
    return all(tail.loop is loop and tail.engine is bind and tail.accept(after_seq, entries) for tail in tails)


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
        announcement = _Announcement(transaction, session.bind)
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

    def notified(_connection: Any, pid: int, _channel: str, payload: str) -> None:
        if pid in _OWN_BACKENDS:  # this process committed it, and woke its followers then
            return
        wake(payload)  # the stream's followers and the whole ledger's

    _track_own_backends(database)
    await connection.add_listener(CHANNEL, notified)
    return connection


_OWN_BACKENDS: set[int] = set()
"""PostgreSQL backend process ids of this process's pooled connections. Should a commit
through one of them not wake the followers itself (a session committed outside
``Database.transaction``), the poll still finds its entries."""
_TRACKED_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()


def _track_own_backends(database: Database) -> None:
    from sqlalchemy import event

    engine = database.engine.sync_engine
    if engine in _TRACKED_ENGINES:
        return
    _TRACKED_ENGINES.add(engine)

    def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pid = _backend_pid(dbapi_connection)
        if pid is not None:
            _OWN_BACKENDS.add(pid)

    def closed(dbapi_connection: Any, _record: Any = None) -> None:
        pid = _backend_pid(dbapi_connection)
        if pid is not None:
            _OWN_BACKENDS.discard(pid)

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "close", closed)
    event.listen(engine, "close_detached", closed)


def _backend_pid(dbapi_connection: Any) -> int | None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    get_pid = getattr(driver, "get_server_pid", None)
    return int(get_pid()) if get_pid is not None else None


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
    answering (wake-ups come after commit, so such a read saw the entry). Whenever a read
    brings entries the followers waiting on this tail have not had (a new follower's first
    read may find what no wake-up announced yet), they are nudged to take them.
    """

    def __init__(self, engine: Any = None, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.engine = engine
        self.loop = loop
        self.entries: list[Entry] = []
        self.start = -1  # every entry of the stream with start <= seq < end is in ``entries``
        self.end = -1
        self.read_generation = -1
        self.read_at = -math.inf  # monotonic time the last query of this tail began
        self.lock = asyncio.Lock()
        self.followers = 0
        self.intervals: Counter[float] = Counter()  # the followers' poll intervals

    async def read(self, database: Database, stream: str, position: int, generation: int, *,
                   force: bool, poll_interval: float) -> list[Entry]:
        async with self.lock:
            if self.start < 0 or position < self.start:  # first reader, or one catching up from far back
                entries = await _read(database, stream, position)
                if self.start < 0 or not self.entries:
                    self._reset(position, entries)
                    self._extended(stream, bool(entries))
                return entries
            # A new follower looks at the ledger itself unless another one did during the
            # last poll interval; after that, the wake-ups and the poller tell it when.
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
        self._extended(stream, bool(new))

    def accept(self, after_seq: int, entries: list[Entry]) -> bool:
        """Take committed entries that are every entry of the stream after ``after_seq``
        (see :func:`publish`); False when this tail cannot vouch for what lies before them."""
        if self.lock.locked() or self.start < 0 or self.end <= after_seq:
            return False  # a read in flight would add them again; or a gap before them
        new = [entry for entry in entries if int(entry["seq"]) >= self.end]
        if new:
            self.entries.extend(new)
            self.end = int(new[-1]["seq"]) + 1
            if len(self.entries) > TAIL_KEPT:
                del self.entries[:len(self.entries) - TAIL_KEPT]
                self.start = int(self.entries[0]["seq"])
        return True

    @staticmethod
    def _extended(stream: str, grew: bool) -> None:
        if grew:  # followers already waiting would otherwise wait for the next wake-up
            WAKEUPS.nudge(stream)

    def poll_interval(self) -> float:
        return min(self.intervals) if self.intervals else math.inf


def _seq(entry: Entry) -> int:
    return int(entry["seq"])


TAIL_KEPT: Final = 2 * BATCH
"""Entries kept per followed stream; a follower further behind reads the ledger itself."""
_TAILS: dict[tuple[int, int, str], _SharedTail] = {}


@contextlib.contextmanager
def _shared_tail(database: Database, stream: str, poll_interval: float) -> Iterator[_SharedTail]:
    # Per event loop too: the tail's lock belongs to the loop that uses it.
    loop = asyncio.get_running_loop()
    key = (id(database), id(loop), stream)
    tail = _TAILS.get(key)
    if tail is None:
        tail = _TAILS[key] = _SharedTail(database.engine, loop)
    tail.followers += 1
    tail.intervals[poll_interval] += 1
    try:
        yield tail
    finally:
        tail.followers -= 1
        tail.intervals[poll_interval] -= 1
        if not tail.intervals[poll_interval]:
            del tail.intervals[poll_interval]
        if tail.followers == 0 and _TAILS.get(key) is tail:
            del _TAILS[key]


class _Poller:
    """The poll of one process (per database and event loop), for every followed stream.

    It keeps ``mark``: every entry below it has been looked at. Each poll interval (the
    shortest any follower asked for) one query names the streams with entries from the
    mark on and the last sequence number of each; a followed stream whose last number is
    at or past what its tail has read is woken (a full wake-up: its followers read once).
    Sequence numbers follow commit order, so moving the mark past the last number seen
    skips nothing. The mark is taken before the first follower's first read, so whatever
    that read did not see is at or above it.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.tails: dict[str, _SharedTail] = {}
        self.mark: int | None = None
        self.task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()
        self.polling = False
        self.stopped = False

    async def join(self, key: str, tail: _SharedTail) -> None:
        self.tails[key] = tail
        if self.mark is None:
            mark = await _ledger_end(self.database)
            self.mark = mark if self.mark is None else min(self.mark, mark)
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())
        self.changed.set()  # a shorter interval may have come with this follower

    def leave(self, key: str, tail: _SharedTail, *, last_of_tail: bool) -> None:
        if last_of_tail and self.tails.get(key) is tail:
            del self.tails[key]
        if self.tails:
            return
        self.stopped = True  # a later follower starts a new poller
        registry_key = (id(self.database), id(asyncio.get_running_loop()))
        if _POLLERS.get(registry_key) is self:
            del _POLLERS[registry_key]
        if self.task is not None and not self.polling:
            self.task.cancel()  # asleep: nothing to finish
        self.changed.set()

    def _interval(self) -> float:
        return min((tail.poll_interval() for tail in self.tails.values()), default=math.inf)

    async def _run(self) -> None:
        last = time.monotonic()
        while not self.stopped:
            self.changed.clear()
            wait = last + self._interval() - time.monotonic()
            if wait > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), min(wait, 3600.0))
                continue  # woken early (a follower came or went) or on time: look again
            last = time.monotonic()
            self.polling = True
            try:
                await self._poll()
            except Exception as error:  # noqa: BLE001 - the next poll tries again; wake-ups still work
                log.warning("live feed: poll failed (%s)", error)
            finally:
                self.polling = False

    async def _poll(self) -> None:
        assert self.mark is not None
        tops = await _stream_tops(self.database, self.mark)
        if not tops:
            return
        self.mark = max(self.mark, max(tops.values()) + 1)
        for stream, top in tops.items():
            tail = self.tails.get(stream)
            if tail is not None and top >= tail.end:
                WAKEUPS.wake(stream)
        whole = self.tails.get(ALL)
        if whole is not None and max(tops.values()) >= whole.end:
            WAKEUPS.wake(ALL)


_POLLERS: dict[tuple[int, int], _Poller] = {}


def _poller(database: Database) -> _Poller:
    key = (id(database), id(asyncio.get_running_loop()))
    poller = _POLLERS.get(key)
    if poller is None:
        poller = _POLLERS[key] = _Poller(database)
    return poller


async def _ledger_end(database: Database) -> int:
    """The sequence number the next entry will have (as far as committed entries tell)."""
    table = LedgerEntry.__table__
    async with database.reader() as session:
        last = await session.scalar(sa.select(sa.func.max(table.c.seq)))
    return 0 if last is None else int(last) + 1


async def _stream_tops(database: Database, from_seq: int) -> dict[str, int]:
    """The last sequence number of every stream with entries from ``from_seq`` on."""
    table = LedgerEntry.__table__
    query = sa.select(table.c.stream, sa.func.max(table.c.seq)).where(table.c.seq >= from_seq).group_by(
        table.c.stream)
    async with database.reader() as session:
        return {stream: int(top) for stream, top in (await session.execute(query)).all()}


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
    with _shared_tail(database, key, poll_interval) as tail:
        poller = _poller(database)
        await poller.join(key, tail)  # before the first read: the poll covers what it misses
        try:
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
                        await waiter  # a wake-up, a nudge or the process's poll
                finally:
                    WAKEUPS.discard(key, waiter)
        finally:
            poller.leave(key, tail, last_of_tail=tail.followers == 1)

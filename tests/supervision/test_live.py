"""The live feed over ledger streams: from a sequence number, in order, resumable, woken
in process after commit and across processes by PostgreSQL NOTIFY."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator

from core.actors import SYSTEM
from core.database import AFTER_COMMIT_KEY, Database
from supervision import live
from supervision.ledger.append import append

STREAM = "livetest:1"


async def _append(database: Database, number: int, *, stream: str = STREAM, announce: bool = True) -> None:
    async with database.transaction() as session:
        await append(session, stream=stream, event_type="test.happened", actor=SYSTEM, payload={"n": number})
        if announce:
            await live.announce(session, stream)


async def _take(feed: AsyncIterator[dict], count: int, timeout: float = 10) -> list[dict]:
    async def take() -> list[dict]:
        return [await anext(feed) for _ in range(count)]

    return await asyncio.wait_for(take(), timeout)


async def test_follow_from_a_number_then_live_then_resume(database: Database) -> None:
    for n in range(3):
        await _append(database, n)
    await _append(database, 99, stream="livetest:2")  # another stream is not followed
    feed = live.follow(database, STREAM, 0, poll_interval=60)
    first = await _take(feed, 3)
    assert [e["payload"]["n"] for e in first] == [0, 1, 2]
    # A new entry arrives by the in-process wake-up, long before the 60 s poll.
    started = time.monotonic()
    pending = asyncio.ensure_future(_take(feed, 1))
    await asyncio.sleep(0.05)
    await _append(database, 3)
    assert [e["payload"]["n"] for e in await pending] == [3]
    assert time.monotonic() - started < 5
    await feed.aclose()
    # Disconnected: two entries go by; resuming after the last number seen misses nothing.
    last = first[-1]["seq"]
    await _append(database, 4)
    await _append(database, 5)
    resumed = live.follow(database, STREAM, last + 1, poll_interval=60)
    assert [e["payload"]["n"] for e in await _take(resumed, 3)] == [3, 4, 5]
    await resumed.aclose()


async def test_rolled_back_append_wakes_nobody_and_is_never_seen(database: Database) -> None:
    feed = live.follow(database, STREAM, 0, poll_interval=0.2)
    pending = asyncio.ensure_future(_take(feed, 1, timeout=5))
    await asyncio.sleep(0.05)
    try:
        async with database.transaction() as session:
            await append(session, stream=STREAM, event_type="test.happened", actor=SYSTEM, payload={"n": -1})
            await live.announce(session, STREAM)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    await _append(database, 7)
    assert [e["payload"]["n"] for e in await pending] == [7]
    await feed.aclose()


async def test_visibility_filter_skips_and_redacts(database: Database) -> None:
    for n in range(4):
        await _append(database, n)

    def odd_only(entry: dict) -> dict | None:
        return {**entry, "actor": None} if entry["payload"]["n"] % 2 else None

    feed = live.follow(database, STREAM, 0, visible=odd_only, poll_interval=60)
    seen = await _take(feed, 2)
    assert [e["payload"]["n"] for e in seen] == [1, 3] and all(e["actor"] is None for e in seen)
    await feed.aclose()


async def test_unannounced_append_is_found_by_the_poll(database: Database) -> None:
    feed = live.follow(database, STREAM, 0, poll_interval=0.2)
    pending = asyncio.ensure_future(_take(feed, 1, timeout=5))
    await asyncio.sleep(0.05)
    await _append(database, 1, announce=False)
    assert [e["payload"]["n"] for e in await pending] == [1]
    await feed.aclose()


APPENDER = """
import asyncio, sys
from core.actors import SYSTEM
from core.database import AFTER_COMMIT_KEY, Database
from supervision import live
from supervision.ledger.append import append

async def main():
    database = Database(sys.argv[1])
    async with database.transaction() as session:
        await append(session, stream=sys.argv[2], event_type="test.happened", actor=SYSTEM, payload={"n": 42})
        await live.announce(session, sys.argv[2])
    await database.dispose()

asyncio.run(main())
"""


async def test_another_process_wakes_followers_by_notify(postgres_database: Database) -> None:
    database = postgres_database
    feed = live.follow(database, STREAM, 0, poll_interval=120)
    pending = asyncio.ensure_future(_take(feed, 1, timeout=30))
    await asyncio.sleep(0.3)  # the LISTEN connection is up before the other process appends
    url = database.engine.url.render_as_string(hide_password=False)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", APPENDER, url, STREAM,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    assert [e["payload"]["n"] for e in await pending] == [42]
    assert time.monotonic() - started < 20  # far below the 120 s poll: woken by NOTIFY
    await feed.aclose()
    await live.stop_listening()


async def test_followers_of_one_stream_share_one_read_per_wake_up(database: Database, monkeypatch) -> None:
    await _append(database, 0)
    reads: list[int] = []
    real_read = live.read_entries

    async def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    feeds = [live.follow(database, STREAM, 0, poll_interval=60) for _ in range(10)]
    for feed in feeds:
        assert [e["payload"]["n"] for e in await _take(feed, 1)] == [0]
    reads.clear()
    pending = [asyncio.ensure_future(_take(feed, 1)) for feed in feeds]
    await asyncio.sleep(0.05)
    await _append(database, 1)
    for result in await asyncio.gather(*pending):
        assert [e["payload"]["n"] for e in result] == [1]
    assert len(reads) == 1, "one wake-up, ten followers: the new entry is read once"
    for feed in feeds:
        await feed.aclose()


async def test_idle_followers_of_one_stream_share_the_poll(database: Database, monkeypatch) -> None:
    await _append(database, 0)
    reads: list[int] = []
    real_read = live.read_entries

    async def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    feeds = [live.follow(database, STREAM, 0, poll_interval=0.2) for _ in range(10)]
    for feed in feeds:
        await _take(feed, 1)
    reads.clear()
    pending = [asyncio.ensure_future(_take(feed, 1, timeout=5)) for feed in feeds]
    await asyncio.sleep(1.0)  # about five poll intervals with nothing new
    polls = len(reads)
    await _append(database, 1, announce=False)  # still found by the shared poll
    for result in await asyncio.gather(*pending):
        assert [e["payload"]["n"] for e in result] == [1]
    assert polls <= 10, f"ten idle followers polled {polls} times in five intervals: the poll is per stream"
    for feed in feeds:
        await feed.aclose()


async def _append_without_wake_up(database: Database, number: int, stream: str = STREAM) -> None:
    """Committed as a session outside ``Database.transaction`` would be: no in-process wake-up."""
    async with database.transaction() as session:
        await append(session, stream=stream, event_type="test.happened", actor=SYSTEM, payload={"n": number})
        session.info.pop(AFTER_COMMIT_KEY, None)


async def _no_listening(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No LISTEN connection: only in-process wake-ups, nudges and the poll bring entries."""
    await live.stop_listening()

    async def no_listening(_database: Database) -> None:
        return None

    monkeypatch.setattr(live.LISTENER, "ensure", no_listening)


async def test_idle_followers_never_query_and_one_poll_serves_every_stream(database: Database,
                                                                            monkeypatch) -> None:
    await _no_listening(monkeypatch)
    streams = [f"livetest:{n}" for n in range(1, 6)]
    for stream in streams:
        await _append(database, 0, stream=stream)
    reads: list[str] = []
    polls: list[int] = []
    real_read, real_poll = live.read_entries, live._stream_tops

    async def counting_read(database_, stream, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(stream)
        return await real_read(database_, stream, *args, **kwargs)

    async def counting_poll(*args, **kwargs):  # type: ignore[no-untyped-def]
        polls.append(1)
        return await real_poll(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    monkeypatch.setattr(live, "_stream_tops", counting_poll)
    feeds = {stream: [live.follow(database, stream, 0, poll_interval=0.2) for _ in range(4)] for stream in streams}
    for followers in feeds.values():
        for feed in followers:
            await _take(feed, 1)
    reads.clear()
    pending = [asyncio.ensure_future(_take(feed, 1, timeout=5)) for feed in feeds[streams[2]]]
    await asyncio.sleep(1.0)  # about five poll intervals, nothing new
    idle_reads, idle_polls = len(reads), len(polls)
    await _append_without_wake_up(database, 1, stream=streams[2])  # found by the process's poll
    for result in await asyncio.gather(*pending):
        assert [e["payload"]["n"] for e in result] == [1]
    assert idle_reads == 0, "an idle follower waits for a wake-up; it never queries by itself"
    assert idle_polls <= 7, f"{idle_polls} polls in five intervals: one poll serves twenty followers of five streams"
    assert reads == [streams[2]], "only the stream with a new entry is read, once"
    for followers in feeds.values():
        for feed in followers:
            await feed.aclose()


async def test_a_read_that_finds_new_entries_hands_them_to_the_waiting_followers(database: Database,
                                                                                 monkeypatch) -> None:
    """With no wake-up and no poll, a later follower's first read brings an entry to those
    already waiting (they are nudged), instead of leaving them until the next poll."""
    await _no_listening(monkeypatch)

    async def nothing_new(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        return {}

    monkeypatch.setattr(live, "_stream_tops", nothing_new)
    await _append(database, 0)
    waiting = live.follow(database, STREAM, 0, poll_interval=3600)
    await _take(waiting, 1)
    pending = asyncio.ensure_future(_take(waiting, 1, timeout=5))
    await _append_without_wake_up(database, 1)
    await _append_without_wake_up(database, 2)
    await asyncio.sleep(0.1)
    late = live.follow(database, STREAM, 0, poll_interval=0.05)  # its first read looks at the ledger
    assert [e["payload"]["n"] for e in await _take(late, 3)] == [0, 1, 2]
    assert [e["payload"]["n"] for e in await pending] == [1]
    assert [e["payload"]["n"] for e in await _take(waiting, 1)] == [2]
    await waiting.aclose()
    await late.aclose()


async def test_a_commit_of_this_process_wakes_its_followers_once(postgres_database: Database,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The in-process wake-up after commit reads the new entry; the NOTIFY the same commit
    sends comes back on the LISTEN connection and is not a second wake-up (a second read)."""
    database = postgres_database
    reads: list[int] = []
    real_read = live.read_entries

    async def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    feed = live.follow(database, STREAM, 0, poll_interval=3600)
    pending = asyncio.ensure_future(_take(feed, 1, timeout=10))
    await asyncio.sleep(0.3)  # listening, and past the first read
    reads.clear()
    before = live.WAKEUPS.generation(STREAM)
    await _append(database, 1)
    assert [e["payload"]["n"] for e in await pending] == [1]
    await asyncio.sleep(0.5)  # time for the notification to come back
    assert live.WAKEUPS.generation(STREAM) == before + 1, "woken once: by the commit, not again by its NOTIFY"
    assert len(reads) == 1
    await feed.aclose()
    await live.stop_listening()


async def _publishing_append(database: Database, number: int, after_seq: int) -> dict:
    """One append whose transaction hands its entry to the followers (``live.publish``)."""
    import json

    async with database.transaction() as session:
        appended = await append(session, stream=STREAM, event_type="test.happened", actor=SYSTEM,
                                payload={"n": number})
        entry = json.loads(appended.leaf)
        live.publish(session, STREAM, after_seq, [entry])
    return entry


async def test_published_entries_reach_the_followers_without_a_read(database: Database, monkeypatch) -> None:
    await _no_listening(monkeypatch)
    await _append(database, 0)
    reads: list[int] = []
    real_read = live.read_entries

    async def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_entries", counting_read)
    feeds = [live.follow(database, STREAM, 0, poll_interval=3600) for _ in range(5)]
    last = None
    for feed in feeds:
        last = (await _take(feed, 1))[0]
    reads.clear()
    pending = [asyncio.ensure_future(_take(feed, 1)) for feed in feeds]
    await asyncio.sleep(0.05)
    published = await _publishing_append(database, 1, after_seq=last["seq"])
    for result in await asyncio.gather(*pending):
        assert result == [published]
    assert reads == [], "the committing transaction handed its entry over: nobody read it back"
    for feed in feeds:
        await feed.aclose()


async def test_an_entry_published_after_a_gap_is_read_from_the_ledger(database: Database, monkeypatch) -> None:
    """A tail that has not read up to where the published entries start cannot vouch for
    what lies between: its followers are woken and read, and miss nothing."""
    await _no_listening(monkeypatch)
    await _append(database, 0)
    feed = live.follow(database, STREAM, 0, poll_interval=3600)
    first = (await _take(feed, 1))[0]
    pending = asyncio.ensure_future(_take(feed, 2))
    await asyncio.sleep(0.05)
    await _append_without_wake_up(database, 1)  # the tail has not seen this one
    await _publishing_append(database, 2, after_seq=first["seq"] + 1)
    assert [e["payload"]["n"] for e in await pending] == [1, 2]
    await feed.aclose()

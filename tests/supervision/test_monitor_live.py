"""Every append announces itself, and the whole ledger can be followed live: in order,
resumable, with reads shared between followers, once per stream and transaction."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from core.actors import SYSTEM
from core.database import Database
from supervision import live
from supervision.ledger.append import append


async def _append(database: Database, stream: str, number: int) -> None:
    async with database.transaction() as session:
        await append(session, stream=stream, event_type="test.happened", actor=SYSTEM, payload={"n": number})


async def _take(feed: AsyncIterator[dict], count: int, timeout: float = 10) -> list[dict]:
    async def take() -> list[dict]:
        return [await anext(feed) for _ in range(count)]

    return await asyncio.wait_for(take(), timeout)


def _numbers(entries: list[dict]) -> list[int]:
    return [entry["payload"]["n"] for entry in entries]


@pytest.fixture(name="in_process_only")
async def in_process_only_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LISTEN connection: on PostgreSQL our own NOTIFY would come back as a second
    wake-up at an unpredictable moment, and these tests count wake-ups and reads."""
    await live.stop_listening()

    async def no_listening(_database: Database) -> None:
        return None

    monkeypatch.setattr(live.LISTENER, "ensure", no_listening)


async def test_an_append_wakes_its_followers_without_an_explicit_announce(database: Database) -> None:
    feed = live.follow(database, "wakeup:1", 0, poll_interval=3600)
    whole = live.follow_all(database, 0, poll_interval=3600)
    await _append(database, "wakeup:1", 0)  # the first read of each
    assert _numbers(await _take(feed, 1)) == [0] and _numbers(await _take(whole, 1)) == [0]
    pending = asyncio.ensure_future(_take(feed, 1))
    pending_all = asyncio.ensure_future(_take(whole, 1))
    await asyncio.sleep(0.05)  # both wait; nothing but a wake-up can bring the entry within the hour
    await _append(database, "wakeup:1", 1)
    assert _numbers(await pending) == [1]
    assert _numbers(await pending_all) == [1]
    await feed.aclose()
    await whole.aclose()


async def test_the_whole_ledger_in_order_from_a_number_then_resumed(database: Database) -> None:
    for number, stream in enumerate(["a:1", "b:1", "a:2", "c:9", "b:1"]):
        await _append(database, stream, number)
    feed = live.follow_all(database, 0, poll_interval=3600)
    first = await _take(feed, 5)
    assert _numbers(first) == [0, 1, 2, 3, 4]
    assert [entry["seq"] for entry in first] == sorted(entry["seq"] for entry in first)
    assert [entry["stream"] for entry in first] == ["a:1", "b:1", "a:2", "c:9", "b:1"]
    pending = asyncio.ensure_future(_take(feed, 2))
    await asyncio.sleep(0.05)
    await _append(database, "d:1", 5)
    await _append(database, "a:1", 6)
    assert _numbers(await pending) == [5, 6]
    await feed.aclose()
    # Disconnected after the third entry: everything after it comes back, nothing twice.
    await _append(database, "e:1", 7)
    resumed = live.follow_all(database, first[2]["seq"] + 1, poll_interval=3600)
    assert _numbers(await _take(resumed, 5)) == [3, 4, 5, 6, 7]
    await resumed.aclose()


async def test_an_async_visibility_filter_skips_entries_but_keeps_the_order(database: Database) -> None:
    for number in range(6):
        await _append(database, f"kind{number % 2}:1", number)

    async def only_kind1(entry: dict) -> dict | None:
        await asyncio.sleep(0)
        return entry if entry["stream"].startswith("kind1:") else None

    feed = live.follow_all(database, 0, visible=only_kind1, poll_interval=3600)
    assert _numbers(await _take(feed, 3)) == [1, 3, 5]
    await feed.aclose()


async def test_followers_of_the_whole_ledger_share_one_read_per_wake_up(database: Database, monkeypatch,
                                                                        in_process_only: None) -> None:
    await _append(database, "shared:1", 0)
    reads: list[int] = []
    real_read = live.read_all_entries

    async def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(1)
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(live, "read_all_entries", counting_read)
    feeds = [live.follow_all(database, 0, poll_interval=3600) for _ in range(10)]
    for feed in feeds:
        assert _numbers(await _take(feed, 1)) == [0]
    reads.clear()
    pending = [asyncio.ensure_future(_take(feed, 1)) for feed in feeds]
    await asyncio.sleep(0.05)
    await _append(database, "shared:2", 1)  # another stream: the whole ledger's followers wake all the same
    for result in await asyncio.gather(*pending):
        assert _numbers(result) == [1]
    assert len(reads) == 1, "one wake-up, ten followers of the whole ledger: the new entry is read once"
    for feed in feeds:
        await feed.aclose()


async def test_one_wake_up_per_stream_and_transaction(database: Database, in_process_only: None) -> None:
    before = {key: live.WAKEUPS.generation(key) for key in ("once:1", "once:2", live.ALL)}
    async with database.transaction() as session:
        for number in range(3):
            await append(session, stream="once:1", event_type="test.happened", actor=SYSTEM, payload={"n": number})
        await append(session, stream="once:2", event_type="test.happened", actor=SYSTEM, payload={"n": 3})
        await live.announce(session, "once:1")  # an older caller's own announcement adds nothing
        assert live.WAKEUPS.generation("once:1") == before["once:1"], "nobody is woken before the commit"
    after = {key: live.WAKEUPS.generation(key) for key in before}
    assert {key: after[key] - before[key] for key in before} == {"once:1": 1, "once:2": 1, live.ALL: 1}


async def test_a_rolled_back_append_wakes_nobody(database: Database, in_process_only: None) -> None:
    before = live.WAKEUPS.generation(live.ALL)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await append(session, stream="undone:1", event_type="test.happened", actor=SYSTEM, payload={"n": 0})
            raise RuntimeError("roll back")
    assert live.WAKEUPS.generation(live.ALL) == before
    assert live.WAKEUPS.generation("undone:1") == 0


async def test_postgres_sends_one_notify_per_stream_and_transaction(postgres_database: Database) -> None:
    import asyncpg

    url = postgres_database.engine.url
    listener = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                     password=url.password, database=url.database)
    heard: list[str] = []
    await listener.add_listener(live.CHANNEL, lambda *args: heard.append(args[3]))
    try:
        async with postgres_database.transaction() as session:
            for number in range(3):
                await append(session, stream="notified:1", event_type="test.happened", actor=SYSTEM,
                             payload={"n": number})
            await append(session, stream="notified:2", event_type="test.happened", actor=SYSTEM, payload={"n": 3})
            await live.announce(session, "notified:1")
        async with postgres_database.transaction() as session:  # a new transaction announces again
            await append(session, stream="notified:1", event_type="test.happened", actor=SYSTEM, payload={"n": 4})
        for _ in range(100):
            if len(heard) >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a duplicate, if any, would have come by now
    finally:
        await listener.close()
    assert sorted(heard) == ["notified:1", "notified:1", "notified:2"]


APPENDER = """
import asyncio, sys
from core.actors import SYSTEM
from core.database import Database
from supervision.ledger.append import append

async def main():
    database = Database(sys.argv[1])
    async with database.transaction() as session:
        await append(session, stream="elsewhere:1", event_type="test.happened", actor=SYSTEM, payload={"n": 42})
    await database.dispose()

asyncio.run(main())
"""


async def test_another_process_append_wakes_followers_of_the_whole_ledger(postgres_database: Database) -> None:
    feed = live.follow_all(postgres_database, 0, poll_interval=3600)
    pending = asyncio.ensure_future(_take(feed, 1, timeout=30))
    await asyncio.sleep(0.3)  # the LISTEN connection is up before the other process appends
    url = postgres_database.engine.url.render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", APPENDER, url,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    assert _numbers(await pending) == [42]  # within 30 s, with an hour's poll: woken by NOTIFY
    await feed.aclose()
    await live.stop_listening()

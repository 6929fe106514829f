"""Part of ``python -m bench supervision``: live feed latency to 50 regulators.

Figure (one JSON line, see bench/common.py):

- ``live_feed_latency_p99``: ``--regulators`` (50) regulators of 350000/construction follow
  ``/ws/supervision/feed`` on one uvicorn process (PostgreSQL made by the migrations).
  This process commits ``--entries`` (400) ledger entries at ``--rate`` (40) a second,
  alternating between a Fujian construction project (every regulator sees it) and a
  Guangdong one (none does: the feed resolves and filters it). The latency of one
  delivery is from the moment the committing transaction returned to the moment a
  regulator's socket delivered the entry here; p99 over every (entry, regulator). The
  server learns of each commit by PostgreSQL NOTIFY, as it would of a worker's.
  Target value < 100 ms. The baseline is the same figure for the same entries relayed by
  a bare ``websockets`` server (no database, no filter: a publisher connection sends the
  visible entries, the server broadcasts them to the 50 connections) in the same run.

``--quick`` is a small smoke run (5 regulators, 40 entries).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import (
    Target,
    app_server,
    bare_server,
    figure,
    percentile,
    progress,
    temporary_postgres,
)

BENCH = "supervision"


@dataclass(frozen=True)
class Seeded:
    url: str
    data_dir: Path
    tokens: list[str]
    visible_stream: str
    hidden_stream: str
    from_seq: int


@dataclass
class Arrivals:
    """When each client received each entry (by the entry's number ``k``)."""

    times: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))

    def note(self, number: int) -> None:
        self.times[number].append(time.perf_counter())


async def seed(url: str, work: Path, regulators: int) -> Seeded:
    from argon2 import PasswordHasher

    from core.actors import Role
    from core.database import Database
    from identities import passwords
    from identities import service as identity_service
    from supervision.ledger.tree import ledger_size
    from tests.factories import PASSWORD, make_user
    from tests.supervision.test_monitor_factories import (
        FUJIAN_CITY,
        GUANGDONG_CITY,
        tender_in,
    )

    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # throwaway users
    database = Database(url)
    tokens = []
    async with database.transaction() as session:
        fujian = await tender_in(session, FUJIAN_CITY, "construction")
        guangdong = await tender_in(session, GUANGDONG_CITY, "construction")
        for _ in range(regulators):
            user = await make_user(session, Role.REGULATOR)  # 350000, construction
            _, raw = await identity_service.sign_in(session, user.username, PASSWORD, source_address=None, hours=4)
            tokens.append(raw)
        from_seq = await ledger_size(session)
    await database.dispose()
    return Seeded(url, work / "server", tokens, fujian.stream, guangdong.stream, from_seq)


def serve_bare(port: int) -> None:
    """The baseline: a relay with nothing behind it. Followers connect to ``/feed``; what
    the publisher sends on ``/publish`` is broadcast to them as the feed's entry frame."""
    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed

    followers: set[Any] = set()

    async def handler(connection: Any) -> None:
        if connection.request.path.startswith("/publish"):
            try:
                async for raw in connection:
                    broadcast(followers, json.dumps({"type": "entry", "entry": json.loads(raw)}))
            except ConnectionClosed:
                pass
            return
        await connection.send(json.dumps({"type": "ready", "from": 0, "filters": {}}))
        followers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            followers.discard(connection)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, max_size=None):
            await asyncio.Future()

    asyncio.run(main())


async def follow(url: str, arrivals: Arrivals, ready: asyncio.Event, count: list[int], total: int) -> Any:
    """One regulator's connection: note every entry's arrival until told to stop."""
    from websockets.asyncio.client import connect

    connection = await connect(url, max_size=None)
    first = json.loads(await connection.recv())
    if first.get("type") != "ready":
        raise RuntimeError(f"the feed refused the connection: {first}")
    count[0] += 1
    if count[0] == total:
        ready.set()

    async def read() -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message.get("type") == "entry":
                arrivals.note(int(message["entry"]["payload"]["k"]))

    return connection, asyncio.ensure_future(read())


async def connect_all(urls: list[str]) -> tuple[Arrivals, list[Any]]:
    arrivals = Arrivals()
    ready = asyncio.Event()
    count = [0]
    clients = await asyncio.gather(*(follow(url, arrivals, ready, count, len(urls)) for url in urls))
    await asyncio.wait_for(ready.wait(), 60)
    return arrivals, list(clients)


async def close_all(clients: list[Any]) -> None:
    for connection, reader in clients:
        reader.cancel()
        await connection.close()


async def wait_for_arrivals(arrivals: Arrivals, numbers: list[int], followers: int, timeout: float = 30) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(len(arrivals.times.get(number, ())) >= followers for number in numbers):
            return
        await asyncio.sleep(0.05)
    missing = sum(1 for number in numbers if len(arrivals.times.get(number, ())) < followers)
    progress(f"{missing} of {len(numbers)} entries did not reach every follower in {timeout} s")


def latencies(arrivals: Arrivals, committed: dict[int, float]) -> list[float]:
    return [arrived - moment for number, moment in committed.items() for arrived in arrivals.times.get(number, ())]


async def app_phase(seeded: Seeded, args: argparse.Namespace) -> tuple[list[float], int]:
    import sqlalchemy as sa

    from core.actors import SYSTEM
    from core.database import Database
    from supervision.ledger.append import append

    logging.getLogger("bidhall").setLevel(logging.WARNING)
    database = Database(seeded.url)
    committed: dict[int, float] = {}
    visible: list[int] = []
    async with app_server(seeded.url, seeded.data_dir) as (http_base, _pid):
        base = "ws" + http_base.removeprefix("http")
        urls = [f"{base}/ws/supervision/feed?" + urlencode({"token": token, "from": seeded.from_seq})
                for token in seeded.tokens]
        arrivals, clients = await connect_all(urls)
        progress(f"{len(clients)} regulators follow the feed")
        async with database.transaction() as session:  # warm the pool
            await session.execute(sa.select(1))
        start = time.perf_counter() + 0.5
        for number in range(args.entries):
            await asyncio.sleep(max(0.0, start + number / args.rate - time.perf_counter()))
            stream = seeded.visible_stream if number % 2 == 0 else seeded.hidden_stream
            async with database.transaction() as session:
                await append(session, stream=stream, event_type="bench.happened", actor=SYSTEM,
                             payload={"k": number})
            if stream == seeded.visible_stream:
                committed[number] = time.perf_counter()
                visible.append(number)
        await wait_for_arrivals(arrivals, visible, len(clients))
        hidden_seen = sum(len(times) for number, times in arrivals.times.items() if number % 2 == 1)
        await close_all(clients)
    await database.dispose()
    return latencies(arrivals, committed), hidden_seen


async def bare_phase(seeded: Seeded, args: argparse.Namespace) -> list[float]:
    from websockets.asyncio.client import connect

    committed: dict[int, float] = {}
    visible: list[int] = []
    async with bare_server("bench.supervision_live") as (http_base, _pid):
        base = "ws" + http_base.removeprefix("http")
        arrivals, clients = await connect_all([f"{base}/feed" for _ in seeded.tokens])
        publisher = await connect(f"{base}/publish")
        start = time.perf_counter() + 0.5
        for number in range(args.entries):
            await asyncio.sleep(max(0.0, start + number / args.rate - time.perf_counter()))
            if number % 2 == 1:
                continue  # the hidden entries never reach a regulator
            entry = {"seq": seeded.from_seq + number, "stream": seeded.visible_stream, "type": "bench.happened",
                     "time": "", "actor": None, "source": None, "payload": {"k": number}}
            committed[number] = time.perf_counter()
            await publisher.send(json.dumps(entry))
            visible.append(number)
        await wait_for_arrivals(arrivals, visible, len(clients))
        await publisher.close()
        await close_all(clients)
    return latencies(arrivals, committed)


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-supervision-live-") as work:
        async with temporary_postgres(prefix="supervision_live") as url:
            seeded = await seed(url, Path(work), args.regulators)
            progress(f"seeded {args.regulators} regulators; {args.entries} entries at {args.rate}/s, half visible")
            app, hidden_seen = await app_phase(seeded, args)
            progress(f"feed: {len(app)} deliveries")
            bare = await bare_phase(seeded, args)
            progress(f"bare relay: {len(bare)} deliveries")
    expected = len(seeded.tokens) * ((args.entries + 1) // 2)
    value = percentile(app, 0.99) * 1000
    baseline = percentile(bare, 0.99) * 1000
    return [figure(
        BENCH, "live_feed_latency_p99", value=value, unit="ms", baseline=baseline,
        target=Target("value", "<", 100.0),
        note=(f"commit of a ledger entry (by another process) to a regulator's socket, p99 over every delivery "
              f"to {args.regulators} regulators of 350000/construction, {args.entries} entries at {args.rate}/s "
              "half of them outside the regulators' jurisdiction; baseline: the visible entries relayed by a bare "
              "websockets broadcast server in the same run"),
        detail={"deliveries": len(app), "expected_deliveries": expected, "hidden_deliveries": hidden_seen,
                "p50_ms": round(percentile(app, 0.5) * 1000, 2), "max_ms": round(max(app) * 1000, 2),
                "baseline_p50_ms": round(percentile(bare, 0.5) * 1000, 2),
                "baseline_deliveries": len(bare)},
    )]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The live feed's figure (the options come from ``bench.supervision``; defaults here)."""
    quick = bool(getattr(args, "quick", False))
    options = argparse.Namespace(regulators=5 if quick else 50, entries=40 if quick else 400,
                                 rate=20.0 if quick else 40.0)
    return asyncio.run(measure(options))

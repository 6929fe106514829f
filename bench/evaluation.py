"""Evaluation: live sessions (score-to-observer latency, fan-out throughput) and replay.

Figures (one JSON line each, see bench/common.py):

- ``score_latency_p50`` / ``score_latency_p99``: ``--sessions`` (100) concurrent sessions of
  ``--experts`` (7) experts and ``--observers`` (3: a regulator, an auditor, centre staff)
  on one uvicorn process (PostgreSQL made by the migrations). Experts send ``score``
  messages through ``web.expert_client`` at ``--rate`` submissions a second in all (open
  loop); the latency of one submission is from its send until the last of its session's
  observers has received its entry. Target p99 < 50 ms. The baseline is the same figure
  against the bare server below.
- ``fanout_messages_per_second``: every expert sends scores as fast as its replies come
  (closed loop) for ``--seconds``; the figure counts the entry messages all clients
  receive a second, against a bare ``websockets`` broadcast server (same protocol, same
  fan-out of one entry to the session's 10 connections, same client code) measured in the
  same run. Target ratio >= 0.5.
- ``fanout_reads_per_score`` (information): database transactions per score submission
  during that phase (``pg_stat_database``, the whole database): the score's own, and
  whatever else ran; the server's followers take a score's entry from the transaction
  that wrote it (``supervision.live.publish``) and read the ledger only for what they
  were not handed.
- ``fanout_ceiling_messages_per_second`` (information): what the fan-out figure could be
  at most with every score a durable, ordered ledger write: PostgreSQL commits a second of
  bare ledger-like transactions (lock one counter row, insert one entry row of the size of
  a score entry, commit), ``--ceiling-connections`` (16) at once for ``--ceiling-seconds``
  with raw asyncpg on this machine in this run, times the session's connections, against
  the bare server's figure. Its ratio bounds the fan-out ratio.
- ``replay_10k_events``: an evaluation stream of ``--replay-events`` (10,000) entries folded
  to its final state by the evaluation reducer (``evaluation.replay``), decoded from the
  stored leaves, against decoding alone. Target value < 200 ms.

Set-up (not timed): one session is taken through the real flow (opened, committee signed
in and declared, chair elected, every bid reviewed) to detailed scoring; the others are
seeded directly in detailed scoring as copies of its rows (new lots, the same committee
and bids), which the output says. Experts resubmit scores of one bid, so scoring never
completes and every submission is a real ``BID_SCORED`` step. The replay stream is the
first session's real stream followed by real score entries of this run (renumbered), as
no session is taken to the end here.

The measuring clients of all sessions run in this one process; once they are connected
its garbage collector is frozen and slowed (for both servers alike), so that its own
pauses are not counted as the server's latency.

``--quick`` is a small smoke run (2 sessions of 3 experts, short phases).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    Target,
    app_server,
    bare_server,
    emit,
    figure,
    percentile,
    progress,
    temporary_postgres,
)

BENCH = "evaluation"
OBSERVER_ROLES = ("regulator", "auditor", "center_staff")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--experts", type=int, default=7)
    parser.add_argument("--observers", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--rate", type=float, default=20.0,
                        help="score submissions a second in all in the latency phase (default 20: each of 700 "
                             "experts every 35 s)")
    parser.add_argument("--rounds", type=int, default=3, help="submissions per expert in the latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput phase")
    parser.add_argument("--replay-events", type=int, default=10_000)
    parser.add_argument("--ceiling-seconds", type=float, default=3.0,
                        help="length of the PostgreSQL commit ceiling measurement")
    parser.add_argument("--ceiling-connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.experts, args.rate, args.rounds, args.seconds, args.replay_events = 2, 3, 20.0, 2, 1.5, 500
        args.ceiling_seconds = 0.5
    return args


# --- the scene --------------------------------------------------------------------------------------


@dataclass
class Seat:
    session_id: int
    token: str
    member_key: Any          # what the session's BID_SCORED entries name this expert by
    bid_id: int
    scores: dict[str, str]


@dataclass
class Seeded:
    url: str
    data_dir: Path
    template_id: int
    seats: list[Seat]
    observers: dict[int, list[str]]      # session id -> observer tokens
    from_seq: int


async def seed(url: str, work: Path, args: argparse.Namespace) -> Seeded:
    from argon2 import PasswordHasher

    from core.actors import Role
    from core.database import Database
    from core.settings import load_settings
    from evaluation.review import review_criteria
    from evaluation.scoring import factors_of
    from identities import passwords
    from identities import service as identity_service
    from tests.evaluation.factories import (
        act_as,
        active_session,
        evaluation_scene,
        services,
    )
    from tests.factories import PASSWORD, make_user
    from web.runtime import Runtime

    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # throwaway users
    logging.getLogger("bidhall.tasks").setLevel(logging.CRITICAL)  # no worker here: draw notifications wait
    data_dir = work / "server"
    runtime = Runtime(settings=load_settings(data_dir=data_dir, database_url=url), database=Database(url))
    evaluation_services = services(runtime)
    async with runtime.database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services, experts=args.experts, bidders=3)
        ev = await active_session(session, scene, evaluation_services)
        criteria = await review_criteria(session, ev)
        marks = {criterion: {"passed": True, "reason": None} for criterion in criteria}
        for hand in scene.experts:
            for bid in scene.bids:
                await act_as(session, hand.actor, ev.id, "review", {"bid_id": bid.id, "marks": marks},  # type: ignore[arg-type]
                             evaluation_services)
        await session.refresh(ev)
        assert ev.stage == "detailed_scoring", ev.stage
        scores = {factor: str((points / 2).quantize(Decimal("0.01"))) for factor, points in factors_of(ev).items()}
        auditor = await make_user(session, Role.AUDITOR)
    progress(f"session {ev.id} taken to detailed scoring by the real flow")
    session_ids = [ev.id, *await _copies(runtime.database, ev.id, args.sessions - 1)]  # type: ignore[list-item]
    progress(f"{len(session_ids) - 1} more sessions seeded directly in detailed scoring")
    tokens: dict[str, str] = {}
    async with runtime.database.transaction() as session:
        for username in [h.user.username for h in scene.experts] + [scene.regulator.username, auditor.username,
                                                                    scene.staff.username]:
            _, tokens[username] = await identity_service.sign_in(session, username, PASSWORD,
                                                                 source_address=None, hours=4)
    members = await _member_ids(runtime.database, session_ids)
    bid_id = scene.bids[0].id
    seats = [Seat(sid, tokens[hand.user.username], members[(sid, hand.user.id)], bid_id, scores)  # type: ignore[arg-type]
             for sid in session_ids for hand in scene.experts]
    observer_names = [scene.regulator.username, auditor.username, scene.staff.username][:args.observers]
    observers = {sid: [tokens[name] for name in observer_names] for sid in session_ids}
    from_seq = await _next_seq(runtime.database)
    await runtime.database.dispose()
    return Seeded(url, data_dir, ev.id, seats, observers, from_seq)  # type: ignore[arg-type]


async def _copies(database: Any, template_id: int, count: int) -> list[int]:
    """Sessions in the template's stage: copies of its session, lot, members and bids rows."""
    import sqlalchemy as sa

    from evaluation.models import CommitteeMember, EvaluatedBid, EvaluationSession
    from trading.models import Lot

    made = []
    async with database.transaction() as session:
        template = (await session.execute(sa.select(EvaluationSession.__table__).where(
            EvaluationSession.__table__.c.id == template_id))).mappings().one()
        lot = (await session.execute(sa.select(Lot.__table__).where(
            Lot.__table__.c.id == template["lot_id"]))).mappings().one()
        members = (await session.execute(sa.select(CommitteeMember.__table__).where(
            CommitteeMember.__table__.c.session_id == template_id))).mappings().all()
        bids = (await session.execute(sa.select(EvaluatedBid.__table__).where(
            EvaluatedBid.__table__.c.session_id == template_id))).mappings().all()
        for number in range(count):
            lot_id = (await session.execute(sa.insert(Lot.__table__).values(
                {**_without_id(lot), "number": 1000 + number, "code": f"{lot['code'][:30]}-B{number}"})
                .returning(Lot.__table__.c.id))).scalar_one()
            session_id = (await session.execute(sa.insert(EvaluationSession.__table__).values(
                {**_without_id(template), "lot_id": lot_id, "chair_member_id": None})
                .returning(EvaluationSession.__table__.c.id))).scalar_one()
            for member in members:
                member_id = (await session.execute(sa.insert(CommitteeMember.__table__).values(
                    {**_without_id(member), "session_id": session_id})
                    .returning(CommitteeMember.__table__.c.id))).scalar_one()
                if member["id"] == template["chair_member_id"]:
                    await session.execute(sa.update(EvaluationSession.__table__).where(
                        EvaluationSession.__table__.c.id == session_id).values(chair_member_id=member_id))
            for bid in bids:
                await session.execute(sa.insert(EvaluatedBid.__table__).values(
                    {**_without_id(bid), "session_id": session_id}))
            made.append(session_id)
    return made


def _without_id(row: Any) -> dict[str, Any]:
    return {key: value for key, value in dict(row).items() if key != "id"}


async def _member_ids(database: Any, session_ids: list[int]) -> dict[tuple[int, int], int]:
    import sqlalchemy as sa

    from evaluation.models import CommitteeMember

    async with database.reader() as session:
        rows = await session.execute(sa.select(CommitteeMember.session_id, CommitteeMember.user_id,
                                               CommitteeMember.id).where(CommitteeMember.session_id.in_(session_ids)))
        return {(sid, uid): mid for sid, uid, mid in rows}


async def _next_seq(database: Any) -> int:
    import sqlalchemy as sa

    from supervision.ledger.models import LedgerEntry

    async with database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.coalesce(sa.func.max(LedgerEntry.seq), 0))) or 0) + 1


# --- servers ----------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """The baseline: the channel's protocol with nothing behind it. A message is answered
    and its entry broadcast to every connection of the session, as the app's fan-out does."""
    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed

    sessions: dict[str, set[Any]] = defaultdict(set)
    counters: dict[str, int] = defaultdict(lambda: 10**12)  # above any client's starting point

    async def handler(connection: Any) -> None:
        session_key = connection.request.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        token = json.loads(await connection.recv())["token"]
        await connection.send(json.dumps({"type": "ready", "from": 0}))
        sessions[session_key].add(connection)
        try:
            async for raw in connection:  # a client closing mid-frame just ends the loop
                message = json.loads(raw)
                fields = {k: v for k, v in message.items() if k not in ("id", "type")}
                await connection.send(json.dumps({"type": "reply", "id": message["id"], "ok": True, "result": {}}))
                counters[session_key] += 1
                entry = {"seq": counters[session_key], "type": "evaluation.bid_scored",
                         "payload": {"member_id": token, **fields}}
                broadcast(sessions[session_key], json.dumps({"type": "entry", "entry": entry}))
        except ConnectionClosed:
            pass
        finally:
            sessions[session_key].discard(connection)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, max_size=None):
            await asyncio.Future()

    asyncio.run(main())


# --- the clients ------------------------------------------------------------------------------------


@dataclass
class Harness:
    """Every client of every session, with send and arrival times of scores."""

    sends: dict[tuple[int, Any], list[float]] = field(default_factory=lambda: defaultdict(list))
    arrivals: dict[tuple[int, Any, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[tuple[int, int, Any], int] = field(default_factory=lambda: defaultdict(int))
    received: list[float] = field(default_factory=list)
    experts: list[tuple[Seat, Any, Any]] = field(default_factory=list)   # seat, key, client
    others: list[Any] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def observer_hook(self, session_id: int, observer: int) -> Any:
        def arrived(entry: dict[str, Any]) -> None:
            now = time.perf_counter()
            self.received.append(now)
            if entry["type"] != "evaluation.bid_scored":
                return
            key = (session_id, observer, entry["payload"].get("member_id"))
            index = self.seen[key]
            self.seen[key] += 1
            self.arrivals[(session_id, key[2], index)].append(now)
        return arrived

    def counter_hook(self) -> Any:
        def arrived(entry: dict[str, Any]) -> None:
            self.received.append(time.perf_counter())
        return arrived


async def connect_all(base: str, seeded: Seeded, bare: bool) -> Harness:
    from web.expert_client import ExpertClient

    harness = Harness()
    gate = asyncio.Semaphore(50)

    async def one(token: str, session_id: int, hook: Any) -> Any:
        async with gate:
            return await ExpertClient(base, token, session_id, from_seq=seeded.from_seq, on_entry=hook).start()

    tasks = []
    for number, seat in enumerate(seeded.seats):
        token = f"bare-{number}" if bare else seat.token
        key = token if bare else seat.member_key
        tasks.append((seat, key, asyncio.ensure_future(one(token, seat.session_id, harness.counter_hook()))))
    observer_tasks = [asyncio.ensure_future(one(f"observer-{sid}-{n}" if bare else token, sid,
                                                harness.observer_hook(sid, n)))
                      for sid, tokens in seeded.observers.items() for n, token in enumerate(tokens)]
    harness.experts = [(seat, key, await task) for seat, key, task in tasks]
    harness.others = [await task for task in observer_tasks]
    return harness


async def close_all(harness: Harness) -> None:
    await asyncio.gather(*(client.close() for _, _, client in harness.experts),
                         *(client.close() for client in harness.others))


async def latency_phase(harness: Harness, seeded: Seeded, args: argparse.Namespace) -> list[float]:
    """Open loop: submissions spread evenly at ``--rate``; each expert's in order."""
    experts = len(harness.experts)
    period = experts / args.rate
    start = time.perf_counter() + 0.5
    observers = len(next(iter(seeded.observers.values())))

    async def expert(offset: float, seat: Seat, key: Any, client: Any) -> None:
        for number in range(args.rounds):
            await asyncio.sleep(max(0.0, start + offset + number * period - time.perf_counter()))
            harness.sends[(seat.session_id, key)].append(time.perf_counter())
            reply = await client.send("score", bid_id=seat.bid_id, scores=seat.scores)
            if not reply["ok"]:  # counted; its entry never comes, so nothing after it can be matched
                harness.refused.append(reply["problem"].get("detail", ""))
                return

    await asyncio.gather(*(expert(index * period / experts, seat, key, client)
                           for index, (seat, key, client) in enumerate(harness.experts)))
    expected = experts * args.rounds
    for _ in range(600):
        complete = sum(1 for times in harness.arrivals.values() if len(times) >= observers)
        if complete >= expected:
            break
        await asyncio.sleep(0.05)
    latencies = []
    for (session_id, key), sent in harness.sends.items():
        for index, moment in enumerate(sent):
            arrived = harness.arrivals.get((session_id, key, index), [])
            if len(arrived) >= observers:
                latencies.append(max(arrived) - moment)
    if not latencies:
        raise RuntimeError(f"none of {expected} submissions reached every observer; refused: {harness.refused[:3]}")
    if len(latencies) < expected:
        progress(f"only {len(latencies)} of {expected} submissions reached every observer "
                 f"({len(harness.refused)} refused, e.g. {harness.refused[:1]})")
    return latencies


async def throughput_phase(harness: Harness, args: argparse.Namespace) -> tuple[float, int]:
    """Closed loop: every expert sends its next score when the last is answered."""
    stop = time.perf_counter() + args.seconds
    sent = 0

    async def expert(seat: Seat, client: Any) -> None:
        nonlocal sent
        while time.perf_counter() < stop:
            reply = await client.send("score", bid_id=seat.bid_id, scores=seat.scores)
            if reply["ok"]:
                sent += 1
            else:
                harness.refused.append(reply["problem"].get("detail", ""))

    started = time.perf_counter()
    already = len(harness.received)
    await asyncio.gather(*(expert(seat, client) for seat, _, client in harness.experts))
    ended = time.perf_counter()
    delivered = sum(1 for moment in harness.received[already:] if started <= moment <= ended)
    return delivered / (ended - started), sent


async def run_channel(base: str, seeded: Seeded, args: argparse.Namespace, bare: bool,
                      transactions: Any = None, pid: int | None = None) -> dict[str, Any]:
    from bench.trading import cpu_seconds

    label = "bare websockets" if bare else "bidhall"
    harness = await connect_all(base, seeded, bare)
    progress(f"{label}: {len(harness.experts) + len(harness.others)} clients connected")
    _quiet_collector()
    latencies = await latency_phase(harness, seeded, args)
    progress(f"{label}: latency p50 {1000 * percentile(latencies, 0.5):.1f} ms, "
             f"p99 {1000 * percentile(latencies, 0.99):.1f} ms over {len(latencies)} submissions")
    before = await transactions() if transactions else None
    cpu_before = cpu_seconds(pid) if pid else 0.0
    rate, sent = await throughput_phase(harness, args)
    server_cpu = (cpu_seconds(pid) if pid else 0.0) - cpu_before
    after = await transactions() if transactions else None
    progress(f"{label}: {rate:,.0f} entry messages/s ({sent} scores in {args.seconds} s)")
    await close_all(harness)
    _restore_collector()
    return {"latencies": latencies, "rate": rate, "sent": sent, "refused": len(harness.refused),
            "server_cpu_ms_per_score": round(1000 * server_cpu / sent, 2) if sent else None,
            "expected": len(harness.experts) * args.rounds,
            "transactions": (after - before) if transactions else None}


def _quiet_collector() -> None:
    """Keep the measuring client's own collection pauses out of the figures: a thousand
    connections in this one process make a full collection take a few hundred
    milliseconds, which would show as the server's latency. What the clients hold once
    connected is frozen, and young collections come less often (both servers alike)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _restore_collector() -> None:
    gc.set_threshold(*DEFAULT_COLLECTOR)
    gc.unfreeze()


DEFAULT_COLLECTOR = gc.get_threshold()


async def _transactions(url: str) -> int:
    import asyncpg

    from bench.common import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"))
    finally:
        await connection.close()


# --- the ceiling: durable ordered appends a second ----------------------------------------------------


CEILING_TABLES = """
CREATE TABLE bench_ceiling_counter (id integer PRIMARY KEY, size bigint NOT NULL);
INSERT INTO bench_ceiling_counter VALUES (1, 0);
CREATE TABLE bench_ceiling_entries (seq bigint PRIMARY KEY, stream varchar(100) NOT NULL, type varchar(100) NOT NULL,
                                    recorded_at timestamptz NOT NULL, leaf bytea NOT NULL, leaf_hash bytea NOT NULL);
CREATE INDEX ON bench_ceiling_entries (stream, seq);
"""


async def commit_ceiling(url: str, seconds: float, connections: int, leaf_bytes: int) -> dict[str, Any]:
    """Ledger-like transactions a second, as many connections at once as asked: each takes
    the next number under the counter's row lock (as ``ledger.append`` does), inserts one
    entry row and commits (durably: the server's own settings)."""
    import hashlib

    import asyncpg

    from bench.common import asyncpg_dsn

    dsn = asyncpg_dsn(url)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(CEILING_TABLES)
        synchronous_commit = await setup.fetchval("SHOW synchronous_commit")
        fsync = await setup.fetchval("SHOW fsync")
    finally:
        await setup.close()
    leaf = b"x" * leaf_bytes
    leaf_hash = hashlib.sha256(leaf).digest()
    stop = time.perf_counter() + seconds
    done = 0

    async def appender(number: int) -> None:
        nonlocal done
        connection = await asyncpg.connect(dsn)
        try:
            while time.perf_counter() < stop:
                async with connection.transaction():
                    seq = await connection.fetchval(
                        "UPDATE bench_ceiling_counter SET size = size + 1 WHERE id = 1 RETURNING size")
                    await connection.execute(
                        "INSERT INTO bench_ceiling_entries VALUES ($1, $2, 'evaluation.bid_scored', now(), $3, $4)",
                        seq, f"evaluation:{number}", leaf, leaf_hash)
                done += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(appender(number) for number in range(connections)))
    elapsed = time.perf_counter() - started
    return {"commits_per_second": done / elapsed, "commits": done, "seconds": round(elapsed, 2),
            "connections": connections, "leaf_bytes": leaf_bytes, "synchronous_commit": synchronous_commit,
            "fsync": fsync}


async def _score_leaf_bytes(url: str) -> int:
    import asyncpg

    from bench.common import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        size = await connection.fetchval(
            "SELECT avg(length(leaf)) FROM ledger_entries WHERE type = 'evaluation.bid_scored'")
    finally:
        await connection.close()
    return int(size or 600)


# --- replay -----------------------------------------------------------------------------------------


async def replay_figure(seeded: Seeded, events: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from core.database import Database
    from supervision.ledger.models import LedgerEntry
    from web.runtime import build_registry

    stream = f"evaluation:{seeded.template_id}"
    database = Database(seeded.url)
    async with database.reader() as session:
        table = LedgerEntry.__table__
        own = list((await session.execute(sa.select(table.c.leaf).where(table.c.stream == stream)
                                          .order_by(table.c.seq))).scalars())
        scored = list((await session.execute(sa.select(table.c.leaf).where(
            table.c.stream == stream, table.c.type == "evaluation.bid_scored").order_by(table.c.seq))).scalars())
    await database.dispose()
    leaves = _renumbered(own, scored, stream, events)
    apply = build_registry().kind_of(stream).apply
    best_fold, best_decode = float("inf"), float("inf")
    for _ in range(5):
        started = time.perf_counter()
        decoded = [json.loads(leaf) for leaf in leaves]
        decode = time.perf_counter() - started
        state = None
        for entry in decoded:
            state = apply(state, entry)
        best_fold, best_decode = min(best_fold, time.perf_counter() - started), min(best_decode, decode)
    return figure(BENCH, "replay_10k_events", value=1000 * best_fold, unit="ms", baseline=1000 * best_decode,
                  target=Target("value", "<", 200), detail={"events": len(leaves), "own_entries": len(own)},
                  note="the evaluation reducer folding a session stream from its stored leaves to the final "
                       "state, against decoding the leaves alone; the stream is a real session's stream (opened to "
                       "detailed scoring) followed by its own real score entries of this run repeated (renumbered) up to the length (no "
                       "session is taken to the end in this benchmark); best of 5")


def _renumbered(own: list[str], scored: list[str], stream: str, events: int) -> list[str]:
    entries = [json.loads(leaf) for leaf in own]
    seq = entries[-1]["seq"] if entries else 0
    index = 0
    while len(entries) < events and scored:
        entry = json.loads(scored[index % len(scored)])
        seq += 1
        entries.append({**entry, "seq": seq})
        index += 1
    return [json.dumps(entry) for entry in entries]


# --- the run ----------------------------------------------------------------------------------------


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 65536)), hard))


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    _raise_file_limit()
    records = []
    async with temporary_postgres(prefix="bench_evaluation") as url:
        with tempfile.TemporaryDirectory(prefix="bidhall-bench-evaluation-") as work:
            seeded = await seed(url, Path(work), args)
            async with app_server(seeded.url, seeded.data_dir) as (base, pid):
                app = await run_channel(base, seeded, args, bare=False, transactions=lambda: _transactions(url),
                                        pid=pid)
            ceiling = await commit_ceiling(url, args.ceiling_seconds, args.ceiling_connections,
                                           await _score_leaf_bytes(url))
            progress(f"PostgreSQL: {ceiling['commits_per_second']:,.0f} ledger-like commits/s "
                     f"({args.ceiling_connections} connections)")
            async with bare_server("bench.evaluation") as (base, pid):
                bare = await run_channel(base, seeded, args, bare=True, pid=pid)
            records.extend(_channel_figures(app, bare, args))
            records.append(_ceiling_figure(ceiling, bare, args))
            records.append(await replay_figure(seeded, args.replay_events))
    return records


def _channel_figures(app: dict[str, Any], bare: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    shape = {"sessions": args.sessions, "experts": args.experts, "observers": args.observers,
             "rate_per_second": args.rate, "rounds": args.rounds, "seeded": "directly in detailed_scoring "
             "(one session by the real flow, the others copies of its rows)", "quick": args.quick}
    records = []
    for name, fraction in (("score_latency_p50", 0.5), ("score_latency_p99", 0.99)):
        value = 1000 * percentile(app["latencies"], fraction)
        target = Target("value", "<", 50) if fraction == 0.99 else None
        records.append(figure(BENCH, name, value=value, unit="ms",
                              baseline=1000 * percentile(bare["latencies"], fraction), target=target,
                              detail={**shape, "submissions": app["expected"], "reached_every_observer":
                                      len(app["latencies"]), "refused_messages": app["refused"]},
                              note="from a score message sent by an expert's client to its entry's arrival at the "
                                   "last of the session's observers; baseline: the bare websockets broadcast "
                                   "server, same clients"))
    records.append(figure(BENCH, "fanout_messages_per_second", value=app["rate"], unit="messages/s",
                          baseline=bare["rate"], target=Target("ratio", ">=", 0.5),
                          detail={**shape, "seconds": args.seconds, "scores_sent": app["sent"],
                                  "bare_scores_sent": bare["sent"], "refused_messages": app["refused"],
                                  "server_cpu_ms_per_score": app["server_cpu_ms_per_score"],
                                  "bare_server_cpu_ms_per_score": bare["server_cpu_ms_per_score"]},
                          note="entry messages received by all clients a second while every expert sends scores "
                               "in a closed loop, against a bare websockets server broadcasting each message to "
                               "the session's connections, same client code, same run"))
    if app["transactions"] is not None and app["sent"]:
        per_score = app["transactions"] / app["sent"]
        records.append(figure(BENCH, "fanout_reads_per_score", value=per_score, unit="transactions/score",
                              baseline=None, target=None,
                              detail={"transactions": app["transactions"], "scores": app["sent"],
                                      "connections_per_session": args.experts + args.observers},
                              note="database transactions per score submission in the throughput phase (the whole "
                                   "database): the score's own and whatever else ran; the server's followers take a "
                                   "score's entry from the transaction that wrote it and read the ledger only for what "
                                   "they were not handed (supervision.live.publish)"))
    return records


def _ceiling_figure(ceiling: dict[str, Any], bare: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    connections = args.experts + args.observers
    return figure(BENCH, "fanout_ceiling_messages_per_second",
                  value=ceiling["commits_per_second"] * connections, unit="messages/s", baseline=bare["rate"],
                  target=None, detail={**ceiling, "messages_per_commit": connections},
                  note="the most entry messages a second the fan-out could reach if the server did nothing but "
                       "commit each score as one durable ledger entry under the ledger's counter lock: bare "
                       "ledger-like PostgreSQL transactions a second (raw asyncpg, measured in this run, same "
                       "machine) times the connections each entry goes to, against the bare websockets server")


def main(argv: list[str]) -> int:
    args = parse(argv)
    for record in asyncio.run(run(args)):
        emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Ledger on PostgreSQL: append rate, inclusion proofs at 1M entries, verify throughput.

Figures (one JSON line each, see bench/common.py for the format):

- ``append_rate``: ``supervision.ledger.append`` through ``Database.transaction()``, one
  entry per transaction, against plain INSERTs of the same rows into a plain table with the
  same columns and indexes (no counter, no canonical JSON, no tree). Target ratio >= 0.5.
- ``append_rate_concurrent``: the same with several appenders at once (one session each).
- ``tree_build``: ``supervision.ledger.tree.build_tree`` over the whole big ledger, against
  hashing the same interior nodes in memory (information only).
- ``proof_latency``: median of ``supervision.ledger.inspect.prove`` at the full size for
  random indices, against a primary-key SELECT of one entry. Target median < 5 ms.
- ``verify_rate``: ``supervision.ledger.verify.verify_ledger`` bytes per second, against
  ``hashlib.sha256`` over the same leaves already in memory. Target ratio >= 0.3.

Every run makes its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import (
    POSTGRES_ADMIN_URL,
    StatementCounter,
    Target,
    asyncpg_dsn,
    emit,
    figure,
    median,
    percentile,
    progress,
    settle,
    temporary_postgres,
)
from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from core.database import Database, UTCDateTime

BENCH = "ledger"
SEED = 20261122
FILL_CHUNK = 10_000
FILL_COLUMNS = ["seq", "stream", "type", "recorded_at", "leaf", "leaf_hash"]
FILL_EPOCH = datetime(2026, 1, 5, 1, 30, tzinfo=timezone.utc)

Event = tuple[str, str, Actor | None, dict[str, Any]]


# --- realistic events ---------------------------------------------------------------------

COMPANIES = [
    "北京市政建设集团有限责任公司", "上海城建市政工程（集团）有限公司", "中铁十四局集团有限公司",
    "广东省建筑工程集团有限公司", "浙江交工集团股份有限公司", "四川路桥建设集团股份有限公司",
    "Siemens Healthineers (China) Co., Ltd.", "中国电建集团华东勘测设计研究院有限公司",
]
DOC_KINDS = ["商务标", "技术标", "资格审查文件", "报价清单", "施工组织设计", "授权委托书", "业绩证明"]
CRITERIA = [("T1", "施工方案与技术措施"), ("T2", "质量管理体系与措施"), ("T3", "安全管理体系与措施"),
            ("T4", "工程进度计划与措施"), ("B1", "投标报价"), ("C1", "企业业绩与信誉")]
REGIONS = ["110105", "310115", "440305", "330106", "510107", "420106"]


def _hex(rng: random.Random, nbytes: int) -> str:
    return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


def _uscc(rng: random.Random) -> str:
    return "91" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(16))


class EventMaker:
    """Deterministic, varied platform events of a few hundred bytes to about 1 KB of JSON."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actors = [self._actor(number) for number in range(64)]

    def _actor(self, number: int) -> Actor:
        role = [Role.BIDDER, Role.EXPERT, Role.AGENCY, Role.CENTER_STAFF, Role.TENDERER][number % 5]
        return Actor(
            user_id=1000 + number,
            username=f"{role.value}{number:04d}",
            roles=frozenset({role}),
            party_id=number if role in (Role.BIDDER, Role.AGENCY, Role.TENDERER) else None,
            cert_fingerprint=_hex(self.rng, 32),
            source_address=f"10.{number % 7}.{number % 13}.{number + 10}",
        )

    def event(self) -> Event:
        kind = self.rng.random()
        if kind < 0.4:
            return self._bid_submitted()
        if kind < 0.7:
            return self._score_recorded()
        if kind < 0.85:
            return self._tender_published()
        return self._user_signed_in()

    def _money(self, low: int, high: int) -> Decimal:
        return Decimal(self.rng.randint(low * 100, high * 100)) / 100

    def _bid_submitted(self) -> Event:
        rng = self.rng
        bid = rng.randint(1, 10**7)
        payload = {
            "bid_id": bid,
            "tender_id": rng.randint(1, 10**5),
            "lot": rng.randint(1, 6),
            "bidder": {"party_id": rng.randint(1, 10**5), "uscc": _uscc(rng), "name": rng.choice(COMPANIES)},
            "price": self._money(10_000, 90_000_000),
            "currency": "CNY",
            "documents": [
                {"kind": rng.choice(DOC_KINDS), "sha256": _hex(rng, 32), "size": rng.randint(10_000, 50_000_000)}
                for _ in range(rng.randint(1, 4))
            ],
            "envelope": {"algorithm": "SM4-GCM", "key_id": _hex(rng, 8)},
            "submitted_at": FILL_EPOCH + timedelta(seconds=rng.randint(0, 10**7)),
        }
        return f"bid:{bid}", "trading.bid_submitted", rng.choice(self.actors), payload

    def _score_recorded(self) -> Event:
        rng = self.rng
        evaluation = rng.randint(1, 10**6)
        payload = {
            "evaluation_id": evaluation,
            "bid_id": rng.randint(1, 10**7),
            "expert_id": rng.randint(1, 5000),
            "scores": [
                {"criterion": code, "title": title, "score": self._money(0, 30), "weight": Decimal("0.15")}
                for code, title in rng.sample(CRITERIA, rng.randint(2, 5))
            ],
            "total": self._money(40, 100),
            "signed": True,
        }
        return f"evaluation:{evaluation}", "evaluation.score_recorded", rng.choice(self.actors), payload

    def _tender_published(self) -> Event:
        rng = self.rng
        tender = rng.randint(1, 10**5)
        payload = {
            "tender_id": tender,
            "title": f"{rng.choice(['道路改造', '污水处理厂扩建', '医疗设备采购', '学校新建'])}工程第{rng.randint(1, 9)}标段",
            "region_code": rng.choice(REGIONS),
            "budget": self._money(100_000, 500_000_000),
            "procedure": rng.choice(["open", "invited", "competitive_negotiation"]),
            "industries": sorted(rng.sample(["construction", "water", "medical", "education", "it"], 2)),
            "bid_deadline": FILL_EPOCH + timedelta(days=rng.randint(20, 60)),
            "opening_at": FILL_EPOCH + timedelta(days=rng.randint(60, 70)),
        }
        return f"tender:{tender}", "trading.tender_published", rng.choice(self.actors), payload

    def _user_signed_in(self) -> Event:
        rng = self.rng
        user = rng.randint(1, 10**5)
        payload = {"user_id": user, "method": rng.choice(["certificate", "password+otp"]), "session": _hex(rng, 8)}
        return f"user:{user}", "identities.user_signed_in", rng.choice(self.actors), payload


def make_rows(start: int, end: int, seed: int) -> list[tuple[Any, ...]]:
    """Entries ``start`` to ``end - 1`` built exactly as ``append`` builds them.

    Runs in worker processes while the parent COPYs the previous chunk.
    """
    from supervision.ledger.append import LEAF_PREFIX, build_entry
    from supervision.ledger.canonical import canonical_bytes

    maker = EventMaker(seed * 1_000_003 + start)
    rows: list[tuple[Any, ...]] = []
    for seq in range(start, end):
        stream, event_type, actor, payload = maker.event()
        when = FILL_EPOCH + timedelta(milliseconds=seq * 250)
        leaf = canonical_bytes(build_entry(seq, stream, event_type, actor, payload, rfc3339(when)))
        rows.append((seq, stream, event_type, when, leaf, hashlib.sha256(LEAF_PREFIX + leaf).digest()))
    return rows


# --- figure 1: appends --------------------------------------------------------------------

PLAIN = sa.Table(
    "bench_plain_entries",
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream", sa.String(200), nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("leaf", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_bench_plain_entries_stream_seq", "stream", "seq"),
)


class Appenders:
    """The two things compared: a ledger append and a plain insert, each its own transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.plain_seq = itertools.count()

    async def ledger(self, event: Event) -> None:
        from supervision.ledger.append import append

        stream, event_type, actor, payload = event
        async with self.database.transaction() as session:
            await append(session, stream=stream, event_type=event_type, actor=actor, payload=payload)

    async def plain(self, event: Event) -> None:
        """The same row the way any application stores an event: stdlib JSON, no ledger."""
        from supervision.ledger.append import build_entry

        stream, event_type, actor, payload = event
        seq = next(self.plain_seq)
        async with self.database.transaction() as session:
            now = utcnow()
            entry = build_entry(seq, stream, event_type, actor, payload, rfc3339(now))
            leaf = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
            await session.execute(
                sa.insert(PLAIN).values(
                    seq=seq, stream=stream, type=event_type, recorded_at=now, leaf=leaf,
                    leaf_hash=hashlib.sha256(leaf).digest(),
                )
            )


async def _rate(work: Callable[[Event], Awaitable[None]], events: list[Event], tasks: int) -> float:
    """Events per second with ``tasks`` concurrent workers sharing the events."""

    async def worker(share: list[Event]) -> None:
        for event in share:
            await work(event)

    started = time.perf_counter()
    await asyncio.gather(*(worker(events[number::tasks]) for number in range(tasks)))
    return len(events) / (time.perf_counter() - started)


async def bench_appends(database: Database, appends: int, rounds: int, appenders: int) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(PLAIN.metadata.create_all)
    maker = EventMaker(SEED)
    compare = Appenders(database)
    progress("appends: warming up")
    warm = [maker.event() for _ in range(50)]
    await _rate(compare.plain, warm, 1)
    await _rate(compare.ledger, warm, 1)

    for tasks, name in ((1, "append_rate"), (appenders, "append_rate_concurrent")):
        ledger_rates: list[float] = []
        plain_rates: list[float] = []
        for number in range(rounds):
            events = [maker.event() for _ in range(appends)]
            # Alternate which goes first, so neither always gets the warmer cache.
            order = [("plain", compare.plain), ("ledger", compare.ledger)]
            if number % 2:
                order.reverse()
            for label, work in order:
                rate = await _rate(work, events, tasks)
                (plain_rates if label == "plain" else ledger_rates).append(rate)
                progress(f"{name} round {number + 1}/{rounds}: {label} {rate:.0f}/s")
        async with database.reader() as session:
            leaf_mean = await session.scalar(sa.text("SELECT avg(length(leaf))::float FROM ledger_entries"))
        with StatementCounter(database.engine) as ledger_statements:
            await compare.ledger(maker.event())
        with StatementCounter(database.engine) as plain_statements:
            await compare.plain(maker.event())
        emit(
            figure(
                BENCH, name,
                value=median(ledger_rates), unit="appends/s",
                baseline=median(plain_rates), target=Target("ratio", ">=", 0.5),
                appenders=tasks,
                note=(
                    "supervision.ledger.append via Database.transaction(), one entry per transaction "
                    f"(median of {rounds} rounds of {appends}), vs a plain INSERT of the same row "
                    "(same columns and indexes, stdlib JSON, no counter, no tree) through the same path"
                ),
                detail={
                    "ratio_median_of_rounds": round(
                        median([ledger / plain for ledger, plain in zip(ledger_rates, plain_rates, strict=True)]), 3
                    ),
                    "ledger_rounds": [round(rate) for rate in ledger_rates],
                    "plain_rounds": [round(rate) for rate in plain_rates],
                    "leaf_bytes_mean": round(leaf_mean, 1),
                    "sql_statements_per_transaction": {
                        "ledger": ledger_statements.count, "plain": plain_statements.count,
                    },
                },
            )
        )


async def reset_ledger(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text("DROP TABLE IF EXISTS bench_plain_entries"))
        await session.execute(sa.text("TRUNCATE ledger_entries, ledger_nodes, ledger_tree_heads"))
        await session.execute(sa.text("UPDATE ledger_counter SET size = 0"))
        await session.execute(sa.text("UPDATE ledger_tree_state SET built_size = 0"))


# --- the big ledger -----------------------------------------------------------------------


async def fill(url: str, entries: int, workers: int) -> dict[str, Any]:
    """``entries`` entries COPYed in, built by worker processes; the counter set to match."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    loop = asyncio.get_running_loop()
    chunks = iter([(start, min(start + FILL_CHUNK, entries)) for start in range(0, entries, FILL_CHUNK)])
    leaf_bytes = 0
    started = time.perf_counter()
    try:
        await connection.execute("SET synchronous_commit = off")
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending: deque[asyncio.Future[list[tuple[Any, ...]]]] = deque()

            def submit() -> None:
                chunk = next(chunks, None)
                if chunk is not None:
                    pending.append(loop.run_in_executor(pool, make_rows, chunk[0], chunk[1], SEED))

            for _ in range(workers + 2):
                submit()
            done = 0
            async with connection.transaction():
                while pending:
                    rows = await pending.popleft()
                    submit()
                    await connection.copy_records_to_table("ledger_entries", records=rows, columns=FILL_COLUMNS)
                    leaf_bytes += sum(len(row[4]) for row in rows)
                    done += len(rows)
                    if done % 100_000 == 0 or done == entries:
                        progress(f"fill: {done:,} entries ({time.perf_counter() - started:.0f} s)")
                await connection.execute("UPDATE ledger_counter SET size = $1 WHERE id = 1", entries)
        fill_seconds = time.perf_counter() - started
        await connection.execute("VACUUM ANALYZE ledger_entries")
        table_bytes = await connection.fetchval("SELECT pg_total_relation_size('ledger_entries')")
    finally:
        await connection.close()
    return {
        "fill_seconds": round(fill_seconds, 1),
        "leaf_bytes_mean": round(leaf_bytes / max(entries, 1), 1),
        "ledger_entries_total_mb": round(table_bytes / 2**20, 1),
    }


async def fetch_leaf_column(url: str, entries: int, column: str) -> tuple[list[bytes], float]:
    """Every entry's ``column`` in seq order, fetched by raw asyncpg; and how long that took."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    values: list[bytes] = []
    started = time.perf_counter()
    try:
        for start in range(0, entries, 50_000):
            rows = await connection.fetch(
                f"SELECT {column} FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq", start, start + 50_000
            )
            values.extend(row[0] for row in rows)
    finally:
        await connection.close()
    return values, time.perf_counter() - started


def memory_tree_seconds(leaf_hashes: list[bytes]) -> tuple[float, int]:
    """Time to hash every complete aligned interior node, level by level, in memory."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    level = leaf_hashes
    nodes = 0
    while len(level) > 1:
        level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        nodes += len(level)
    return time.perf_counter() - started, nodes


async def bench_tree_build(database: Database, url: str, entries: int, fill_detail: dict[str, Any]) -> None:
    from supervision.ledger.tree import build_tree

    progress("tree: build_tree")
    started = time.perf_counter()
    async with database.transaction() as session:
        built = await build_tree(session, entries)
    build_seconds = time.perf_counter() - started
    assert built == entries, (built, entries)
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text("VACUUM ANALYZE ledger_nodes"))
        nodes = await connection.scalar(sa.text("SELECT count(*) FROM ledger_nodes"))
    progress(f"tree: built {nodes:,} nodes in {build_seconds:.1f} s; hashing them in memory")
    leaf_hashes, _ = await fetch_leaf_column(url, entries, "leaf_hash")
    memory_seconds, memory_nodes = memory_tree_seconds(leaf_hashes)
    assert memory_nodes == nodes, (memory_nodes, nodes)
    emit(
        figure(
            BENCH, "tree_build",
            value=build_seconds, unit="s", baseline=memory_seconds, target=None,
            entries=entries, nodes=nodes,
            note=(
                "supervision.ledger.tree.build_tree over the whole ledger in one transaction, vs hashing "
                "the same interior nodes in memory from leaf hashes already fetched (information only)"
            ),
            detail=fill_detail,
        )
    )


async def bench_proofs(database: Database, entries: int, samples: int) -> None:
    from supervision.ledger import merkle
    from supervision.ledger.inspect import prove
    from supervision.ledger.models import LedgerEntry

    entries_table = LedgerEntry.__table__
    rng = random.Random(SEED)
    prove_indices = [rng.randrange(entries) for _ in range(samples)]
    lookup_indices = [rng.randrange(entries) for _ in range(samples)]
    warm_indices = [rng.randrange(entries) for _ in range(20)]

    async def one_proof(index: int) -> tuple[float, dict[str, Any]]:
        async with database.transaction() as session:
            started = time.perf_counter()
            proof = await prove(session, index, entries)
            return time.perf_counter() - started, proof

    async def one_lookup(index: int) -> float:
        async with database.transaction() as session:
            started = time.perf_counter()
            row = (await session.execute(sa.select(entries_table).where(entries_table.c.seq == index))).one()
            elapsed = time.perf_counter() - started
        assert row.seq == index
        return elapsed

    progress(f"proofs: {samples} inclusion proofs at size {entries:,}")
    for index in warm_indices:  # connections, statement caches
        await one_proof(index)
        await one_lookup(index)
    proof_times: list[float] = []
    lookup_times: list[float] = []
    path_lengths: list[int] = []
    for prove_index, lookup_index in zip(prove_indices, lookup_indices, strict=True):
        elapsed, proof = await one_proof(prove_index)
        proof_times.append(elapsed)
        path_lengths.append(len(proof["audit_path"]))
        lookup_times.append(await one_lookup(lookup_index))
    with StatementCounter(database.engine) as statements:
        await one_proof(prove_indices[0])
    # One proof checked end to end, so the timing is of proofs that are right.
    assert merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]), prove_index, entries,
        [bytes.fromhex(node) for node in proof["audit_path"]], bytes.fromhex(proof["root_hash"]),
    )
    emit(
        figure(
            BENCH, "proof_latency",
            value=median(proof_times) * 1000, unit="ms", baseline=median(lookup_times) * 1000,
            target=Target("value", "<", 5.0),
            entries=entries, samples=samples,
            note=(
                "median of supervision.ledger.inspect.prove(session, index, size) for random indices in a "
                "fresh transaction each (as the HTTP route does); baseline: median of one primary-key "
                "SELECT of a random entry the same way, so ratio = proof cost in single-row lookups"
            ),
            detail={
                "proof_p90_ms": round(percentile(proof_times, 0.9) * 1000, 3),
                "lookup_p90_ms": round(percentile(lookup_times, 0.9) * 1000, 3),
                "audit_path_median": median(path_lengths),
                "sql_statements_per_proof": statements.count,
            },
        )
    )


async def bench_verify(database: Database, url: str, entries: int) -> None:
    from ca_interop.platform_keys import Ed25519PlatformSigner
    from supervision.ledger.heads import sign_head
    from supervision.ledger.verify import verify_ledger

    with tempfile.TemporaryDirectory() as directory:
        signer = Ed25519PlatformSigner.load_or_create(Path(directory) / "key.pem")
        async with database.transaction() as session:
            head = await sign_head(session, signer)
    assert head.tree_size == entries
    progress(f"verify: verify_ledger over {entries:,} entries")
    started = time.perf_counter()
    async with database.reader() as session:
        report = await verify_ledger(session)
    verify_seconds = time.perf_counter() - started
    assert report.ok and report.heads_checked == 1 and report.size == entries, report

    progress("verify: raw sha256 over the same leaves")
    leaves, fetch_seconds = await fetch_leaf_column(url, entries, "leaf")
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for leaf in leaves:
        sha256(leaf).digest()
    hash_seconds = time.perf_counter() - started
    hashed = sum(len(leaf) for leaf in leaves)
    assert hashed == report.bytes_hashed, (hashed, report.bytes_hashed)
    del leaves
    emit(
        figure(
            BENCH, "verify_rate",
            value=report.bytes_hashed / verify_seconds, unit="bytes/s",
            baseline=hashed / hash_seconds, target=Target("ratio", ">=", 0.3),
            entries=entries,
            note=(
                "supervision.ledger.verify.verify_ledger (one signed head) bytes hashed per second of its "
                "run, vs hashlib.sha256 over each stored leaf once, already fetched into memory"
            ),
            detail={
                "verify_seconds": round(verify_seconds, 2),
                "bytes": hashed,
                "sha256_seconds": round(hash_seconds, 3),
                "raw_asyncpg_fetch_seconds": round(fetch_seconds, 2),
                # The floor of any verifier that fetches the leaves to the client: a raw
                # asyncpg fetch of them plus the hashing, nothing else.
                "fetch_plus_sha256_bytes_per_s": round(hashed / (fetch_seconds + hash_seconds)),
                "ratio_vs_fetch_plus_sha256": round(verify_seconds and (fetch_seconds + hash_seconds) / verify_seconds, 3),
            },
        )
    )


# --- command line -------------------------------------------------------------------------

PARTS = ("append", "tree")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=None, help="entries in the big ledger (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 entries, few appends")
    parser.add_argument("--appends", type=int, default=None, help="appends per round per figure")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of plain/ledger appends")
    parser.add_argument("--appenders", type=int, default=4, help="concurrent appenders in the second figure")
    parser.add_argument("--proofs", type=int, default=None, help="inclusion proofs timed (default 200)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes building fill rows")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts (repeatable)")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL of the PostgreSQL server")
    args = parser.parse_args(argv)
    quick = args.quick
    args.entries = args.entries or (20_000 if quick else 1_000_000)
    args.appends = args.appends or (100 if quick else 300)
    args.rounds = args.rounds or (3 if quick else 10)
    args.proofs = args.proofs or (100 if quick else 200)
    args.only = args.only or list(PARTS)
    return args


async def run(args: argparse.Namespace) -> None:
    async with temporary_postgres(args.postgres_url, prefix="bench_ledger") as url:
        database = Database(url)
        try:
            if "append" in args.only:
                await settle(url)
                await bench_appends(database, args.appends, args.rounds, args.appenders)
                await reset_ledger(database)
            if "tree" in args.only:
                progress(f"fill: {args.entries:,} entries with {args.workers} worker processes")
                fill_detail = await fill(url, args.entries, args.workers)
                await settle(url)
                await bench_tree_build(database, url, args.entries, fill_detail)
                await settle(url)
                await bench_proofs(database, args.entries, args.proofs)
                await bench_verify(database, url, args.entries)
        finally:
            await database.dispose()


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    return 0

"""Expert pool on PostgreSQL: a draw from 1,000,000 experts, and notification throughput through a real worker.

Figures (one JSON line each, see bench/common.py for the format):

- ``draw_latency``: p95 ms of ``expert_pool.draws.request_draw`` (the whole use case: the
  eligibility query with avoidance, leave, term and frequency limit; the snapshot and its
  commitment; the draw, its secret and the ledger entry), each in its own
  ``Database.transaction()`` that is COMMITTED (the task it enqueues goes to a throwaway file
  broker nobody consumes), for quotas {A04: 5, C02: 2}, 5 parties to avoid, region rule
  remote_pool. Baseline: p95 of a plain indexed SELECT of the same specialties' admitted
  experts (no avoidance, leave, term or frequency check) through the same session path.
  Target p95 < 100 ms. ``detail`` splits the use case into its phases and checks once that
  the snapshot equals the one a straightforward query over the base tables gives.
- ``notify_rate``: calls placed per second through one real worker subprocess (``bidhall
  worker --pool solo``, file broker, simulator accepting every call) from the commit of a batch
  of draws until the last of them is filled; baseline: the same task executions
  (``expert_pool.notify_next`` + ``expert_pool.send_invitation``) called in-process, one after
  the other, so the ratio is what the queue costs; ``detail`` also gives the in-process run
  with the per-process snapshot cache off, for as many other draws. Information only.

The pool (default 1,000,000 experts; ``--quick`` 50,000) is COPYed in, built by worker
processes, with the draw index rows the application would have written for it; every run
makes its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

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

BENCH = "experts"
SEED = 20261123
FILL_CHUNK = 10_000
REPO_ROOT = Path(__file__).resolve().parents[1]

# Fujian's nine prefecture-level cities; Fuzhou and Xiamen hold more experts.
REGIONS = ["350100", "350200", "350300", "350400", "350500", "350600", "350700", "350800", "350900"]
REGION_WEIGHTS = [24, 20, 8, 6, 16, 9, 5, 6, 6]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌辉鹏宇浩凯健俊峰婷雪琳晨"
EMPLOYER_NAMES = ["福建省建筑设计研究院", "厦门大学", "福州大学", "福建省交通规划设计院", "福建省水利水电勘测设计研究院",
                  "福建医科大学附属协和医院", "国网福建省电力有限公司", "福建省信息化工程监理公司", "华侨大学",
                  "福建省会计师协会", "福建理工大学", "中国移动福建公司", "福建建工集团有限责任公司",
                  "中建海峡建设发展有限公司", "福建省港航勘察设计院", "福州市规划设计研究院集团有限公司"]
PARTY_COUNT = 200  # tenderers/bidders the experts may be tied to
EMPLOYER_COUNT = 5_000  # employers with a credit code; the first PARTY_COUNT are those parties
RELATION_KINDS = ["employment", "directorship", "shareholding", "relative_employer"]
BIRTH_BASE = date(1958, 1, 1)

EXPERT_COLUMNS = ["id", "code", "name", "id_number", "phone", "employer_name", "employer_uscc", "region_code",
                  "title", "years_of_practice", "birth_date", "status", "status_reason", "suspended_until",
                  "term_until", "user_id", "created_at", "updated_at"]
SPECIALTY_COLUMNS = ["expert_id", "code"]
DRAW_INDEX_COLUMNS = ["expert_id", "specialty", "expert_code", "region_code", "term_until"]
RELATION_COLUMNS = ["id", "expert_id", "kind", "party_uscc", "party_name", "start_date", "end_date"]
LEAVE_COLUMNS = ["id", "expert_id", "start_date", "end_date", "reason"]
DRAW_COLUMNS = ["id", "lot_reference", "evaluation_at", "venue", "region_rule", "region_code", "quotas",
                "avoid_parties", "status", "seed_commitment", "snapshot_commitment", "requested_by", "created_at",
                "revealed_at"]
CALL_COLUMNS = ["id", "draw_id", "position", "specialty", "expert_id", "salt", "answer", "called_at", "invited_at",
                "provider_reference", "answered_at"]

# The draw measured: two specialties with tens of thousands of eligible experts each.
QUOTAS = {"A04": 5, "C02": 2}
NOTIFY_QUOTAS = {"A04": 3, "C02": 2}  # 5 calls per draw in the notification figure


def party_code(number: int) -> str:
    from core.uscc import make_uscc

    return make_uscc(f"91350100MA{number:07d}")


def employer_code(number: int) -> str:
    """Employer ``number``; the first ``PARTY_COUNT`` employers are the parties themselves."""
    from core.uscc import make_uscc

    return party_code(number) if number < PARTY_COUNT else make_uscc(f"91350200MB{number:07d}")


def specialty_leaves() -> dict[str, list[str]]:
    """Each second-level code (A04...) and the leaf codes under it (itself when it has none)."""
    from expert_pool.classification import default_classification

    table = default_classification()
    second = [category.code for category in table if category.level == 2]
    leaves: dict[str, list[str]] = {}
    for code in second:
        below = [child for child in table.descendants(code) if not table.children(child)]
        leaves[code] = below or [code]
    return leaves


def specialty_weights(codes: list[str]) -> list[float]:
    """A fixed uneven spread: some specialties are four times as common as others."""
    rng = random.Random(SEED)
    return [0.4 + 1.2 * rng.random() for _ in codes]


# --- the pool, built in worker processes ------------------------------------------------------


def make_rows(start: int, end: int, today_ordinal: int) -> dict[str, list[tuple[Any, ...]]]:
    """Experts ``start + 1`` to ``end`` with their specialties, relations and leave.

    Deterministic per chunk. Runs in worker processes while the parent COPYs the previous chunk.
    """
    from core.person_id import make_person_id

    today = date.fromordinal(today_ordinal)
    rng = random.Random(SEED * 1_000_003 + start)
    leaves = specialty_leaves()
    second = list(leaves)
    weights = specialty_weights(second)
    cumulative = list(_accumulate(weights))
    employers = {}  # memo: make_uscc is cheap but not free
    created = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)
    experts: list[tuple[Any, ...]] = []
    specialties: list[tuple[Any, ...]] = []
    draw_index: list[tuple[Any, ...]] = []  # what expert_pool.draw_index writes for an admitted expert
    relations: list[tuple[Any, ...]] = []
    leave: list[tuple[Any, ...]] = []
    for index in range(start, end):
        expert_id = index + 1
        # (address code, birth date, sequence) is a bijection of the index: ID numbers are unique.
        rest = index // 9
        born = BIRTH_BASE + timedelta(days=(rest // 1000 * 97) % 12_000)
        id_number = make_person_id(f"{REGIONS[index % 9]}{born:%Y%m%d}{rest % 1000:03d}")
        if rng.random() < 0.7:
            number = rng.randrange(EMPLOYER_COUNT)
            uscc = employers.get(number) or employers.setdefault(number, employer_code(number))
            employer = f"{EMPLOYER_NAMES[number % len(EMPLOYER_NAMES)]}{number:04d}"
        else:
            uscc, employer = None, rng.choice(EMPLOYER_NAMES)
        senior = rng.random() < 0.8
        when = created + timedelta(seconds=rng.randrange(60 * 86_400 * 12))
        experts.append((
            expert_id, f"E{expert_id:07d}",
            rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else ""),
            id_number, f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", employer, uscc,
            rng.choices(REGIONS, REGION_WEIGHTS)[0], "senior" if senior else "mid", rng.randrange(8, 36), born,
            "admitted", None, None, today + timedelta(days=rng.randrange(30, 5 * 365)), None, when, when,
        ))
        row = experts[-1]
        code, region, term = row[1], row[7], row[14]  # code, region_code, term_until
        wanted = rng.randrange(1, 4)
        chosen: set[str] = set()
        while len(chosen) < wanted:
            chosen.add(second[_pick(cumulative, rng.random())])
        for second_level in sorted(chosen):
            held = rng.choice(leaves[second_level])
            specialties.append((expert_id, held))
            draw_index.append((expert_id, held, code, region, term))
        if rng.random() < 0.05:
            for number in range(rng.randrange(1, 3)):
                party = rng.randrange(PARTY_COUNT)
                began = today - timedelta(days=rng.randrange(365, 20 * 365))
                ended = None if rng.random() < 0.6 else today - timedelta(days=rng.randrange(30, 6 * 365))
                relations.append((expert_id * 2 + number, expert_id, rng.choice(RELATION_KINDS), party_code(party),
                                  f"合作单位{party:03d}有限公司", began, ended if ended is None or ended > began else None))
        if rng.random() < 0.03:
            begins = today + timedelta(days=rng.randrange(-30, 60))
            leave.append((expert_id, expert_id, begins, begins + timedelta(days=rng.randrange(2, 30)),
                          rng.choice(["年休假", "出差", "病假", "培训"])))
    return {"experts": experts, "specialties": specialties, "draw_index": draw_index, "relations": relations,
            "leave": leave}


def _accumulate(weights: list[float]) -> list[float]:
    total, running = sum(weights), 0.0
    out = []
    for weight in weights:
        running += weight / total
        out.append(running)
    return out


def _pick(cumulative: list[float], point: float) -> int:
    for position, edge in enumerate(cumulative):
        if point < edge:
            return position
    return len(cumulative) - 1


def history_rows(experts: int, today: date) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Past draws (one per 200 experts), 7 accepted calls each within the last 60 days, so the
    frequency limit has something to count (some experts reach it)."""
    rng = random.Random(SEED + 1)
    draws: list[tuple[Any, ...]] = []
    calls: list[tuple[Any, ...]] = []
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    busy = [rng.randrange(1, experts + 1) for _ in range(max(experts // 2000, 5))]  # the frequently drawn
    for draw_id in range(1, max(experts // 200, 10) + 1):
        at = now - timedelta(days=rng.randrange(1, 60), hours=rng.randrange(24))
        draws.append((draw_id, f"HIST-{draw_id}", at, "福州评标中心", "remote_pool", None,
                      json.dumps({"A04": 7}), json.dumps([]), "revealed", f"{draw_id:064x}", f"{draw_id:064x}",
                      None, at - timedelta(days=3), at + timedelta(days=1)))
        chosen: set[int] = set()
        while len(chosen) < 7:
            chosen.add(rng.choice(busy) if rng.random() < 0.2 else rng.randrange(1, experts + 1))
        for position, expert_id in enumerate(sorted(chosen)):
            called = at - timedelta(days=2)
            calls.append((len(calls) + 1, draw_id, position, "A04", expert_id, f"{rng.getrandbits(64):016x}" * 2,
                          "accepted", called, called, "call:SIM", called + timedelta(minutes=3)))
    return draws, calls


async def fill(url: str, experts: int, workers: int) -> dict[str, Any]:
    """``experts`` admitted experts and their rows COPYed in; the sequences set to match."""
    import asyncpg

    from expert_pool.service import today as shanghai_today

    today = shanghai_today()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    loop = asyncio.get_running_loop()
    chunks = iter([(start, min(start + FILL_CHUNK, experts)) for start in range(0, experts, FILL_CHUNK)])
    counts = Counter[str]()
    started = time.perf_counter()
    try:
        await connection.execute("SET synchronous_commit = off")
        try:
            # The rows are consistent by construction: skip the per-row foreign-key triggers,
            # as pg_restore --disable-triggers does (needs a superuser; optional).
            await connection.execute("SET session_replication_role = replica")
            triggers = "skipped"
        except asyncpg.PostgresError as error:
            progress(f"fill: foreign-key checks stay on ({error})")
            triggers = "checked"
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending: deque[asyncio.Future[dict[str, list[tuple[Any, ...]]]]] = deque()

            def submit() -> None:
                chunk = next(chunks, None)
                if chunk is not None:
                    pending.append(loop.run_in_executor(pool, make_rows, chunk[0], chunk[1], today.toordinal()))

            for _ in range(workers + 2):
                submit()
            done = 0
            async with connection.transaction():
                while pending:
                    rows = await pending.popleft()
                    submit()
                    for table, key, columns in (
                        ("expert_pool_experts", "experts", EXPERT_COLUMNS),
                        ("expert_pool_specialties", "specialties", SPECIALTY_COLUMNS),
                        ("expert_pool_draw_index", "draw_index", DRAW_INDEX_COLUMNS),
                        ("expert_pool_relations", "relations", RELATION_COLUMNS),
                        ("expert_pool_unavailability", "leave", LEAVE_COLUMNS),
                    ):
                        if rows[key]:
                            await connection.copy_records_to_table(table, records=rows[key], columns=columns)
                        counts[key] += len(rows[key])
                    done += len(rows["experts"])
                    if done % 100_000 == 0 or done == experts:
                        progress(f"fill: {done:,} experts ({time.perf_counter() - started:.0f} s)")
                draws, calls = history_rows(experts, today)
                await connection.copy_records_to_table("expert_pool_draws", records=draws, columns=DRAW_COLUMNS)
                await connection.copy_records_to_table("expert_pool_draw_calls", records=calls, columns=CALL_COLUMNS)
                counts["history_draws"], counts["history_calls"] = len(draws), len(calls)
                for table in ("expert_pool_experts", "expert_pool_relations", "expert_pool_unavailability",
                              "expert_pool_draws", "expert_pool_draw_calls"):
                    await connection.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        copy_seconds = time.perf_counter() - started
        await connection.execute("RESET session_replication_role")
        # VACUUM also sets the visibility map the draw index's index-only scans rely on.
        for table in ("expert_pool_experts", "expert_pool_specialties", "expert_pool_draw_index",
                      "expert_pool_relations", "expert_pool_unavailability", "expert_pool_draws",
                      "expert_pool_draw_calls"):
            await connection.execute(f"VACUUM ANALYZE {table}")
        fill_seconds = time.perf_counter() - started
        sizes = await connection.fetchrow(
            "SELECT pg_total_relation_size('expert_pool_experts') AS experts, "
            "pg_total_relation_size('expert_pool_specialties') AS specialties, "
            "pg_total_relation_size('expert_pool_draw_index') AS draw_index")
    finally:
        await connection.close()
    return {
        "fill_seconds": round(fill_seconds, 1),
        "copy_seconds": round(copy_seconds, 1),
        "rows": dict(counts),
        "foreign_key_triggers": triggers,
        "experts_table_mb": round(sizes["experts"] / 2**20, 1),
        "specialties_table_mb": round(sizes["specialties"] / 2**20, 1),
        "draw_index_table_mb": round(sizes["draw_index"] / 2**20, 1),
    }


# --- figure 1: a draw from the big pool -----------------------------------------------------


def range_end(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (codes are ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Phases:
    """Times the parts of ``request_draw`` from the outside, by wrapping the names it looks up
    in its module (nothing of the project is edited; ``restore`` puts them back)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self._restore: list[Callable[[], None]] = []

    def _add(self, name: str, seconds: float) -> None:
        self.last[name] = self.last.get(name, 0.0) + seconds

    def install(self) -> None:
        from expert_pool import draws

        algorithm = draws.algorithm
        eligible_snapshot = draws.eligible_snapshot
        append = draws.append

        async def timed_eligible(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await eligible_snapshot(*args, **kwargs)
            finally:
                self._add("eligibility", time.perf_counter() - started)

        def timed_snapshot(pool: Any) -> Any:
            started = time.perf_counter()
            snapshot = algorithm.Snapshot(pool)
            snapshot.commitment  # noqa: B018 - computed later anyway; counted here, where it belongs
            self._add("snapshot", time.perf_counter() - started)
            return snapshot

        def timed_check(snapshot: Any, quotas: Any) -> Any:
            started = time.perf_counter()
            try:
                return algorithm.check_quotas(snapshot, quotas)
            finally:
                self._add("snapshot", time.perf_counter() - started)

        # append's first statement (reserve_sequence's UPDATE) autoflushes the pending DrawSecret,
        # whose JSON is the whole snapshot: this phase holds that insert too.
        async def timed_append(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await append(*args, **kwargs)
            finally:
                self._add("secret_flush_and_ledger_append", time.perf_counter() - started)

        proxy = types.ModuleType(algorithm.__name__)
        proxy.__dict__.update(algorithm.__dict__)
        proxy.Snapshot = timed_snapshot  # type: ignore[attr-defined]
        proxy.check_quotas = timed_check  # type: ignore[attr-defined]
        draws.algorithm, draws.eligible_snapshot, draws.append = proxy, timed_eligible, timed_append  # type: ignore[assignment]

        def restore() -> None:
            draws.algorithm, draws.eligible_snapshot, draws.append = algorithm, eligible_snapshot, append  # type: ignore[assignment]

        self._restore.append(restore)

    def restore(self) -> None:
        while self._restore:
            self._restore.pop()()


class DrawBench:
    """The use case and its baseline, sample by sample, on the filled database."""

    def __init__(self, database: Any, staff: Any, seed: int) -> None:
        self.database = database
        self.staff = staff
        self.rng = random.Random(seed)
        self.serial = 0

    def request(self, quotas: dict[str, int]) -> Any:
        from core.clock import utcnow
        from expert_pool.schemas import DrawRequest

        self.serial += 1
        parties = [party_code(number) for number in self.rng.sample(range(PARTY_COUNT), 5)]
        return DrawRequest(
            lot_reference=f"FJ-BENCH-{self.serial}/1", venue="福州市公共资源交易中心 评标室5",
            evaluation_at=utcnow() + timedelta(days=2, hours=self.rng.randrange(8)),
            region_rule="remote_pool", quotas=quotas, avoid_parties=parties,
        )

    async def draw(self, quotas: dict[str, int]) -> tuple[float, float, Any]:
        """One committed ``request_draw``: (seconds of the call, seconds including the commit, draw)."""
        from expert_pool.draws import request_draw

        data = self.request(quotas)
        async with self.database.transaction() as session:
            started = time.perf_counter()
            draw = await request_draw(session, self.staff, data)
            called = time.perf_counter() - started
        return called, time.perf_counter() - started, draw

    async def plain(self, specialties: list[str]) -> tuple[float, int]:
        """The baseline: each specialty's admitted experts by one indexed join, same session path."""
        from expert_pool.models import Expert, ExpertSpecialty

        started = time.perf_counter()
        found = 0
        async with self.database.transaction() as session:
            for specialty in sorted(specialties):
                query = (
                    sa.select(Expert.code).join(ExpertSpecialty, ExpertSpecialty.expert_id == Expert.id)
                    .where(ExpertSpecialty.code >= specialty, ExpertSpecialty.code < range_end(specialty),
                           Expert.status == "admitted")
                )
                found += len(sorted((await session.scalars(query)).all()))
        return time.perf_counter() - started, found


class StatementTimer:
    """Wall time of each SQL statement (execute, rows fetched) while attached, by its first words."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self._event = event
        self._engine = engine.sync_engine
        self.seconds: Counter[str] = Counter()
        self._started: dict[int, float] = {}

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = self._started.pop(id(cursor), None)
        if started is not None:
            self.seconds[_statement_kind(statement)] += time.perf_counter() - started

    def __enter__(self) -> Self:
        self._event.listen(self._engine, "before_cursor_execute", self._before)
        self._event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._event.remove(self._engine, "before_cursor_execute", self._before)
        self._event.remove(self._engine, "after_cursor_execute", self._after)


def _statement_kind(statement: str) -> str:
    words = statement.split()
    if not words:
        return "?"
    verb = words[0].upper()
    if verb == "INSERT" and len(words) > 2:
        return f"INSERT {words[2]}"
    if verb in ("UPDATE", "DELETE") and len(words) > 1:
        return f"{verb} {words[1] if verb == 'UPDATE' else words[2]}"
    if verb == "WITH":  # the eligibility statement: name every table it reads
        return "WITH ... SELECT " + "+".join(sorted(set(re.findall(r"\bFROM\s+(expert_pool_\w+)", statement))))
    match = re.search(r"\bFROM\s+(\w+)", statement)
    return f"SELECT {match.group(1)}" if match else verb


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def sample_draws(bench: DrawBench, samples: int, warmup: int, label: str) -> dict[str, Any]:
    """``samples`` draws and as many baselines, interleaved in a rotating order so that neither
    always runs first."""
    phases = Phases()
    phases.install()
    kinds = ["draw", "plain"]
    runs: dict[str, dict[str, Any]] = {
        kind: {"totals": [], "calls": [], "per_phase": {}, "statements": Counter()}
        for kind in kinds if kind != "plain"}
    plains: list[float] = []
    try:
        for number in range(warmup):
            await bench.draw(QUOTAS)
            await bench.plain(list(QUOTAS))
        for number in range(samples):
            shift = number % len(kinds)
            for which in kinds[shift:] + kinds[:shift]:
                if which == "plain":
                    seconds, _ = await bench.plain(list(QUOTAS))
                    plains.append(seconds)
                    continue
                run = runs[which]
                phases.last = {}
                with StatementTimer(bench.database.engine) as timer:
                    called, total, _ = await bench.draw(QUOTAS)
                run["statements"].update(timer.seconds)
                run["calls"].append(called)
                run["totals"].append(total)
                known = sum(phases.last.values())
                for name, seconds in {**phases.last, "inserts_and_rest": called - known,
                                      "commit_and_enqueue": total - called}.items():
                    run["per_phase"].setdefault(name, []).append(seconds)
            progress(f"{label}: sample {number + 1}/{samples}: "
                     + ", ".join(f"{kind} {run['totals'][-1] * 1000:.0f} ms" for kind, run in runs.items())
                     + f", plain {plains[-1] * 1000:.0f} ms")
    finally:
        phases.restore()
    return _summary(runs["draw"], plains)


def _summary(run: dict[str, Any], plains: list[float]) -> dict[str, Any]:
    per_phase, totals = run["per_phase"], run["totals"]
    return {
        "totals": totals, "calls": run["calls"], "plains": plains,
        "phases_median_ms": {name: _ms(median(values)) for name, values in per_phase.items()},
        "phases_p95_ms": {name: _ms(percentile(values, 0.95)) for name, values in per_phase.items()},
        "sql_ms_per_draw_by_statement": {kind: _ms(seconds / max(len(totals), 1))
                                         for kind, seconds in run["statements"].most_common()},
    }


async def eligible_counts(database: Any, url: str) -> dict[str, Any]:
    """How many admitted experts hold each quota specialty, and the eligible count for one draw."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        holders = {
            code: await connection.fetchval(
                "SELECT count(DISTINCT expert_id) FROM expert_pool_specialties WHERE code >= $1 AND code < $2",
                code, range_end(code))
            for code in QUOTAS
        }
        settings = {row["name"]: row["value"] for row in await connection.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'jit', "
            "'jit_above_cost', 'jit_inline_above_cost', 'jit_optimize_above_cost', 'effective_cache_size', "
            "'random_page_cost', 'max_parallel_workers_per_gather')")}
        settings["lc_collate"] = await connection.fetchval(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()")
        settings["server_version"] = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return {"holders": holders, "server": settings}


def eligibility_query(data: Any) -> Any:
    """The one statement ``eligible_snapshot`` runs on PostgreSQL for the request ``data``."""
    from core.clock import to_shanghai
    from expert_pool import eligibility

    criteria = eligibility._Criteria(to_shanghai(data.evaluation_at).date(), data.evaluation_at,
                                     sorted(data.avoid_parties), None, eligibility.FrequencyLimit())
    return eligibility._snapshot_query(sorted(data.quotas), criteria, aggregate=True)


def eligibility_sql(data: Any) -> str:
    """That statement with its values inlined."""
    from sqlalchemy.dialects import postgresql

    return str(eligibility_query(data).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _plan_lines(node: dict[str, Any], depth: int = 0) -> list[str]:
    what = node["Node Type"]
    if node.get("Join Type") and node["Join Type"] != "Inner":
        what += f" ({node['Join Type']})"
    if node.get("Relation Name"):
        what += f" on {node['Relation Name']}"
    if node.get("Index Name"):
        what += f" using {node['Index Name']}"
    for key in ("Index Cond", "Hash Cond", "Recheck Cond", "Filter", "Subplan Name", "Parent Relationship"):
        if key == "Parent Relationship" and node.get(key) != "SubPlan":
            continue
        if node.get(key):
            text = str(node[key])
            what += f" [{key}: {text[:90] + '…' if len(text) > 90 else text}]"
    loops = node.get("Actual Loops", 1)
    line = (f"{'  ' * depth}{what}: rows={node.get('Actual Rows')} loops={loops} "
            f"ms={round(node.get('Actual Total Time', 0) * loops, 1)}")
    lines = [line]
    for child in node.get("Plans", []):
        lines.extend(_plan_lines(child, depth + 1))
    return lines


async def explain(url: str, sql: str, generic: tuple[str, list[Any]] | None = None) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one query, summarised: times, JIT, the plan tree.

    With ``generic`` (the statement with $n parameters as the driver sends it, and its values):
    the plan PostgreSQL caches for that prepared statement after its fifth execution on a
    connection (``plan_cache_mode = force_generic_plan``), which is what the pooled
    connections of the application run from then on; otherwise the custom plan of ``sql``
    (values inlined), which is what the first five executions get."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # As eligible_snapshot sets them for its transaction (it also forces custom plans, which
        # is what a statement with its values inlined gets).
        await connection.execute("SET jit = off")
        await connection.execute("SET max_parallel_workers_per_gather = 0")
        started = time.perf_counter()
        rows = len(await connection.fetch(sql))
        fetched = time.perf_counter() - started
        if generic is None:
            [plan] = json.loads(await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"))
        else:
            statement, values = generic
            await connection.execute(f"PREPARE bench_eligible AS {statement}")
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            arguments = ", ".join(_sql_literal(value) for value in values)
            [plan] = json.loads(await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE bench_eligible({arguments})"))
    finally:
        await connection.close()
    jit = plan.get("JIT", {})
    return {
        "plan_kind": "generic (cached after 5 executions)" if generic else "custom (values inlined)",
        "rows": rows,
        "raw_fetch_ms": _ms(fetched),
        "execution_ms": round(plan["Execution Time"], 1),
        "planning_ms": round(plan.get("Planning Time", 0.0), 1),
        "jit_ms": round(jit.get("Timing", {}).get("Total", 0.0), 1) if jit else 0.0,
        "jit_options": {k: v for k, v in jit.get("Options", {}).items()} if jit else None,
        "estimated_cost": plan["Plan"]["Total Cost"],
        "estimated_rows": plan["Plan"]["Plan Rows"],
        "plan": _plan_lines(plan["Plan"]),
    }


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date | datetime):
        return f"'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


async def make_staff(database: Any) -> Any:
    """A centre-staff user to request the draws (the use case checks the role)."""
    from core.actors import SYSTEM, Role
    from identities import service
    from identities.schemas import UserCreate

    async with database.transaction() as session:
        user = await service.create_user(session, SYSTEM, UserCreate(
            username=f"bench_staff_{random.randrange(10**6)}", display_name="Bench Staff",
            password="correct horse battery staple", roles=[Role.CENTER_STAFF]))
    return service.actor_for(user)


def draw_figure(name: str, result: dict[str, Any], samples: int, target: Target | None, note: str,
                detail: dict[str, Any]) -> dict[str, Any]:
    totals, plains = result["totals"], result["plains"]
    return figure(
        BENCH, name,
        value=percentile(totals, 0.95) * 1000, unit="ms (p95)",
        baseline=percentile(plains, 0.95) * 1000, target=target,
        samples=samples, quotas=QUOTAS,
        note=note,
        detail={
            "median_ms": _ms(median(totals)),
            "p95_ms": _ms(percentile(totals, 0.95)),
            "baseline_median_ms": _ms(median(plains)),
            "baseline_p95_ms": _ms(percentile(plains, 0.95)),
            "ratio_of_medians": round(median(totals) / median(plains), 3),
            "request_draw_without_commit_median_ms": _ms(median(result["calls"])),
            "phases_median_ms": result["phases_median_ms"],
            "phases_p95_ms": result["phases_p95_ms"],
            "sql_ms_per_draw_by_statement": result["sql_ms_per_draw_by_statement"],
            **detail,
            "samples_ms": [round(seconds * 1000, 1) for seconds in totals],
            "baseline_samples_ms": [round(seconds * 1000, 1) for seconds in plains],
        },
    )


DRAW_NOTE = (
    "p95 of expert_pool.draws.request_draw (eligibility query with avoidance, leave, term and frequency "
    "limit + snapshot and commitment + draw, secret and ledger rows), each in its own Database.transaction() "
    "that is COMMITTED (its notify task goes to a throwaway file broker), quotas {A04: 5, C02: 2}, 5 parties "
    "to avoid (varied per sample), region rule remote_pool; baseline: p95 of a plain indexed join "
    "(specialties.code >= 'A04' AND < 'A05', experts.status = 'admitted') per specialty through the same "
    "session and ORM path, so ratio = the use case's cost in plain eligible-set fetches"
)


def reference_query(specialty: str, day: date, evaluation_at: datetime, avoid: list[str],
                    region_code: str | None, limit: Any) -> sa.Select[tuple[str]]:
    """The eligibility rules written the plain way, on the base tables (no draw index): one
    candidate at a time, each rule a correlated probe. Slow on a big pool; it is here to check
    that the shipped query gives the very same snapshot."""
    from expert_pool.eligibility import AVOIDANCE_DAYS
    from expert_pool.models import (
        DrawCall,
        Expert,
        ExpertRelation,
        ExpertSpecialty,
        ExpertUnavailability,
    )

    holds_specialty = sa.exists().where(
        ExpertSpecialty.expert_id == Expert.id,
        sa.or_(ExpertSpecialty.code == specialty, ExpertSpecialty.code.startswith(specialty)))
    on_leave = sa.exists().where(
        ExpertUnavailability.expert_id == Expert.id, ExpertUnavailability.start_date <= day,
        ExpertUnavailability.end_date >= day)
    related = sa.exists().where(
        ExpertRelation.expert_id == Expert.id, ExpertRelation.party_uscc.in_(avoid or [""]),
        sa.or_(ExpertRelation.end_date.is_(None),
               ExpertRelation.end_date >= day - timedelta(days=AVOIDANCE_DAYS)))
    recent = (
        sa.select(sa.func.count()).select_from(DrawCall)
        .where(DrawCall.expert_id == Expert.id, DrawCall.answer == "accepted",
               DrawCall.answered_at >= evaluation_at - timedelta(days=limit.days))
        .scalar_subquery())
    query = sa.select(Expert.code).where(
        Expert.status == "admitted", sa.or_(Expert.term_until.is_(None), Expert.term_until >= day),
        holds_specialty, ~on_leave, ~related,
        sa.or_(Expert.employer_uscc.is_(None), Expert.employer_uscc.not_in(avoid or [""])),
        recent < limit.evaluations)
    if region_code is not None:
        query = query.where(Expert.region_code.startswith(region_code.rstrip("0") or region_code))
    return query


async def same_as_reference(database: Any, bench: DrawBench) -> dict[str, Any]:
    """Whether ``eligible_snapshot`` gives, for one request, exactly what ``reference_query`` gives."""
    from core.clock import to_shanghai
    from expert_pool.eligibility import FrequencyLimit, eligible_snapshot

    data = bench.request(QUOTAS)
    day = to_shanghai(data.evaluation_at).date()
    async with database.reader() as session:
        shipped = await eligible_snapshot(session, list(QUOTAS), evaluation_at=data.evaluation_at,
                                          avoid_parties=data.avoid_parties)
        started = time.perf_counter()
        reference = {
            specialty: sorted((await session.scalars(reference_query(
                specialty, day, data.evaluation_at, data.avoid_parties, None, FrequencyLimit()))).all())
            for specialty in sorted(QUOTAS)}
        seconds = time.perf_counter() - started
    return {"same_snapshot_as_reference_query": shipped == reference,
            "eligible": {code: len(codes) for code, codes in shipped.items()},
            "reference_query_ms": _ms(seconds)}


async def bench_draw(database: Any, url: str, staff: Any, args: argparse.Namespace,
                     fill_detail: dict[str, Any]) -> None:
    counts = await eligible_counts(database, url)
    bench = DrawBench(database, staff, SEED)
    progress(f"draw: {args.samples} request_draw + {args.samples} plain selects "
             f"(specialty holders: {counts['holders']})")
    result = await sample_draws(bench, args.samples, args.warmup, "draw")
    with StatementCounter(database.engine) as statements:
        _, _, last = await bench.draw(QUOTAS)
    async with database.reader() as session:
        from expert_pool.draws import read_stored_snapshot
        from expert_pool.models import DrawSecret

        secret = await session.get(DrawSecret, last.id)
        stored = read_stored_snapshot(secret.snapshot, venues=False)
        eligible = {code: stored.eligible_count(code) for code in stored.codes}
        snapshot_json_bytes = len(json.dumps(secret.snapshot))
        # The same snapshot as lists of codes (the stored form of draws made before the compact one).
        snapshot_as_lists_json_bytes = len(json.dumps(stored.as_dict()))
    progress("draw: checking the snapshot against the plain query on the base tables")
    checked = await same_as_reference(database, bench)
    if not checked["same_snapshot_as_reference_query"]:
        progress("draw: WARNING: the eligibility query and the reference query disagree")
    target = Target("value", "<", 100.0)
    data = bench.request(QUOTAS)
    detail: dict[str, Any] = {
        "experts": args.experts,
        "eligible_in_last_draw": eligible,
        "specialty_holders": counts["holders"],
        "snapshot_json_bytes": snapshot_json_bytes,
        "snapshot_as_lists_json_bytes": snapshot_as_lists_json_bytes,
        "sql_statements_per_draw": statements.count,
        "reference_check": checked,
        "fill": fill_detail,
        "server": counts["server"],
        # The plan eligible_snapshot runs (a custom plan: made for the request's own values).
        "explain": await explain(url, eligibility_sql(data)),
    }
    emit(draw_figure("draw_latency", result, args.samples, target, DRAW_NOTE, detail))


# --- figure 2: notification throughput ---------------------------------------------------------

NOTIFY_SETTINGS = {"default": "accept", "callback_token": "bench-callback-token-0123456789"}
# Celery's default worker log line for a finished task (local time, milliseconds).
TASK_DONE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]+\] "
                       r"Task (expert_pool\.\w+)\[[^\]]+\] succeeded in ([0-9.]+)s", re.MULTILINE)


async def request_batch(database: Any, bench: DrawBench, count: int, quotas: dict[str, int]) -> list[int]:
    """``count`` draws in one transaction, so their first tasks are all sent at its commit."""
    from expert_pool.draws import request_draw

    async with database.transaction() as session:
        ids = [(await request_draw(session, bench.staff, bench.request(quotas))).id for _ in range(count)]
    return ids  # type: ignore[return-value]


async def wait_filled(url: str, draw_ids: list[int], timeout: float, worker: subprocess.Popen[bytes] | None = None,
                      log: Path | None = None) -> float:
    """Poll until every draw is filled; returns the wall-clock time of the last answer recorded."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    deadline = time.monotonic() + timeout
    try:
        while True:
            filled, calling = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'filled'), count(*) FILTER (WHERE status = 'calling') "
                "FROM expert_pool_draws WHERE id = ANY($1::int[])", draw_ids)
            if filled == len(draw_ids):
                break
            if calling + filled < len(draw_ids):
                raise RuntimeError(f"some draws ended unfilled: {len(draw_ids) - filled - calling}")
            if worker is not None and worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}): {_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {filled}/{len(draw_ids)} draws filled after {timeout:.0f} s: {_tail(log)}")
            await asyncio.sleep(0.05)
        last = await connection.fetchval(
            "SELECT max(answered_at) FROM expert_pool_draw_calls WHERE draw_id = ANY($1::int[])", draw_ids)
    finally:
        await connection.close()
    return last.timestamp()  # type: ignore[no-any-return]


async def count_calls(url: str, draw_ids: list[int]) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT coalesce(answer, 'awaited') AS answer, count(*) FROM expert_pool_draw_calls "
            "WHERE draw_id = ANY($1::int[]) GROUP BY 1", draw_ids)
    finally:
        await connection.close()
    return {row["answer"]: row["count"] for row in rows}


def _tail(log: Path | None, chars: int = 2000) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-chars:]


def start_worker(url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("BIDHALL_")},
           "BIDHALL_DATABASE_URL": url, "BIDHALL_DATA_DIR": str(data_dir), "BIDHALL_NOTIFY_PROVIDER": "simulator",
           "BIDHALL_NOTIFY_SETTINGS": json.dumps(NOTIFY_SETTINGS), "PYTHONPATH": str(REPO_ROOT)}
    with log.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--pool", "solo"], cwd=data_dir.parent,
                                env=env, stdout=sink, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


async def wait_ready(worker: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> float:
    started = time.perf_counter()
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}) before it was ready: {_tail(log)}")
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the worker was not ready after {timeout:.0f} s: {_tail(log)}")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def wait_queue_empty(data_dir: Path, timeout: float = 15) -> None:
    """Until the file broker's queue folder holds no message (tasks with a countdown are held
    by the worker, not left there)."""
    queue = data_dir / "broker" / "queue"
    deadline = time.monotonic() + timeout
    while any(name.endswith(".msg") for name in os.listdir(queue)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the last message taken may still be running


def run_tasks_in_process(draw_ids: list[int]) -> tuple[float, Counter[str]]:
    """What the worker does for these draws, as direct calls from one FIFO queue, as the worker
    takes its messages: each ``notify_next`` places the calls due and each ``send_invitation``
    (the simulator answers at once) is followed by the ``notify_next`` its ``continue_draws``
    sends. Returns the seconds until the last answer was recorded and the executions until then
    (the trailing ``notify_next``s that find nothing to do run afterwards, untimed, as in the
    worker figure)."""
    from expert_pool.tasks import notify_next, send_invitation

    executed: Counter[str] = Counter()
    until_last_answer: Counter[str] = Counter()
    draw_of: dict[int, int] = {}
    queue: deque[tuple[str, int]] = deque(("expert_pool.notify_next", draw_id) for draw_id in draw_ids)
    started = time.perf_counter()
    last_answer = started
    while queue:
        name, argument = queue.popleft()
        executed[name] += 1
        if name == "expert_pool.notify_next":
            for call_id in notify_next(argument):
                draw_of[call_id] = argument
                queue.append(("expert_pool.send_invitation", call_id))
        else:
            send_invitation(argument)
            last_answer = time.perf_counter()
            until_last_answer = executed.copy()
            queue.append(("expert_pool.notify_next", draw_of[argument]))
    return last_answer - started, until_last_answer


async def bench_notify(database: Any, url: str, staff: Any, args: argparse.Namespace, tmp: Path) -> None:
    from core.settings import load_settings
    from core.tasks import close_worker_loop, create_celery_app
    from expert_pool import tasks

    bench = DrawBench(database, staff, SEED + 7)
    calls_per_draw = sum(NOTIFY_QUOTAS.values())

    # The real worker, on its own file broker; this process sends to that broker.
    worker_dir = tmp / "worker" / "var"
    worker_dir.mkdir(parents=True)
    worker_settings = load_settings(data_dir=worker_dir, database_url=url, notify_provider="simulator",
                                    notify_settings=NOTIFY_SETTINGS)
    app = create_celery_app(worker_settings)
    log = tmp / "worker" / "worker.log"
    progress("notify: starting a worker (solo pool, file broker, simulator)")
    worker = start_worker(url, worker_dir, log)
    try:
        ready_seconds = await wait_ready(worker, log)
        warm = await request_batch(database, bench, 1, {"A04": 1})
        await wait_filled(url, warm, 120, worker, log)
        await wait_queue_empty(worker_dir)  # the warm-up draw's last notify_next too
        progress(f"notify: worker ready in {ready_seconds:.1f} s and warmed up; requesting {args.draws} draws "
                 f"of {calls_per_draw} in one transaction")
        offset = log.stat().st_size
        ids = await request_batch(database, bench, args.draws, NOTIFY_QUOTAS)
        committed = time.time()
        last_answer = await wait_filled(url, ids, args.notify_timeout, worker, log)
        polled = time.time()
    finally:
        stop_worker(worker)
        app.close()
    worker_seconds = last_answer - committed
    worker_calls = await count_calls(url, ids)
    executed: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    with log.open("rb") as source:
        source.seek(offset)
        for match in TASK_DONE.finditer(source.read().decode(errors="replace")):
            ended = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if ended - float(match.group(3)) > last_answer:
                continue  # started after the last answer: a notify_next that finds the draw filled
            executed[match.group(2)] += 1
            inside[match.group(2)] += float(match.group(3))
    progress(f"notify: worker placed {sum(worker_calls.values())} calls in {worker_seconds:.2f} s")

    # The baseline: the same task functions called in this process, one after the other.
    inprocess_settings = load_settings(data_dir=tmp / "inprocess" / "var", database_url=url,
                                       notify_provider="simulator", notify_settings=NOTIFY_SETTINGS)
    app = create_celery_app(inprocess_settings)
    tasks._provider.cache_clear()
    try:
        warm = await request_batch(database, bench, 1, {"A04": 1})
        run_tasks_in_process(warm)
        ids_inprocess = await request_batch(database, bench, args.draws, NOTIFY_QUOTAS)
        inprocess_seconds, executed_inprocess = run_tasks_in_process(ids_inprocess)
        await wait_filled(url, ids_inprocess, 10)
    finally:
        close_worker_loop()
        app.close()
    inprocess_calls = await count_calls(url, ids_inprocess)
    progress(f"notify: in-process placed {sum(inprocess_calls.values())} calls in {inprocess_seconds:.2f} s")
    uncached_seconds, uncached_calls = await inprocess_without_snapshot_cache(database, bench, args, tmp)
    progress(f"notify: in-process without the snapshot cache placed {uncached_calls} calls in "
             f"{uncached_seconds:.2f} s")
    placed = sum(worker_calls.values())
    emit(figure(
        BENCH, "notify_rate",
        value=placed / worker_seconds, unit="calls/s",
        baseline=sum(inprocess_calls.values()) / inprocess_seconds, target=None,
        draws=args.draws, calls_per_draw=calls_per_draw, experts=args.experts,
        note=(
            f"calls placed per second by one real worker subprocess (bidhall worker --pool solo, file broker, "
            f"simulator accepting every call) from the commit of {args.draws} draws of {NOTIFY_QUOTAS} (requested in "
            "one transaction, the worker already running and warmed up) to the last answer recorded; baseline: the "
            "same task functions (expert_pool.notify_next + expert_pool.send_invitation, each followed by the "
            "notify_next its answer sends) called directly in this process from one FIFO queue in the order the worker "
            "takes them, for as many other draws on the same database, timed the same way (start to last answer), so "
            "ratio = the share of the direct-call rate left after the broker and worker; information only"
        ),
        detail={
            "worker_seconds": round(worker_seconds, 3),
            "worker_seconds_by_polling": round(polled - committed, 3),
            "worker_calls": worker_calls,
            "worker_tasks_until_last_answer": dict(executed),
            "worker_seconds_inside_tasks": {name: round(seconds, 3) for name, seconds in inside.items()},
            "worker_seconds_outside_tasks": round(worker_seconds - sum(inside.values()), 3),
            "worker_ready_seconds": round(ready_seconds, 1),
            "inprocess_seconds": round(inprocess_seconds, 3),
            "inprocess_calls": inprocess_calls,
            "inprocess_tasks_until_last_answer": dict(executed_inprocess),
            "inprocess_ms_per_task": round(inprocess_seconds * 1000 / max(sum(executed_inprocess.values()), 1), 2),
            # The same in-process run with the per-process snapshot cache off: every task parses
            # its draw's stored snapshot again, as before the cache.
            "inprocess_without_snapshot_cache_seconds": round(uncached_seconds, 3),
            "inprocess_without_snapshot_cache_calls_per_second": round(uncached_calls / uncached_seconds, 2),
            "worker_ms_per_task_inside": round(sum(inside.values()) * 1000 / max(sum(executed.values()), 1), 2),
        },
    ))


async def inprocess_without_snapshot_cache(database: Any, bench: DrawBench, args: argparse.Namespace,
                                           tmp: Path) -> tuple[float, int]:
    """The in-process baseline again, for as many other draws, with ``draws.snapshot_cache``
    replaced by one that keeps nothing: (seconds to the last answer, calls placed)."""
    from core.settings import load_settings
    from core.tasks import close_worker_loop, create_celery_app
    from expert_pool import draws, tasks

    settings = load_settings(data_dir=tmp / "uncached" / "var", database_url=database.url,
                             notify_provider="simulator", notify_settings=NOTIFY_SETTINGS)
    app = create_celery_app(settings)
    tasks._provider.cache_clear()
    kept, draws.snapshot_cache = draws.snapshot_cache, draws.SnapshotCache(max_pairs=0)
    try:
        ids = await request_batch(database, bench, args.draws, NOTIFY_QUOTAS)
        seconds, _ = run_tasks_in_process(ids)
        await wait_filled(database.url, ids, 10)
    finally:
        draws.snapshot_cache = kept
        close_worker_loop()
        app.close()
    return seconds, sum((await count_calls(database.url, ids)).values())


# --- command line -----------------------------------------------------------------------------

PARTS = ("draw", "notify")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench experts", description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=None, help="experts in the pool (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50,000 experts, fewer samples")
    parser.add_argument("--samples", type=int, default=None, help="request_draw samples (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed draws first")
    parser.add_argument("--draws", type=int, default=None, help="draws in the notification figure (default 20)")
    parser.add_argument("--notify-timeout", type=float, default=300, help="seconds to wait for the worker's draws")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes building fill rows")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts (repeatable)")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL of the PostgreSQL server")
    args = parser.parse_args(argv)
    quick = args.quick
    args.experts = args.experts or (50_000 if quick else 1_000_000)
    args.samples = args.samples or (10 if quick else 30)
    args.draws = args.draws or (10 if quick else 20)
    args.only = args.only or list(PARTS)
    return args


async def settle_visibility(url: str, rounds: int = 3) -> dict[str, Any]:
    """VACUUM the draw index until its visibility map covers it (or ``rounds`` tries).

    A VACUUM right after the bulk load may leave pages not all-visible while the load's last
    transactions still count as running; with part of the map unset the planner prefers a
    bitmap heap scan (heap visits) to the index-only scan. A pool that has been live for a
    while has been vacuumed by autovacuum since its last changes: that is the state measured.
    Returns the pages and all-visible pages after each round."""
    import asyncpg

    rounds_seen = []
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for _ in range(rounds):
            await connection.execute("VACUUM ANALYZE expert_pool_draw_index")
            pages, visible = await connection.fetchrow(
                "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'expert_pool_draw_index'")
            rounds_seen.append({"pages": pages, "all_visible": visible})
            if visible >= pages:
                break
            await asyncio.sleep(1)
    finally:
        await connection.close()
    return {"after_each_vacuum": rounds_seen}


async def run(args: argparse.Namespace) -> None:
    from core.database import Database
    from core.settings import load_settings
    from core.tasks import close_worker_loop, create_celery_app

    tmp = Path(tempfile.mkdtemp(prefix="bidhall-bench-experts-"))
    try:
        async with temporary_postgres(args.postgres_url, prefix="bench_experts") as url:
            progress(f"fill: {args.experts:,} experts with {args.workers} worker processes")
            fill_detail = await fill(url, args.experts, args.workers)
            progress(f"fill: done in {fill_detail['fill_seconds']} s")
            fill_detail["draw_index_visibility"] = await settle_visibility(url)
            await settle(url)
            database = Database(url)
            # request_draw enqueues its first task after the commit: to a file broker nobody reads.
            app = create_celery_app(load_settings(data_dir=tmp / "draws" / "var", database_url=url))
            try:
                staff = await make_staff(database)
                if "draw" in args.only:
                    await bench_draw(database, url, staff, args, fill_detail)
                if "notify" in args.only:
                    await bench_notify(database, url, staff, args, tmp)
            finally:
                close_worker_loop()
                app.close()
                await database.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    return 0

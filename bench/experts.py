"""Expert pool on PostgreSQL: a draw from 1,000,000 experts, and notification throughput through a real worker.

Figures (one JSON line each, see bench/common.py for the format):

- ``draw_latency``: p95 ms of ``expert_pool.draws.request_draw`` (the whole use case: the
  eligibility query with avoidance, leave, term and frequency limit; the snapshot and its
  commitment; the draw, its secret and the ledger entry), each in its own
  ``Database.transaction()`` that is COMMITTED (the task it enqueues goes to a throwaway file
  broker nobody consumes), for quotas {A04: 5, C02: 2}, 5 parties to avoid, region rule
  remote_pool. Baseline: p95 of a plain indexed SELECT of the same specialties' admitted
  experts (no avoidance, leave, term or frequency check) through the same session path.
  Target p95 < 100 ms. ``detail`` splits the use case into its phases.
- ``draw_latency_prototype`` (only when the target is missed and ``--no-prototype`` is not
  given): the same measurement after a what-if index is created in the bench's own scratch
  database (the project's migrations are not changed). Information only.
- ``notify_rate``: calls placed per second through one real worker subprocess (``bidhall
  worker --pool solo``, file broker, simulator accepting every call) from the commit of a batch
  of draws until the last of them is filled; baseline: the same task executions
  (``expert_pool.notify_next`` + ``expert_pool.send_invitation``) called in-process, one after
  the other, so the ratio is what the queue costs. Information only.

The pool (default 1,000,000 experts; ``--quick`` 50,000) is COPYed in, built by worker
processes; every run makes its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from datetime import date, datetime, timedelta, timezone
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
    created = datetime(2024, 3, 1, 1, 0, tzinfo=timezone.utc)
    experts: list[tuple[Any, ...]] = []
    specialties: list[tuple[Any, ...]] = []
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
        wanted = rng.randrange(1, 4)
        chosen: set[str] = set()
        while len(chosen) < wanted:
            chosen.add(second[_pick(cumulative, rng.random())])
        for code in sorted(chosen):
            specialties.append((expert_id, rng.choice(leaves[code])))
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
    return {"experts": experts, "specialties": specialties, "relations": relations, "leave": leave}


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
    now = datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc)
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
        for table in ("expert_pool_experts", "expert_pool_specialties", "expert_pool_relations",
                      "expert_pool_unavailability", "expert_pool_draws", "expert_pool_draw_calls"):
            await connection.execute(f"VACUUM ANALYZE {table}")
        fill_seconds = time.perf_counter() - started
        sizes = await connection.fetchrow(
            "SELECT pg_total_relation_size('expert_pool_experts') AS experts, "
            "pg_total_relation_size('expert_pool_specialties') AS specialties")
    finally:
        await connection.close()
    return {
        "fill_seconds": round(fill_seconds, 1),
        "copy_seconds": round(copy_seconds, 1),
        "rows": dict(counts),
        "foreign_key_triggers": triggers,
        "experts_table_mb": round(sizes["experts"] / 2**20, 1),
        "specialties_table_mb": round(sizes["specialties"] / 2**20, 1),
    }

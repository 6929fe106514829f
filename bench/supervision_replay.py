"""Part of ``python -m bench supervision``: replay of a stream of 100,000 entries.

A ``user:<id>`` stream of 100,000 entries (the account created, then display-name and
industry changes with a token issued and revoked now and then) is written straight into a
scratch PostgreSQL database, in the exact form ``supervision.ledger.append`` gives
entries. Three things are timed on the same rows, each the median of a few rounds:

- replay: ``supervision.replay.replay`` to the final state (read, decode, fold through the
  identities domain's real reducer);
- reading the entries without folding them: ``supervision.replay.stream_entries``, the
  rows read and decoded into the entries every reader of a stream gets (the timeline, the
  live feed, an export);
- fetching the raw rows: the same ``SELECT``, the bytes left undecoded.

All are entries per second; ``ratio`` = replay rate / the other rate = its time / replay
time. The target, ratio >= 0.3 against reading the entries, says folding through the
reducers costs at most about twice what reading the entries costs. The second figure
(information only) shows where replay time goes besides folding: decoding the canonical
JSON of each entry, which any reader pays. ``--quick`` replays 2,000 entries once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import Target, figure, median, progress, temporary_postgres
from core.database import Database
from supervision.ledger.append import build_entry
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.models import LedgerCounter, LedgerEntry
from supervision.replay import replay, stream_entries
from web.runtime import build_registry

BENCH = "supervision"
STREAM = "user:1"
BATCH = 5_000
ENTRIES, QUICK_ENTRIES = 100_000, 2_000
ROUNDS, QUICK_ROUNDS = 3, 1


def _entry_event(number: int) -> tuple[str, dict[str, Any]]:
    """The ``number``-th event of the stream: mostly profile changes, some tokens."""
    if number == 0:
        return "identities.user_created", {
            "id": 1, "username": "inspector", "display_name": "Inspector 0", "roles": ["regulator"],
            "party_id": None, "jurisdiction": "350000", "industries": ["construction"], "is_active": True}
    if number % 50 == 1:
        return "identities.token_issued", {"id": number, "name": f"token {number}", "expires_at": None,
                                           "revoked_at": None}
    if number % 50 == 2:
        return "identities.token_revoked", {"token_id": number - 1, "revoked_at": "2026-01-01T00:00:00Z"}
    industries = ["construction", "water"] if number % 2 else ["construction"]
    return "identities.user_updated", {"display_name": f"Inspector {number}", "industries": industries}


def _rows(start: int, end: int) -> list[dict[str, Any]]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for seq in range(start, end):
        event_type, payload = _entry_event(seq)
        moment = base + timedelta(seconds=seq)
        leaf = canonical_bytes(build_entry(seq, STREAM, event_type, None, payload, moment.isoformat()))
        rows.append({"seq": seq, "stream": STREAM, "type": event_type, "recorded_at": moment, "leaf": leaf,
                     "leaf_hash": hashlib.sha256(b"\x00" + leaf).digest()})
    return rows


async def _fill(database: Database, entries: int) -> None:
    for start in range(0, entries, BATCH):
        async with database.transaction() as session:
            await session.execute(sa.insert(LedgerEntry.__table__), _rows(start, min(entries, start + BATCH)))
    async with database.transaction() as session:
        await session.execute(sa.update(LedgerCounter.__table__).values(size=entries))


async def _read_entries(database: Database) -> int:
    async with database.reader() as session:
        return len(await stream_entries(session, STREAM))


async def _read_rows(database: Database) -> int:
    table = LedgerEntry.__table__
    async with database.reader() as session:
        rows = (await session.execute(
            sa.select(table.c.leaf).where(table.c.stream == STREAM).order_by(table.c.seq))).scalars().all()
    return len(rows)


async def _replay(database: Database) -> dict[str, Any] | None:
    async with database.reader() as session:
        return await replay(session, build_registry(), STREAM)


async def _timed(work: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def measure(entries: int, rounds: int) -> list[dict[str, Any]]:
    async with temporary_postgres(prefix="replay") as url:
        database = Database(url)
        try:
            progress(f"writing {entries} entries of {STREAM}")
            await _fill(database, entries)
            await _read_rows(database)  # warm the cache for every side alike
            times: dict[str, list[float]] = {"rows": [], "entries": [], "replay": []}
            for round_number in range(rounds):
                rows_seconds, count = await _timed(lambda: _read_rows(database))
                entries_seconds, decoded = await _timed(lambda: _read_entries(database))
                replay_seconds, state = await _timed(lambda: _replay(database))
                for name, seconds in (("rows", rows_seconds), ("entries", entries_seconds),
                                      ("replay", replay_seconds)):
                    times[name].append(seconds)
                progress(f"round {round_number + 1}: rows {rows_seconds:.3f}s, entries {entries_seconds:.3f}s, "
                         f"replay {replay_seconds:.3f}s")
            if count != entries or decoded != entries or state is None \
                    or state["display_name"] != f"Inspector {entries - 1}":
                raise RuntimeError(f"replay did not reach the final state: {count} rows, state {state!r:.200}")
        finally:
            await database.dispose()
    rows, read, replayed = (median(times[name]) for name in ("rows", "entries", "replay"))
    detail = {"entries": entries, "rounds": rounds, "replay_seconds": round(replayed, 4),
              "read_entries_seconds": round(read, 4), "fetch_rows_seconds": round(rows, 4),
              "tokens_in_final_state": len(state["tokens"])}
    return [
        figure(BENCH, f"replay_{entries}_entries", value=entries / replayed, unit="entries/s",
               baseline=entries / read, target=Target("ratio", ">=", 0.3),
               note="replay to the final state against reading the same entries without folding them; "
                    "ratio = reading time / replay time", detail=detail),
        figure(BENCH, f"replay_{entries}_entries_vs_raw_rows", value=entries / replayed, unit="entries/s",
               baseline=entries / rows, target=None,
               note="the same replay against fetching the rows' bytes alone (no JSON decoding): "
                    "information, shows the cost of decoding entries", detail=detail),
    ]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The replay figure (100,000 entries; 2,000 with ``--quick``)."""
    quick = getattr(args, "quick", False)
    return asyncio.run(measure(QUICK_ENTRIES if quick else ENTRIES, QUICK_ROUNDS if quick else ROUNDS))

"""Part of ``python -m bench supervision``: warning rules over a day of 1,000 projects.

A day of activity is written straight into a scratch PostgreSQL database (bulk inserts into
the tables the rules read, no use case run: the rules only read), for ``PROJECTS``
projects of one lot each:

- the project and its first lot (bid deadline and opening within the day), and a second lot
  whose tender notice goes out that day (its deadline weeks later);
- five bids from a pool of 300 bidder parties (drawn at random with a fixed seed), each with its ``trading.bid_submitted``
  ledger entry carrying the source address, built as ``supervision.ledger.append`` does;
- the opening and five opened rows, each with a bid package in a scratch blob store (the
  opening sheet and one small .docx; the same .docx bytes shared by packages of one bidder,
  as a real bidder reuses its templates);
- the award and its two candidates; a draw filled in the ledger, an evaluation session with
  three experts drawn from a pool of 300, the ranked bids, a score flagged in one session of
  ten, and draw calls one in twenty of which was declined.

One project in fifty (the first, then every fiftieth) is made suspicious (two bidders from
one address, prices in a tight cluster and a sequence, the winner not the first candidate,
a new lot with a short timetable), so the run raises warnings and stores
them as it would in production. Timed: ``supervision.warnings.engine.run_rules`` with every
registered rule over the day, in one transaction (the periodic job's work). Baseline: the
same day read without any rule (a ``SELECT`` of every seeded row the rules look at).
Target: the run under 60 s. ``--quick`` seeds 20 projects.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import random
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import docx
import sqlalchemy as sa

from bench.common import Target, figure, progress, temporary_postgres
from core.actors import SYSTEM
from core.blobs import BlobStore
from core.database import Database
from supervision.ledger.append import build_entry
from supervision.ledger.canonical import canonical_bytes

BENCH = "supervision"
PROJECTS, QUICK_PROJECTS = 1_000, 20
BIDS_PER_LOT = 5
PARTIES = EXPERTS = 300
DAY = datetime(2026, 3, 2, tzinfo=UTC)


def _tables() -> dict[str, sa.Table]:
    from migrations.metadata import metadata

    return dict(metadata().tables)


def _docx(author: str, paragraphs: int = 3) -> bytes:
    document = docx.Document()
    for n in range(paragraphs):
        document.add_paragraph(f"Section {n}: method statement of {author}, " + "detail " * 40)
    document.core_properties.author = author
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _package(document: bytes, price: Decimal) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("opening-sheet.json", json.dumps({"format": "bidhall-opening-sheet/1", "lot_code": "B",
                                                           "total_price": str(price), "items": {}}))
        archive.writestr("technical.docx", document)
    return out.getvalue()


class Seeder:
    """Builds the rows of the day in memory, table by table, then inserts them in bulk."""

    def __init__(self, projects: int, blobs: BlobStore) -> None:
        self.projects, self.blobs = projects, blobs
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.seq = 0
        self.documents = {party: _docx(f"Author {party}") for party in range(1, PARTIES + 1)}
        self.random = random.Random(20260302)  # the same day every run

    def add(self, table: str, **row: Any) -> int:
        rows = self.rows.setdefault(table, [])
        row.setdefault("id", len(rows) + 1)
        rows.append(row)
        return int(row["id"])

    def entry(self, stream: str, event_type: str, payload: dict[str, Any], when: datetime,
              source: str | None = None) -> int:
        seq, self.seq = self.seq, self.seq + 1
        entry = build_entry(seq, stream, event_type, None, payload, when.isoformat().replace("+00:00", "Z"))
        entry["source"] = source
        leaf = canonical_bytes(entry)
        self.add("ledger_entries", id=seq, seq=seq, stream=stream, type=event_type, recorded_at=when, leaf=leaf,
                 leaf_hash=hashlib.sha256(b"\x00" + leaf).digest())
        return seq

    def pools(self) -> None:
        for n in range(1, PARTIES + 1):
            self.add("identities_parties", uscc=f"91350100MA{n:08d}", name=f"Bidder {n}", region_code="350100",
                     created_at=DAY - timedelta(days=400))
        for n in range(1, EXPERTS + 1):
            self.add("expert_pool_experts", code=f"E{n:05d}", name=f"Expert {n}", id_number=f"35010219800101{n:04d}",
                     phone="13800000000", employer_name="Institute", region_code="350100", title="senior",
                     years_of_practice=10, birth_date=date(1980, 1, 1), status="admitted",
                     created_at=DAY - timedelta(days=400), updated_at=DAY - timedelta(days=400))

    def project(self, n: int) -> None:
        at = DAY + timedelta(seconds=60 + n * 80)
        suspicious = n % 50 == 1
        tenderer = 1 + n % PARTIES
        project = self.add("trading_projects", code=f"B-{n:05d}", title=f"Project {n}", segment="construction",
                           procedure="open_tender", tenderer_party_id=tenderer, region_code="350102",
                           industry="housing", status="active", created_at=at - timedelta(days=40), updated_at=at)
        lot = self.add("trading_lots", project_id=project, number=1, code=f"B-{n:05d}-L01", title="Lot",
                       budget=Decimal("1000000.00"), evaluation_method="lowest_evaluated_price",
                       evaluation_parameters={}, min_bidders=3, custodian_fallback=False,
                       documents_from=at - timedelta(days=25), documents_until=at - timedelta(days=21),
                       clarification_until=at - timedelta(days=16), bid_deadline=at, opening_at=at, status="awarded",
                       created_at=at - timedelta(days=40), updated_at=at)
        self._new_tender(n, project, at, short=suspicious)
        opening = self.add("trading_openings", lot_id=lot, project_id=project, status="closed", bid_count=BIDS_PER_LOT,
                           min_bidders=3, window_minutes=30, started_at=at, updated_at=at)
        bids = []
        for k, party in enumerate(self.random.sample(range(1, PARTIES + 1), BIDS_PER_LOT)):
            source = "198.51.100.50" if suspicious and k < 2 else f"203.0.{n % 250}.{k + 1}"
            price = Decimal("1000000.00") + (Decimal(k * 300) if suspicious else Decimal(self.random.randrange(0, 300_000)))
            bid = len(self.rows.get("trading_bids", [])) + 1
            seq = self.entry(f"bid:{bid}", "trading.bid_submitted", {"bid_id": bid}, at - timedelta(hours=3), source)
            self.add("trading_bids", lot_id=lot, party_id=party, status="submitted", envelope_sha256="e" * 64,
                     envelope_size=1000, cert_fingerprint=hashlib.sha256(f"cert {party}".encode()).hexdigest(),
                     submitted_at=at - timedelta(hours=3), ledger_seq=seq, updated_at=at)
            sha = self.blobs.put_file(self._package_file(party, price)).sha256
            self.add("trading_opening_rows", opening_id=opening, bid_id=bid, party_id=party, bidder_name=f"Bidder {party}",
                     bidder_uscc=f"91350100MA{party:08d}", outcome="opened", total_price=price,
                     package_sha256=sha, package_size=1, failed_attempts=0, decided_at=at)
            bids.append((bid, party, price))
        self._award(lot, at, bids, suspicious)
        self._evaluation(n, project, lot, at, bids)

    def _new_tender(self, n: int, project: int, at: datetime, *, short: bool) -> None:
        """A second lot whose tender notice goes out today (its deadline weeks away); the
        timetable rule reviews these. A suspicious project's is five days short."""
        deadline = at + timedelta(days=15 if short else 25)
        lot = self.add("trading_lots", project_id=project, number=2, code=f"B-{n:05d}-L02", title="Lot 2",
                       budget=Decimal("500000.00"), evaluation_method="lowest_evaluated_price",
                       evaluation_parameters={}, min_bidders=3, custodian_fallback=False, documents_from=at,
                       documents_until=at + timedelta(days=7), clarification_until=deadline - timedelta(days=15),
                       bid_deadline=deadline, opening_at=deadline, status="bidding",
                       created_at=at - timedelta(days=2), updated_at=at)
        self.add("trading_notices", project_id=project, lot_id=lot, kind="tender", title="Tender", body="...",
                 details={}, segment="construction", region_code="350102", published_at=at)

    def _package_file(self, party: int, price: Decimal) -> Path:
        self.blobs.tmp_dir.mkdir(parents=True, exist_ok=True)
        path = self.blobs.tmp_dir / "bench-package.zip"  # put_file copies it into the store
        path.write_bytes(_package(self.documents[party], price))
        return path

    def _award(self, lot: int, at: datetime, bids: list[tuple[int, int, Decimal]], suspicious: bool) -> None:
        ranked = sorted(bids, key=lambda bid: bid[2])
        winner = ranked[1] if suspicious else ranked[0]
        award = self.add("trading_awards", lot_id=lot, status="awarded", recorded_at=at, winner_bid_id=winner[0],
                         winner_party_id=winner[1], price=winner[2], confirmed_at=at + timedelta(minutes=30),
                         updated_at=at)
        for rank, (bid, party, price) in enumerate(ranked[:2], start=1):
            self.add("trading_award_candidates", award_id=award, rank=rank, bid_id=bid, party_id=party, price=price)

    def _evaluation(self, n: int, project: int, lot: int, at: datetime, bids: list[tuple[int, int, Decimal]]) -> None:
        draw = self.add("expert_pool_draws", lot_reference=f"B-{n:05d}-L01", evaluation_at=at, venue="Room",
                        region_rule="remote_pool", quotas={"B01": 3}, avoid_parties=[], status="filled",
                        seed_commitment="s" * 64, snapshot_commitment="p" * 64, created_at=at - timedelta(hours=2))
        self.entry(f"draw:{draw}", "expert_pool.draw_finished", {"status": "filled"}, at - timedelta(hours=1))
        session = self.add("evaluation_sessions", lot_id=lot, project_id=project, draw_id=draw, stage="finished",
                           method="lowest_evaluated_price", parameters={}, settings={}, scoring_round=1,
                           opened_at=at + timedelta(minutes=5), finished_at=at + timedelta(minutes=20), updated_at=at)
        members = []
        for seat, expert in enumerate(self.random.sample(range(1, EXPERTS + 1), 3), start=1):
            answer = "declined" if self.random.random() < 0.05 else "accepted"
            self.add("expert_pool_draw_calls", draw_id=draw, position=seat, specialty="B01", expert_id=expert,
                     salt="x", answer=answer, called_at=at - timedelta(hours=2), answered_at=at - timedelta(hours=2))
            members.append(self.add("evaluation_members", session_id=session, seat=seat, expert_id=expert,
                                    expert_code=f"E{expert:05d}", name=f"Expert {expert}", specialty="B01",
                                    status="active"))
        for rank, (bid, party, price) in enumerate(sorted(bids, key=lambda bid: bid[2]), start=1):
            self.add("evaluation_bids", session_id=session, bid_id=bid, party_id=party, bidder_name=f"Bidder {party}",
                     bidder_uscc=f"91350100MA{party:08d}", corrections=[], rejection_reasons=[], abnormally_low=False,
                     rank=rank, candidate=rank <= 2)
            self.add("evaluation_scores", session_id=session, member_id=members[0], bid_id=bid, factor="technical",
                     round=1, value=Decimal("20.00"), flagged="far from the others" if n % 10 == 0 and rank == 1 else None,
                     submitted_at=at + timedelta(minutes=10))

    async def insert(self, database: Database) -> int:
        tables = _tables()
        order = ["identities_parties", "expert_pool_experts", "trading_projects", "trading_lots", "trading_notices",
                 "ledger_entries", "trading_bids", "trading_openings", "trading_opening_rows", "trading_awards",
                 "trading_award_candidates", "expert_pool_draws", "expert_pool_draw_calls", "evaluation_sessions",
                 "evaluation_members", "evaluation_bids", "evaluation_scores"]
        total = 0
        async with database.transaction() as session:
            for name in order:
                rows = self.rows.get(name, [])
                if name == "ledger_entries":
                    rows = [{k: v for k, v in row.items() if k != "id"} for row in rows]
                for start in range(0, len(rows), 2_000):
                    await session.execute(sa.insert(tables[name]), rows[start:start + 2_000])
                total += len(rows)
            await session.execute(sa.text("UPDATE ledger_counter SET size = :size"), {"size": self.seq})
            for name in order:  # the sequences follow the explicit ids
                if name != "ledger_entries":
                    await session.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
        return total


async def _read_day(database: Database) -> int:
    """The baseline: every seeded row the rules look at, read with no rule logic."""
    count = 0
    async with database.reader() as session:
        for table in ("trading_lots", "trading_bids", "trading_opening_rows", "trading_awards", "ledger_entries",
                      "evaluation_sessions", "evaluation_members", "evaluation_scores", "expert_pool_draw_calls"):
            count += len((await session.execute(sa.text(f"SELECT * FROM {table}"))).all())
    return count


async def measure(projects: int) -> list[dict[str, Any]]:
    import web.runtime  # noqa: F401 - registers every domain's rules
    from supervision.warnings.engine import run_rules

    async with temporary_postgres(prefix="warnings") as url:
        database = Database(url)
        with tempfile.TemporaryDirectory(prefix="bench-warnings-") as scratch:
            try:
                blobs = BlobStore(Path(scratch) / "blobs")
                seeder = Seeder(projects, blobs)
                seeder.pools()
                for n in range(1, projects + 1):
                    seeder.project(n)
                rows = await seeder.insert(database)
                progress(f"seeded {projects} projects ({rows} rows)")
                started = time.perf_counter()
                read = await _read_day(database)
                baseline = time.perf_counter() - started
                started = time.perf_counter()
                async with database.transaction() as session:
                    report = await run_rules(session, SYSTEM, since=DAY, until=DAY + timedelta(days=1), blobs=blobs)
                seconds = time.perf_counter() - started
                async with database.reader() as session:
                    by_rule = dict((await session.execute(sa.text(
                        "SELECT rule_code, count(*) FROM supervision_warnings GROUP BY rule_code"))).all())
            finally:
                await database.dispose()
    if report.failures:
        raise RuntimeError(f"rules failed: {report.failures}")
    progress(f"rules ran in {seconds:.2f}s: {len(report.raised)} warnings raised")
    return [figure(BENCH, f"warning_rules_{projects}_projects", value=seconds, unit="s", baseline=baseline,
                   target=Target("value", "<", 60.0),
                   note="every registered warning rule over a day of projects, warnings stored; baseline: "
                        "reading the same day's rows with no rule",
                   detail={"projects": projects, "rows_seeded": rows, "rows_read_by_baseline": read,
                           "rules": len(report.rules), "findings": report.findings,
                           "warnings_raised": len(report.raised), "warnings_by_rule": by_rule})]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The warning-rules figure (1,000 projects; 20 with ``--quick``)."""
    return asyncio.run(measure(QUICK_PROJECTS if getattr(args, "quick", False) else PROJECTS))

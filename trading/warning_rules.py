"""Early-warning rules over the trading data (registered with ``supervision.warnings`` on import).

Two families, documented one by one in ``docs/warning-rules.md`` (each rule's docstring is
its documentation in the rule list too):

- procedure: what the law fixes and the tables show was not kept (a timetable shorter
  than the legal minimum, a deadline moved late, too few bids, an award away from the
  first candidate);
- collusion signs between bidders: traces two parties should not share (a source
  address, a certificate, document metadata, files, long passages) and prices that look
  arranged (a tight cluster, an arithmetic sequence). A sign is not proof: the evidence
  names the bids, the field and the values so a regulator can check and decide.

Defaults of the parameters are in ``data/warning_rules.json``. Every rule reads only what
happened in the run's window (openings started, bids submitted, awards confirmed...).
Opened bid packages are read from the blob store only after the opening: before it
nothing but the sealed envelope exists.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import combinations, pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from supervision.ledger.models import LedgerEntry
from supervision.scopes import Scope
from supervision.warnings.rules import (
    Finding,
    Subject,
    Window,
    load_defaults,
    warning_rule,
)
from trading import rules
from trading.award_models import Award, AwardCandidate
from trading.bid_models import Bid
from trading.events import LOT_TIMETABLE_MOVED
from trading.models import Lot, Notice, Project
from trading.opening_models import Opening, OpeningRow
from trading.publication import lot_timetable
from trading.warning_packages import PackageFacts, package_facts

DEFAULTS = load_defaults("trading")


def _scope(project: Project) -> Scope:
    return Scope(region_code=project.region_code, segment=project.segment, project_id=project.id)


def _lot_ref(lot: Lot, project: Project) -> dict[str, Any]:
    return {"project_id": project.id, "project_code": project.code, "lot_id": lot.id, "lot_code": lot.code}


def _between(column: Any, window: Window) -> sa.ColumnElement[bool]:
    return sa.and_(column >= window.since, column <= window.until)


async def _openings(session: AsyncSession, window: Window) -> list[tuple[Opening, Lot, Project]]:
    query = (sa.select(Opening, Lot, Project).join(Lot, Lot.id == Opening.lot_id)
             .join(Project, Project.id == Lot.project_id).where(_between(Opening.started_at, window))
             .order_by(Opening.id))
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


async def _opened_rows(session: AsyncSession, opening: Opening) -> list[OpeningRow]:
    query = (sa.select(OpeningRow).where(OpeningRow.opening_id == opening.id, OpeningRow.outcome == "opened")
             .order_by(OpeningRow.bid_id))
    return list((await session.scalars(query)).all())


def _bid_ref(row: OpeningRow) -> dict[str, Any]:
    return {"bid_id": row.bid_id, "party_id": row.party_id, "bidder": row.bidder_name, "uscc": row.bidder_uscc}


# --- procedure ------------------------------------------------------------------------------


@warning_rule("trading.timetable_too_short", "Timetable shorter than the legal minimum", DEFAULTS)
async def timetable_too_short(session: AsyncSession, window: Window) -> list[Finding]:
    """A lot whose tender notice was published in the window with a timetable that breaks
    the legal minimum periods of its segment and procedure (the rule table of
    ``trading/rules.py``, e.g. 20 days from the documents' issue to the bid deadline for
    construction). Evidence: the rules broken, each with what was required and given, and
    the timetable."""
    query = (sa.select(Notice, Lot, Project).join(Project, Project.id == Notice.project_id)
             .join(Lot, sa.or_(Lot.id == Notice.lot_id,  # the notice's lot, or every lot of the project
                               sa.and_(Notice.lot_id.is_(None), Lot.project_id == Project.id)))  # type: ignore[union-attr]
             .where(Notice.kind == "tender", _between(Notice.published_at, window)))
    findings = []
    for notice, lot, project in (await session.execute(query)).all():
        if None in (lot.documents_from, lot.documents_until, lot.bid_deadline, lot.opening_at):
            continue
        timetable = lot_timetable(lot, ensure_utc(notice.published_at))  # type: ignore[arg-type]
        breaches = rules.timetable_breaches(project.segment, project.procedure, timetable)
        if breaches:
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}"), f"lot {lot.code}: the timetable is shorter than the law allows",
                {**_lot_ref(lot, project), "notice_id": notice.id,
                 "breaches": [{"rule": b.rule, "message": b.message} for b in breaches],
                 "timetable": {"published_at": notice.published_at, "documents_from": lot.documents_from,
                               "documents_until": lot.documents_until, "bid_deadline": lot.bid_deadline,
                               "opening_at": lot.opening_at}}, _scope(project)))
    return findings


@warning_rule("trading.deadline_changed_late", "Deadline changed late", DEFAULTS)
async def deadline_changed_late(session: AsyncSession, window: Window) -> list[Finding]:
    """A lot's bid deadline moved inside the clarification cut-off: at the moment of the
    move, less time was left before the old deadline than the rules require after a
    clarification (``rules.clarification_deadline``). Bidders who prepared for the old
    deadline were surprised. Evidence: the ledger entry of the move, when it happened,
    the old and new deadlines and the reason given."""
    entries = await session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.stream, LedgerEntry.leaf)
        .where(LedgerEntry.type == LOT_TIMETABLE_MOVED, _between(LedgerEntry.recorded_at, window)))
    findings = []
    for seq, stream, leaf in entries.all():
        entry = json.loads(leaf)
        payload = entry["payload"]
        lot = await session.get(Lot, payload["lot_id"])
        project = await session.get(Project, int(stream.partition(":")[2]))
        if lot is None or project is None:
            continue
        moved_at = datetime.fromisoformat(entry["time"])
        old_deadline = datetime.fromisoformat(payload["old_bid_deadline"])
        if rules.clarification_deadline(project.segment, project.procedure, clarified_at=moved_at,
                                        bid_deadline=old_deadline) is None:
            continue
        findings.append(Finding(
            Subject("lot", f"lot:{lot.id}:move:{seq}"), f"lot {lot.code}: the bid deadline was moved late",
            {**_lot_ref(lot, project), "ledger_seq": seq, "moved_at": entry["time"],
             "old_bid_deadline": payload["old_bid_deadline"], "new_bid_deadline": payload["new_bid_deadline"],
             "reason": payload.get("reason")}, _scope(project)))
    return findings


@warning_rule("trading.too_few_bids", "Fewer bids than expected", DEFAULTS)
async def too_few_bids(session: AsyncSession, window: Window) -> list[Finding]:
    """An opening in the window with fewer bids than ``min_bids`` (3 by default: the law's
    minimum for a tender to go on; fewer often means bidders were kept away). Evidence:
    the number of bids and the lot's own minimum."""
    minimum = window.integer("min_bids")
    return [Finding(Subject("lot", f"lot:{lot.id}"), f"lot {lot.code}: only {opening.bid_count} bid(s)",
                    {**_lot_ref(lot, project), "opening_id": opening.id, "bid_count": opening.bid_count,
                     "min_bids": minimum, "lot_min_bidders": lot.min_bidders}, _scope(project))
            for opening, lot, project in await _openings(session, window) if opening.bid_count < minimum]


@warning_rule("trading.award_not_first_candidate", "Award different from the first candidate", DEFAULTS)
async def award_not_first_candidate(session: AsyncSession, window: Window) -> list[Finding]:
    """A winner confirmed in the window who is not the first-ranked candidate of the
    evaluation report. The law lets the tenderer pass over the first candidate only for
    stated causes (waiver, failure to perform, a breach found). Evidence: both
    candidates (bid, party, price, score) and the reason the tenderer gave."""
    query = (sa.select(Award, Lot, Project).join(Lot, Lot.id == Award.lot_id).join(Project, Project.id == Lot.project_id)
             .where(Award.confirmed_at.is_not(None), _between(Award.confirmed_at, window)))  # type: ignore[union-attr]
    findings = []
    for award, lot, project in (await session.execute(query)).all():
        first = await session.scalar(sa.select(AwardCandidate).where(
            AwardCandidate.award_id == award.id, AwardCandidate.rank == 1))
        if first is None or first.bid_id == award.winner_bid_id:
            continue
        findings.append(Finding(
            Subject("lot", f"lot:{lot.id}"), f"lot {lot.code}: the winner is not the first candidate",
            {**_lot_ref(lot, project), "first_candidate": {"bid_id": first.bid_id, "party_id": first.party_id,
                                                           "price": first.price, "score": first.score},
             "winner": {"bid_id": award.winner_bid_id, "party_id": award.winner_party_id, "price": award.price},
             "deviation_reason": award.deviation_reason}, _scope(project)))
    return findings


# --- collusion: shared traces ---------------------------------------------------------------


async def _bids_due_in(session: AsyncSession, window: Window) -> list[tuple[Bid, Lot, Project]]:
    """Bids (replaced ones too: a trace is a trace) of lots whose bid deadline is in the window."""
    query = (sa.select(Bid, Lot, Project).join(Lot, Lot.id == Bid.lot_id).join(Project, Project.id == Lot.project_id)
             .where(_between(Lot.bid_deadline, window)).order_by(Bid.id))
    return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


def _shared(groups: dict[Any, list[dict[str, Any]]], min_parties: int) -> Iterable[tuple[Any, list[dict[str, Any]]]]:
    for key, bids in groups.items():
        if len({bid["party_id"] for bid in bids}) >= min_parties:
            yield key, bids


@warning_rule("trading.same_source_address", "Bids submitted from the same address", DEFAULTS)
async def same_source_address(session: AsyncSession, window: Window) -> list[Finding]:
    """Bids of different parties for the same lot submitted from the same network address
    (the ``source`` of each bid's submission entry in the ledger); addresses listed in
    ``ignored_sources`` (a shared public terminal at the trading centre, say) are skipped.
    Evidence: the address and every bid sent from it, with its ledger entry and time."""
    rows = await _bids_due_in(session, window)
    seqs = [bid.ledger_seq for bid, _, _ in rows if bid.ledger_seq is not None]
    leaves = dict((await session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.leaf).where(LedgerEntry.seq.in_(seqs or [-1])))).all())  # type: ignore[attr-defined]
    ignored = set(window.parameters["ignored_sources"])
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    lots: dict[int, tuple[Lot, Project]] = {}
    for bid, lot, project in rows:
        source = json.loads(leaves[bid.ledger_seq]).get("source") if bid.ledger_seq in leaves else None
        if source and source not in ignored:
            lots[lot.id] = (lot, project)  # type: ignore[index]
            groups[(lot.id, source)].append({"bid_id": bid.id, "party_id": bid.party_id,  # type: ignore[index]
                                             "submitted_at": bid.submitted_at, "ledger_seq": bid.ledger_seq})
    findings = []
    for (lot_id, source), bids in _shared(groups, window.integer("min_parties")):
        lot, project = lots[lot_id]
        findings.append(Finding(
            Subject("lot", f"lot:{lot_id}:source:{source}"),
            f"lot {lot.code}: {len(bids)} bids of different parties came from {source}",
            {**_lot_ref(lot, project), "field": "source", "value": source, "bids": bids}, _scope(project)))
    return findings


@warning_rule("trading.shared_certificate", "The same certificate key used by two parties", DEFAULTS)
async def shared_certificate(session: AsyncSession, window: Window) -> list[Finding]:
    """Bids of different parties signed with the same key: the SHA-256 of the signer's
    public key recorded with each bid (certificates of different CAs, or renewed ones,
    may carry one key), else the certificate's fingerprint, in the lots whose deadline is
    in the window. A party's key is its own, so one key behind two bidders means one hand
    behind both. Evidence: the key (or certificate) and every bid signed with it."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    first_project: dict[tuple[str, str], Project] = {}
    for bid, lot, project in await _bids_due_in(session, window):
        key = ("signer_key_sha256", bid.signer_key_sha256) if bid.signer_key_sha256 else (
            "cert_fingerprint", bid.cert_fingerprint)
        first_project.setdefault(key, project)
        groups[key].append({"bid_id": bid.id, "party_id": bid.party_id, "lot_id": lot.id, "lot_code": lot.code,
                            "project_id": project.id, "cert_fingerprint": bid.cert_fingerprint})
    return [Finding(Subject("party", f"{'key' if field == 'signer_key_sha256' else 'cert'}:{value}"),
                    f"{'key' if field == 'signer_key_sha256' else 'certificate'} {value[:16]}... signed bids of "
                    f"{len({b['party_id'] for b in bids})} parties",
                    {"field": field, "value": value, "bids": bids}, _scope(first_project[(field, value)]))
            for (field, value), bids in _shared(groups, window.integer("min_parties"))]


# --- collusion: the opened packages ------------------------------------------------------------


async def _packages(session: AsyncSession, window: Window) -> list[tuple[Lot, Project, list[tuple[OpeningRow, PackageFacts]]]]:
    """The opened packages of each opening in the window (none without a blob store)."""
    if window.blobs is None:
        return []
    found = []
    for opening, lot, project in await _openings(session, window):
        rows = [(row, package_facts(window.blobs.path_for(row.package_sha256)))
                for row in await _opened_rows(session, opening) if row.package_sha256]
        found.append((lot, project, rows))
    return found


@warning_rule("trading.shared_document_metadata", "Bid documents sharing author or company metadata", DEFAULTS)
async def shared_document_metadata(session: AsyncSession, window: Window) -> list[Finding]:
    """Opened .docx bid documents of different parties for the same lot whose author,
    last-modified-by or company property is the same (values in ``ignored_values``, such
    as a tool's default, are skipped). Bids written on one machine or by one person.
    Evidence: the field, the value, and each bid and file that carries it."""
    ignored = {str(value).casefold() for value in window.parameters["ignored_values"]}
    findings = []
    for lot, project, rows in await _packages(session, window):
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row, facts in rows:
            for file, field, value in facts.metadata:
                if value.casefold() not in ignored:
                    groups[(field, value)].append({**_bid_ref(row), "file": file})
        for (field, value), bids in _shared(groups, window.integer("min_parties")):
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}:{field}:{hashlib.sha256(value.encode()).hexdigest()[:16]}"),
                f"lot {lot.code}: bid documents of different parties share {field} {value!r}",
                {**_lot_ref(lot, project), "field": field, "value": value, "bids": bids}, _scope(project)))
    return findings


@warning_rule("trading.identical_files", "Identical files in different bids", DEFAULTS)
async def identical_files(session: AsyncSession, window: Window) -> list[Finding]:
    """The same file (same SHA-256, at least ``min_file_bytes`` long) inside the opened
    packages of different parties for one lot. Evidence: the hash, the size and each bid
    and file name holding it."""
    findings = []
    minimum = window.integer("min_file_bytes")
    for lot, project, rows in await _packages(session, window):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row, facts in rows:
            for name, digest, size in facts.files:
                if size >= minimum:
                    groups[digest].append({**_bid_ref(row), "file": name, "size": size})
        for digest, bids in _shared(groups, window.integer("min_parties")):
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}:file:{digest}"),
                f"lot {lot.code}: the same file is in the bids of {len({b['party_id'] for b in bids})} parties",
                {**_lot_ref(lot, project), "field": "file_sha256", "value": digest, "bids": bids}, _scope(project)))
    return findings


@warning_rule("trading.identical_passages", "Long identical passages between bids", DEFAULTS)
async def identical_passages(session: AsyncSession, window: Window) -> list[Finding]:
    """Paragraphs of at least ``min_passage_chars`` characters (whitespace folded) found
    word for word in the .docx documents of two different parties for the same lot. One
    warning per pair of bids. Evidence: the two bids, how many passages they share, and
    up to ``max_passages_shown`` of them with the file each comes from."""
    minimum, shown = window.integer("min_passage_chars"), window.integer("max_passages_shown")
    findings = []
    for lot, project, rows in await _packages(session, window):
        texts = {row.bid_id: (row, {text: file for file, text in facts.paragraphs if len(text) >= minimum})
                 for row, facts in rows}
        for (row_a, long_a), (row_b, long_b) in combinations(texts.values(), 2):
            common = sorted(set(long_a) & set(long_b))
            if not common or row_a.party_id == row_b.party_id:
                continue
            passages = [{"text": text, "file_a": long_a[text], "file_b": long_b[text]} for text in common[:shown]]
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}:bids:{row_a.bid_id},{row_b.bid_id}"),
                f"lot {lot.code}: {len(common)} long passage(s) identical in bids {row_a.bid_id} and {row_b.bid_id}",
                {**_lot_ref(lot, project), "field": "paragraph_text", "bids": [_bid_ref(row_a), _bid_ref(row_b)],
                 "passage_count": len(common), "passages": passages}, _scope(project)))
    return findings


# --- collusion: prices ------------------------------------------------------------------------


async def _priced(session: AsyncSession, window: Window) -> list[tuple[Lot, Project, list[OpeningRow]]]:
    found = []
    for opening, lot, project in await _openings(session, window):
        rows = [row for row in await _opened_rows(session, opening) if row.total_price is not None]
        if len(rows) >= window.integer("min_bids"):
            found.append((lot, project, sorted(rows, key=lambda row: (row.total_price, row.bid_id))))
    return found


def _prices(rows: list[OpeningRow]) -> list[dict[str, Any]]:
    return [{**_bid_ref(row), "total_price": row.total_price} for row in rows]


@warning_rule("trading.price_cluster", "Prices in a tight cluster", DEFAULTS)
async def price_cluster(session: AsyncSession, window: Window) -> list[Finding]:
    """At least ``min_bids`` opened prices for one lot all within ``max_spread`` of each
    other ((highest - lowest) / lowest; 0.005 is half a percent): independent estimates
    rarely agree that closely. Evidence: every price and the spread."""
    limit = window.decimal("max_spread")
    findings = []
    for lot, project, rows in await _priced(session, window):
        low, high = rows[0].total_price, rows[-1].total_price
        spread = ((high - low) / low).quantize(Decimal("0.000001"))  # type: ignore[operator]
        if spread <= limit:
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}"), f"lot {lot.code}: {len(rows)} prices within {spread} of each other",
                {**_lot_ref(lot, project), "field": "total_price", "spread": spread, "max_spread": limit,
                 "bids": _prices(rows)}, _scope(project)))
    return findings


@warning_rule("trading.price_sequence", "Prices in an arithmetic sequence", DEFAULTS)
async def price_sequence(session: AsyncSession, window: Window) -> list[Finding]:
    """At least ``min_bids`` opened prices for one lot that, sorted, step up by the same
    non-zero amount (within ``tolerance`` yuan): prices set from one figure by one hand.
    Evidence: every price in order and the common step."""
    tolerance = window.decimal("tolerance")
    findings = []
    for lot, project, rows in await _priced(session, window):
        steps = [b.total_price - a.total_price for a, b in pairwise(rows)]  # type: ignore[operator]
        if steps[0] > 0 and all(abs(step - steps[0]) <= tolerance for step in steps):
            findings.append(Finding(
                Subject("lot", f"lot:{lot.id}"), f"lot {lot.code}: {len(rows)} prices step up by {steps[0]}",
                {**_lot_ref(lot, project), "field": "total_price", "step": steps[0], "tolerance": tolerance,
                 "bids": _prices(rows)}, _scope(project)))
    return findings

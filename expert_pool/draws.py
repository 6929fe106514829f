"""Draws: request, call in the seed's order, record answers, reveal, and verify.

The platform commits in the ledger to the eligible snapshot and to a secret seed before
anyone is called; the call order is :mod:`expert_pool.draw_algorithm`'s deterministic
function of both. While the draw is sealed, each call is recorded only as a salted
commitment to the expert's code; the reveal entry publishes the seed, the snapshot (public
expert codes, no names) and every salt, so anyone can re-run the draw from the ledger
alone (`bidhall draw verify DRAW_ID`). Centre staff see counts and commitments, never who.

A draw for remote off-site evaluation (region rule "venues") spans a main venue and secondary
venues, each with its own region, quotas and eligible pool; each (venue, specialty) follows its
own order from the same seed, an expert eligible in two venues is called once, and each call
records its venue (the ledger names the venue by its key, ``V1``..., never by name). It is
filled when every venue's quotas are met. Each expert is told the place of their own venue.

A draw is "filled" or "unfillable" when it is over; a recusal at the evaluation
(:mod:`expert_pool.committee`) sends it back to "calling" for a replacement. Whoever needs
to know when a committee is complete again registers with :func:`on_committee_change`: the
evaluation domain sits above this one and is never imported from here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.tasks import enqueue_after_commit
from core.usecases import use_case
from expert_pool import draw_algorithm as algorithm
from expert_pool.draw_timing import too_early
from expert_pool.eligibility import eligible_snapshot
from expert_pool.models import Draw, DrawCall, DrawSecret, Expert
from expert_pool.schemas import DrawRequest
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import StreamKind, StreamRegistry
from supervision.scopes import Scope, covers, scope_of

DRAW_COMMITTED = "expert_pool.draw_committed"
EXPERT_CALLED = "expert_pool.expert_called"
CALL_ANSWERED = "expert_pool.call_answered"
DRAW_FINISHED = "expert_pool.draw_finished"
DRAW_REVEALED = "expert_pool.draw_revealed"
DRAWN_LIST_READ = "expert_pool.drawn_list_read"
EXPERT_RECUSED = "expert_pool.expert_recused"
COMMITTEE_REVEALED = "expert_pool.committee_revealed_to_session"
OVER = ("filled", "unfillable")

REQUESTERS = frozenset({Role.CENTER_STAFF})
OVERSIGHT = frozenset({Role.REGULATOR, Role.AUDITOR})


def draw_stream(draw_id: int | None) -> str:
    return f"draw:{draw_id}"


def call_commitment(salt: str, expert_code: str) -> str:
    """What the ledger shows of a call while the draw is sealed."""
    return hashlib.sha256(f"bidhall draw call v1\x00{salt}\x00{expert_code}".encode()).hexdigest()


@use_case("expert_pool.request_draw", REQUESTERS)
async def request_draw(session: AsyncSession, actor: Actor, data: DrawRequest) -> Draw:
    """Commit to the eligible snapshot and a fresh seed; refuse a draw that cannot be filled."""
    if data.evaluation_at <= utcnow():
        raise InvalidInput("the evaluation must be in the future", [FieldError("$.evaluation_at", "in the past")])
    early = too_early(data.segment, data.procedure, data.region_rule, evaluation_at=data.evaluation_at, now=utcnow())
    if early is not None:
        rule, why = early
        raise RuleViolation(f"too early to draw (nothing was drawn): {why}", rule=rule.id)
    if data.region_rule == "venues":
        return await _request_venue_draw(session, actor, data)
    pool = await eligible_snapshot(session, list(data.quotas), evaluation_at=data.evaluation_at,
                                   avoid_parties=data.avoid_parties,
                                   region_code=data.region_code if data.region_rule == "local" else None)
    snapshot = algorithm.Snapshot(pool)
    try:
        algorithm.check_quotas(snapshot, data.quotas)
    except algorithm.DrawError as error:
        raise RuleViolation(f"the pool cannot fill this draw (nothing was drawn): {error}",
                            rule="draw.quota_within_eligible_pool") from None
    seed = algorithm.new_seed()
    draw = Draw(
        lot_reference=data.lot_reference, evaluation_at=data.evaluation_at, venue=data.venue,
        region_rule=data.region_rule, region_code=data.region_code, quotas=dict(sorted(data.quotas.items())),
        avoid_parties=data.avoid_parties, status="calling", seed_commitment=algorithm.seed_commitment(seed),
        snapshot_commitment=snapshot.commitment, requested_by=actor.user_id, created_at=utcnow(),
    )
    session.add(draw)
    await session.flush()
    session.add(DrawSecret(draw_id=draw.id, seed=seed, snapshot=stored_snapshot(snapshot)))  # type: ignore[arg-type]
    enqueue_after_commit(session, "expert_pool.notify_next", draw.id)  # type: ignore[arg-type]
    await append(session, stream=draw_stream(draw.id), event_type=DRAW_COMMITTED, actor=actor, payload={
        "draw_id": draw.id, "lot_reference": draw.lot_reference, "evaluation_at": draw.evaluation_at,
        "region_rule": draw.region_rule, "region_code": draw.region_code, "quotas": draw.quotas,
        "avoid_parties": draw.avoid_parties, "segment": data.segment, "procedure": data.procedure,
        "seed_commitment": draw.seed_commitment,
        "snapshot_commitment": draw.snapshot_commitment,
        "eligible": {code: snapshot.eligible_count(code) for code in snapshot.codes},
    })
    return draw


async def _request_venue_draw(session: AsyncSession, actor: Actor, data: DrawRequest) -> Draw:
    """Each venue's pool is drawn from its own region; nothing is stored unless every venue
    can be filled (an expert eligible in two venues counts once)."""
    venues = [{"key": f"V{number}", "name": venue.name, "place": venue.where, "region_code": venue.region_code,
               "quotas": dict(sorted(venue.quotas.items()))} for number, venue in enumerate(data.venues, start=1)]
    pools = {venue["key"]: await eligible_snapshot(
        session, list(venue["quotas"]), evaluation_at=data.evaluation_at, avoid_parties=data.avoid_parties,
        region_code=venue["region_code"]) for venue in venues}
    snapshot = algorithm.VenueSnapshot(pools)
    try:
        algorithm.check_venue_quotas(snapshot, venue_quotas(venues))
    except algorithm.DrawError as error:
        raise RuleViolation(f"the pool cannot fill this draw (nothing was drawn): {_shortfall(error, venues)}",
                            rule="draw.quota_within_eligible_pool") from None
    totals: dict[str, int] = {}
    for venue in venues:
        for code, quota in venue["quotas"].items():
            totals[code] = totals.get(code, 0) + quota
    seed = algorithm.new_seed()
    main = venues[0]
    draw = Draw(
        lot_reference=data.lot_reference, evaluation_at=data.evaluation_at, venue=main["name"],
        region_rule="venues", region_code=main["region_code"], quotas=dict(sorted(totals.items())), venues=venues,
        avoid_parties=data.avoid_parties, status="calling", seed_commitment=algorithm.seed_commitment(seed),
        snapshot_commitment=snapshot.commitment, requested_by=actor.user_id, created_at=utcnow(),
    )
    session.add(draw)
    await session.flush()
    session.add(DrawSecret(draw_id=draw.id, seed=seed, snapshot=stored_snapshot(snapshot)))  # type: ignore[arg-type]
    enqueue_after_commit(session, "expert_pool.notify_next", draw.id)  # type: ignore[arg-type]
    # Venues appear by key and region only: their names and places stay in the table.
    await append(session, stream=draw_stream(draw.id), event_type=DRAW_COMMITTED, actor=actor, payload={
        "draw_id": draw.id, "lot_reference": draw.lot_reference, "evaluation_at": draw.evaluation_at,
        "region_rule": draw.region_rule, "region_code": draw.region_code, "quotas": draw.quotas,
        "venues": [{"key": v["key"], "main": index == 0, "region_code": v["region_code"], "quotas": v["quotas"]}
                   for index, v in enumerate(venues)],
        "avoid_parties": draw.avoid_parties, "segment": data.segment, "procedure": data.procedure,
        "seed_commitment": draw.seed_commitment,
        "snapshot_commitment": draw.snapshot_commitment,
        "eligible": {v["key"]: {code: snapshot.eligible_count(v["key"], code) for code in v["quotas"]}
                     for v in venues},
    })
    return draw


def venue_quotas(venues: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    return {venue["key"]: venue["quotas"] for venue in venues}


def _venue_label(venues: list[dict[str, Any]], key: str) -> str:
    index = next(i for i, venue in enumerate(venues) if venue["key"] == key)
    field = "main_venue" if index == 0 else f"secondary_venues[{index - 1}]"
    return f"venue {venues[index]['name']!r} ({field})"


def _shortfall(error: algorithm.DrawError, venues: list[dict[str, Any]]) -> str:
    """The algorithm's refusal with each venue key replaced by the venue's name and field."""
    if error.venues:
        return "; ".join(f"{_venue_label(venues, key)}: {str(problem).removesuffix('; nothing was drawn')}"
                         for key, problem in error.venues.items())
    if error.combined:
        def stream(name: str) -> str:
            key, _, code = name.partition("/")
            return f"{code} at {_venue_label(venues, key)}"
        return "experts eligible in several venues are too few: " + ", ".join(
            f"{' + '.join(stream(name) for name in names)} need {needed} distinct experts but have {available}"
            for names, needed, available in error.combined)
    return str(error)


def venue_place(draw: Draw, key: str | None) -> str:
    """Where the expert of a call must come: their own venue's place (never another venue's)."""
    for venue in draw.venues or []:
        if venue["key"] == key:
            return str(venue["place"])
    return draw.venue


def venue_name(draw: Draw, key: str | None) -> str | None:
    return next((str(v["name"]) for v in draw.venues or [] if v["key"] == key), None)


async def venue_counts(session: AsyncSession, draw: Draw) -> list[dict[str, Any]] | None:
    """Per venue: its quotas and how many have accepted (what centre staff may know), or None
    for a single-venue draw."""
    if not draw.venues:
        return None
    rows = await session.execute(sa.select(DrawCall.venue, sa.func.count()).where(
        DrawCall.draw_id == draw.id, DrawCall.answer == algorithm.Answer.ACCEPTED.value).group_by(DrawCall.venue))
    accepted = {key: count for key, count in rows.all()}
    return [{**venue, "main": index == 0, "accepted": accepted.get(venue["key"], 0)}
            for index, venue in enumerate(draw.venues)]


async def call_next(session: AsyncSession, actor: Actor, draw_id: int) -> DrawCall | None:
    """Call the next expert the seed gives for the specialty that most needs one.

    Run by the notification worker (the platform itself); returns None when nobody needs to
    be called now (all open slots have a call awaiting its answer, or the draw is over).
    """
    draw, live, calls = await _live_draw(session, draw_id)
    if draw.status != "calling":
        return None
    due = [(venue, code) for venue, code in live.streams
           if live.open_slots(code, venue) > 0 and live.peek(code, venue) is not None]
    if not due:
        await _finish_if_over(session, actor, draw, live)
        return None
    venue, code = min(due, key=lambda stream: _urgency(live, *stream))
    expert_code = live.call(code, venue)
    expert_id = await session.scalar(sa.select(Expert.id).where(Expert.code == expert_code))
    call = DrawCall(draw_id=draw.id, position=len(calls), specialty=code, venue=venue,  # type: ignore[arg-type]
                    expert_id=expert_id, salt=secrets.token_hex(16), called_at=utcnow())
    session.add(call)
    await session.flush()
    payload = {"position": call.position, "specialty": code, "expert_commitment": call_commitment(call.salt, expert_code)}
    await append(session, stream=draw_stream(draw.id), event_type=EXPERT_CALLED, actor=actor,
                 payload=payload if venue is None else {**payload, "venue": venue})
    return call


def _urgency(live: algorithm.Draw | algorithm.VenueDraw, venue: str | None, code: str) -> tuple[int, str, str]:
    """Which due stream is called first. A single-venue draw: the specialty with the fewest
    acceptances still needed (as it always was). A venue draw: the scarcest (venue, specialty)
    (eligible minus quota), so that an expert eligible in two venues goes first to the venue
    that cannot do without them."""
    if isinstance(live, algorithm.VenueDraw):
        slack = live.snapshot.eligible_count(venue, code) - live.quotas[venue][code]  # type: ignore[arg-type,index]
        return slack, venue or "", code
    return live.still_needed(code), "", code


async def record_answer(session: AsyncSession, actor: Actor, call_id: int, answer: str) -> DrawCall:
    """An expert's answer (from the provider callback, an SMS reply or a timeout)."""
    if answer not in algorithm.INVITATION_ANSWERS:
        expected = ", ".join(sorted(algorithm.INVITATION_ANSWERS))
        raise InvalidInput(f"an invitation is answered {expected}, not {answer!r}",
                           [FieldError("$.answer", f"one of {expected}")])
    answer = algorithm.Answer(answer).value
    call = await session.scalar(sa.select(DrawCall).where(DrawCall.id == call_id).with_for_update())
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    if call.answer is not None:
        if call.answer == answer or (call.answer == "recused" and answer == "accepted"):
            return call  # a repeated callback (even after a recusal) changes nothing
        raise Conflict(f"call {call_id} was already answered {call.answer}")
    call.answer, call.answered_at = answer, utcnow()
    await session.flush()
    await append(session, stream=draw_stream(call.draw_id), event_type=CALL_ANSWERED, actor=actor,
                 payload={"position": call.position, "answer": answer})
    draw, live, _ = await _live_draw(session, call.draw_id)
    await _finish_if_over(session, actor, draw, live)
    return call


@use_case("expert_pool.reveal_draw", OVERSIGHT | {Role.ADMIN})
async def reveal_draw(session: AsyncSession, actor: Actor, draw_id: int) -> Draw:
    """Publish the seed, the snapshot and every call, once names may be known."""
    draw, live, calls = await _live_draw(session, draw_id)
    await _require_jurisdiction(session, actor, draw, doing="revealing")
    if draw.status not in ("filled", "unfillable"):
        raise Conflict(f"draw {draw_id} is {draw.status}: it is revealed only when it is over")
    codes = await _codes(session, [call.expert_id for call in calls])
    draw.status, draw.revealed_at = "revealed", utcnow()
    published = [{"position": c.position, "specialty": c.specialty, "expert": codes[c.expert_id],
                  "salt": c.salt, "answer": c.answer} for c in calls]
    # The ledger publishes the snapshot as lists of ids, whatever form the table keeps it in:
    # that is the documented form a verifier reads.
    payload: dict[str, Any] = {"seed": live.seed.hex(), "snapshot": live.snapshot.as_dict(), "calls": published}
    if draw.venues:  # once names may be known, so may the venues
        payload["calls"] = [{**shown, "venue": c.venue} for shown, c in zip(published, calls, strict=True)]
        payload["venues"] = [{"key": v["key"], "name": v["name"], "region_code": v["region_code"]}
                             for v in draw.venues]
    await append(session, stream=draw_stream(draw_id), event_type=DRAW_REVEALED, actor=actor, payload=payload)
    return draw


@use_case("expert_pool.read_drawn_list", OVERSIGHT)
async def read_drawn_list(session: AsyncSession, actor: Actor, draw_id: int) -> list[dict[str, Any]]:
    """Regulators of the lot's jurisdiction may see who was drawn at any time; each read is
    itself a ledger entry."""
    draw, _, calls = await _live_draw(session, draw_id)
    await _require_jurisdiction(session, actor, draw, doing="reading the drawn list of")
    experts = {e.id: e for e in await session.scalars(sa.select(Expert).where(
        Expert.id.in_([c.expert_id for c in calls])))}
    await append(session, stream=draw_stream(draw_id), event_type=DRAWN_LIST_READ, actor=actor,
                 payload={"calls": len(calls)})
    rows = [{"position": c.position, "specialty": c.specialty, "expert": experts[c.expert_id].code,
             "name": experts[c.expert_id].name, "answer": c.answer} for c in calls]
    if draw.venues:  # every venue alike: the main one is no more visible than the others
        rows = [{**row, "venue": venue_name(draw, c.venue), "venue_key": c.venue} for row, c in zip(rows, calls, strict=True)]
    return rows


@use_case("expert_pool.get_draw", REQUESTERS | OVERSIGHT)
async def get_draw(session: AsyncSession, actor: Actor, draw_id: int) -> Draw:
    draw = await session.get(Draw, draw_id)
    if draw is None:
        raise NotFound(f"draw {draw_id} does not exist")
    return draw


async def _require_jurisdiction(session: AsyncSession, actor: Actor, draw: Draw, *, doing: str) -> None:
    """A regulator acts on draws of its own jurisdiction and industries: those of the lot's
    project (``supervision.scopes``, resolved by the composition root), or, for a draw no
    lot is known for, of the draw's own region."""
    scope = await scope_of(session, draw_stream(draw.id))
    if scope is None and draw.region_code is not None:
        scope = Scope(region_code=draw.region_code, segment=None)
    if not covers(actor, scope):
        where = f"region {scope.region_code}, {scope.segment or 'any segment'}" if scope else "no known region"
        raise PermissionDenied(f"{doing} draw {draw.id} ({where}) is outside your jurisdiction "
                               f"({actor.jurisdiction or 'none'}; {', '.join(sorted(actor.industries)) or 'no industry'})")


# --- verification from the ledger alone ---------------------------------------------------


@dataclass(frozen=True)
class DrawVerification:
    ok: bool
    detail: str
    complete: bool = False
    accepted: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "complete": self.complete, "accepted": self.accepted}


async def verify_from_ledger(session: AsyncSession, draw_id: int) -> DrawVerification:
    """Re-run the draw from its ledger entries only (no table is read)."""
    entries = [json.loads(leaf) for leaf in (await session.scalars(
        sa.select(LedgerEntry.leaf).where(LedgerEntry.stream == draw_stream(draw_id)).order_by(LedgerEntry.seq)))]
    committed = next((e["payload"] for e in entries if e["type"] == DRAW_COMMITTED), None)
    # A draw refilled after a recusal is revealed again; the latest reveal covers every call.
    revealed = next((e["payload"] for e in reversed(entries) if e["type"] == DRAW_REVEALED), None)
    if committed is None:
        return DrawVerification(False, f"the ledger holds no draw {draw_id}")
    if revealed is None:
        return DrawVerification(False, f"draw {draw_id} is not revealed yet: its seed is still secret")
    called = [e["payload"] for e in entries if e["type"] == EXPERT_CALLED]
    answers: dict[int, str] = {}
    for entry in entries:
        if entry["type"] == CALL_ANSWERED:
            answers[entry["payload"]["position"]] = entry["payload"]["answer"]
        elif entry["type"] == EXPERT_RECUSED:
            position = entry["payload"]["position"]
            if answers.get(position) != "accepted":
                return DrawVerification(False, f"call {position}: recorded as recused without having been accepted")
            answers[position] = "recused"
    published = {call["position"]: call for call in revealed["calls"]}
    log = []
    for entry in called:
        shown = published.get(entry["position"])
        if shown is None:
            return DrawVerification(False, f"call {entry['position']} was made after the latest reveal "
                                           "(a replacement): the draw must be revealed again")
        if call_commitment(shown["salt"], shown["expert"]) != entry["expert_commitment"]:
            return DrawVerification(False, f"call {entry['position']}: the revealed expert does not match "
                                           "the commitment recorded when the call was made")
        # The venue is the one sealed when the call was made (None in a single-venue draw).
        log.append(algorithm.DrawCall(entry["specialty"], shown["expert"], answers.get(entry["position"]),  # type: ignore[arg-type]
                                      entry.get("venue")))
    try:
        seed = bytes.fromhex(revealed["seed"])
    except (TypeError, ValueError):
        return DrawVerification(False, "the revealed seed is not hexadecimal")
    commitments = {"seed_commitment_hex": committed["seed_commitment"],
                   "snapshot_commitment_hex": committed["snapshot_commitment"]}
    if committed.get("venues"):
        result = algorithm.verify_venue_draw(seed, revealed["snapshot"], venue_quotas(committed["venues"]), log,
                                             **commitments)
    else:
        result = algorithm.verify_draw(seed, revealed["snapshot"], committed["quotas"], log, **commitments)
    return DrawVerification(result.ok, result.detail, result.complete, result.accepted)


# --- helpers ------------------------------------------------------------------------------


async def _live_draw(session: AsyncSession, draw_id: int
                     ) -> tuple[Draw, algorithm.Draw | algorithm.VenueDraw, list[DrawCall]]:
    draw = await session.get(Draw, draw_id)
    if draw is None:
        raise NotFound(f"draw {draw_id} does not exist")
    seed, snapshot = await _secret(session, draw)
    calls = list(await session.scalars(sa.select(DrawCall).where(DrawCall.draw_id == draw_id)
                                       .order_by(DrawCall.position)))
    codes = await _codes(session, [call.expert_id for call in calls])
    live: algorithm.Draw | algorithm.VenueDraw
    if draw.venues:
        live = algorithm.VenueDraw(seed, snapshot, venue_quotas(draw.venues))  # type: ignore[arg-type]
    else:
        live = algorithm.Draw(seed, snapshot, draw.quotas)  # type: ignore[arg-type]
    for call in calls:
        try:
            live.record(call.specialty, codes[call.expert_id], call.answer, venue=call.venue)
        except algorithm.DrawError as error:
            raise DrawIntegrityError(
                f"draw {draw_id}: stored call {call.position} does not follow the committed seed ({error}); "
                "the draw's records were altered and it cannot continue") from None
    return draw, live, calls


class DrawIntegrityError(Conflict):
    code = "draw-integrity"
    title = "The draw's records do not match its commitments"


# --- the stored snapshot ------------------------------------------------------------------
# ``DrawSecret.snapshot`` holds each specialty's sorted expert codes joined by newlines
# (``{code: "E1\nE2..."}``, by venue key first in a venue draw): one JSON string per
# specialty is written and read several times faster than a JSON list of tens of thousands of
# strings. Draws stored before keep lists (``{code: ["E1", "E2", ...]}``); both are read.

SnapshotOfDraw = algorithm.Snapshot | algorithm.VenueSnapshot


def stored_snapshot(snapshot: SnapshotOfDraw) -> dict[str, Any]:
    """The form a draw's snapshot is stored in (see above)."""
    return snapshot.as_lines()


def read_stored_snapshot(stored: Mapping[str, Any], *, venues: bool) -> SnapshotOfDraw:
    """The snapshot from its stored form, either the current one or the lists of older draws.

    Raises ``algorithm.DrawError`` naming what is wrong when the stored value is neither."""
    if not isinstance(stored, Mapping):
        raise algorithm.DrawError(f"a stored snapshot is a mapping, not {type(stored).__name__}")
    if venues:
        parts = {}
        for key, part in stored.items():
            if not isinstance(part, Mapping):
                raise algorithm.DrawError(f"venue {key!r} of a stored snapshot is a mapping of specialties, "
                                          f"not {type(part).__name__}")
            parts[key] = _stored_pool(part)
        return algorithm.VenueSnapshot(parts)
    return algorithm.Snapshot(_stored_pool(stored))


def _stored_pool(stored: Mapping[str, Any]) -> dict[str, list[Any]]:
    pool: dict[str, list[Any]] = {}
    for code, ids in stored.items():
        if isinstance(ids, str):  # an id never holds a newline (the algorithm refuses one)
            pool[code] = ids.split("\n") if ids else []
        elif isinstance(ids, list):
            pool[code] = ids
        else:
            raise algorithm.DrawError(f"specialty {code!r} of a stored snapshot holds {type(ids).__name__}, "
                                      "not expert ids")
    return pool


class SnapshotCache:
    """The snapshots of the draws this process has read, by (draw id, snapshot commitment).

    Every notification task and answer rebuilds its draw from the stored snapshot (a megabyte
    for a pool of a million); each process parses it once instead. An entry is stored only
    after its commitment was recomputed from the stored snapshot and found equal to the
    draw's, so a hit is exactly the committed pool. Least recently used entries go first once
    the entries hold more than ``max_pairs`` (specialty, expert) pairs together (about 80 bytes
    each in memory)."""

    def __init__(self, max_pairs: int) -> None:
        self.max_pairs = max_pairs
        self._entries: OrderedDict[tuple[int, str], tuple[SnapshotOfDraw, int]] = OrderedDict()
        self._pairs = 0
        self._lock = threading.Lock()  # a worker may run tasks on several threads

    def get(self, draw_id: int, commitment: str) -> SnapshotOfDraw | None:
        with self._lock:
            found = self._entries.get((draw_id, commitment))
            if found is None:
                return None
            self._entries.move_to_end((draw_id, commitment))
            return found[0]

    def put(self, draw_id: int, snapshot: SnapshotOfDraw) -> None:
        key, pairs = (draw_id, snapshot.commitment), len(snapshot)
        with self._lock:
            if key in self._entries or pairs > self.max_pairs:
                return
            self._entries[key] = (snapshot, pairs)
            self._pairs += pairs
            while self._pairs > self.max_pairs:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._pairs -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._pairs = 0

    def __len__(self) -> int:
        return len(self._entries)


# A dozen draws on a pool of a million experts (about 86,000 pairs each): ~80 MB at most.
snapshot_cache = SnapshotCache(max_pairs=1_000_000)


async def _secret(session: AsyncSession, draw: Draw) -> tuple[bytes, SnapshotOfDraw]:
    """The draw's seed and committed snapshot; the snapshot column is read only on a cache miss."""
    cached = snapshot_cache.get(draw.id, draw.snapshot_commitment)  # type: ignore[arg-type]
    columns = (DrawSecret.seed,) if cached is not None else (DrawSecret.seed, DrawSecret.snapshot)
    row = (await session.execute(sa.select(*columns).where(DrawSecret.draw_id == draw.id))).first()
    if row is None:
        raise NotFound(f"draw {draw.id} does not exist")
    if cached is not None:
        return row.seed, cached
    try:
        snapshot = read_stored_snapshot(row.snapshot, venues=bool(draw.venues))
    except algorithm.DrawError as error:
        raise DrawIntegrityError(f"draw {draw.id}: its stored snapshot cannot be read ({error}); "
                                 "the draw's records were altered and it cannot continue") from None
    if snapshot.commitment != draw.snapshot_commitment:
        raise DrawIntegrityError(f"draw {draw.id}: its stored snapshot does not match its snapshot commitment; "
                                 "the draw's records were altered and it cannot continue")
    snapshot_cache.put(draw.id, snapshot)  # type: ignore[arg-type]
    return row.seed, snapshot


async def _codes(session: AsyncSession, expert_ids: list[int]) -> dict[int, str]:
    rows = await session.execute(sa.select(Expert.id, Expert.code).where(Expert.id.in_(expert_ids or [-1])))
    return {expert_id: code for expert_id, code in rows}


async def _finish_if_over(session: AsyncSession, actor: Actor, draw: Draw,
                          live: algorithm.Draw | algorithm.VenueDraw) -> None:
    if draw.status != "calling":
        return
    if live.complete:  # a venue draw: every venue's quotas
        draw.status = "filled"
    elif any(live.exhausted(code, venue) for venue, code in live.streams):  # any venue short: unfillable
        draw.status = "unfillable"
    else:
        return
    await append(session, stream=draw_stream(draw.id), event_type=DRAW_FINISHED, actor=actor,
                 payload={"status": draw.status, "remaining": live.remaining()})
    for hook in tuple(_committee_hooks):
        await hook(session, actor, draw.id, draw.status)  # type: ignore[arg-type]


# --- who must know when a committee is complete (again) -----------------------------------

CommitteeHook = Callable[[AsyncSession, Actor, int, str], Awaitable[None]]
_committee_hooks: list[CommitteeHook] = []


def on_committee_change(hook: CommitteeHook) -> None:
    """Call ``await hook(session, actor, draw_id, status)`` inside the transaction whenever a
    draw becomes "filled" or "unfillable", the first time and after every replacement. The
    composition root registers the evaluation domain's handler; a hook that raises rolls the
    change back with everything else in the transaction."""
    if hook not in _committee_hooks:
        _committee_hooks.append(hook)


def clear_hooks() -> None:
    """Forget every registered hook (tests, and a composition root built twice)."""
    _committee_hooks.clear()


# --- replay (stream draw:<id>) ------------------------------------------------------------
# The replayed state is what the sealed ledger shows: no expert identities.


def apply_draw(state: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == DRAW_COMMITTED:
        state = {"status": "calling", "quotas": payload["quotas"], "seed_commitment": payload["seed_commitment"],
                 "snapshot_commitment": payload["snapshot_commitment"], "calls": {}}
        if payload.get("venues"):
            state["venues"] = venue_quotas(payload["venues"])
        return state
    if state is None:
        return None
    if kind == EXPERT_CALLED:
        call = {"specialty": payload["specialty"], "answer": None}
        if "venue" in payload:
            call["venue"] = payload["venue"]
        return {**state, "calls": {**state["calls"], str(payload["position"]): call}}
    if kind == CALL_ANSWERED:
        key = str(payload["position"])
        return {**state, "calls": {**state["calls"], key: {**state["calls"][key], "answer": payload["answer"]}}}
    if kind == EXPERT_RECUSED:
        key = str(payload["position"])
        return {**state, "status": "calling",
                "calls": {**state["calls"], key: {**state["calls"][key], "answer": "recused"}}}
    if kind == DRAW_FINISHED:
        return {**state, "status": payload["status"]}
    if kind == DRAW_REVEALED:
        return {**state, "status": "revealed"}
    return state


async def load_draw(session: AsyncSession, stream: str) -> dict[str, Any] | None:
    try:
        draw = await session.get(Draw, int(stream.partition(":")[2]))
    except ValueError:
        return None
    if draw is None:
        return None
    calls = await session.scalars(sa.select(DrawCall).where(DrawCall.draw_id == draw.id))
    state = {"status": draw.status, "quotas": draw.quotas, "seed_commitment": draw.seed_commitment,
             "snapshot_commitment": draw.snapshot_commitment,
             "calls": {str(c.position): {"specialty": c.specialty, "answer": c.answer,
                                         **({} if c.venue is None else {"venue": c.venue})} for c in calls}}
    if draw.venues:
        state["venues"] = venue_quotas(draw.venues)
    return state


async def list_draw_streams(session: AsyncSession) -> list[str]:
    return [draw_stream(i) for i in (await session.scalars(sa.select(Draw.id))).all()]


def register(registry: StreamRegistry) -> None:
    registry.register(StreamKind("draw", apply_draw, load_draw, list_draw_streams))


# --- the expert's own view ----------------------------------------------------------------


@use_case("expert_pool.my_invitations", {Role.EXPERT})
async def my_invitations(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """The signed-in expert's invitations: time and place only, never the project."""
    expert = await session.scalar(sa.select(Expert).where(Expert.user_id == actor.user_id))
    if expert is None:
        raise NotFound("this account is not linked to an expert of the pool")
    rows = await session.execute(
        sa.select(DrawCall, Draw).join(Draw, Draw.id == DrawCall.draw_id)
        .where(DrawCall.expert_id == expert.id).order_by(DrawCall.called_at.desc()))
    # In a venue draw, the place of the expert's own venue only.
    return [{"invitation": call.id, "evaluation_at": draw.evaluation_at, "venue": venue_place(draw, call.venue),
             "answer": call.answer, "called_at": call.called_at} for call, draw in rows]


@use_case("expert_pool.answer_invitation", {Role.EXPERT})
async def answer_invitation(session: AsyncSession, actor: Actor, call_id: int, accept: bool) -> DrawCall:
    """An expert confirms or declines on the platform instead of by phone."""
    expert_id = await session.scalar(sa.select(Expert.id).where(Expert.user_id == actor.user_id))
    call = await session.get(DrawCall, call_id)
    if call is None or expert_id is None or call.expert_id != expert_id:
        raise NotFound(f"invitation {call_id} is not yours or does not exist")
    return await record_answer(session, actor, call_id, "accepted" if accept else "declined")

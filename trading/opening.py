"""The remote opening of a lot (DOMAIN.md "Opening"): the host's steps.

1. :func:`start_opening` — at or after the bid deadline, by centre staff, who becomes the
   host. The bids counted are those ``submitted`` at the deadline; each gets a row of the
   opening record. Fewer than ``Lot.min_bidders``: a warning, and the host decides
   (:func:`decide_quorum`): continue where the procedure allows it, or declare a failed
   tender (construction must: the lot fails and is tendered again).
2. The decryption window (``window_minutes``, default 30): each bidder hands over the
   content key it unwrapped on its own machine (:mod:`trading.opening_decryption`).
3. :func:`close_decryption_window` — at the window's end. Bids still not decrypted are
   opened by the custodians' keys where the tender documents allow the fallback;
   otherwise the law decides: the bidder's fault, ``revoked``; another cause stated by
   the host, ``withdrawn_at_opening``. The other bids stay opened.
4. The record is shown live, objected to and answered, confirmed by the bidders' signatures
   (:mod:`trading.opening_record`), then published (:func:`publish_opening_record`): the
   lot goes to evaluation and the record is stored as a canonical JSON blob.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.blobs import BlobStore
from core.clock import ensure_utc, rfc3339, utcnow
from core.errors import Conflict, FieldError, InvalidInput, RuleViolation
from core.usecases import use_case
from identities.models import Party
from trading import opening_events as events
from trading.bid_models import Bid
from trading.bids import set_bid_status
from trading.models import Project
from trading.notices import record_notice
from trading.opening_models import Opening, OpeningRow, RecordConfirmation
from trading.opening_record import (
    HOSTS,
    READERS,
    decided_now,
    open_objections,
    opening_of,
    reader_check,
    record_bytes,
    require_host,
    require_status,
    rows_of,
    settle_if_decided,
)
from trading.opening_schemas import (
    OpeningOut,
    OpeningRowOut,
    OpeningStart,
    OpeningStatus,
    QuorumDecision,
    RowOutcome,
    WindowClose,
)
from trading.projects import (
    change_lot_status,
    get_lot_row,
    refuse_if_sold_by_competition,
)
from trading.states import LotStatus, NoticeKind, Segment

DEADLINE_RULE = "trading.opening_not_before_deadline"
MIN_BIDDERS_RULE = "trading.min_bidders"
WINDOW_RULE = "trading.decryption_window"
# Segments whose law lets an opening with too few bids go on (the host decides); in
# construction fewer than three bids is a failed tender and the lot is tendered again.
CONTINUE_ALLOWED = frozenset({Segment.GOVERNMENT_PROCUREMENT, Segment.LAND_MINING, Segment.STATE_PROPERTY})


@use_case("trading.start_opening", HOSTS)
async def start_opening(session: AsyncSession, actor: Actor, lot_id: int, data: OpeningStart) -> Opening:
    lot = await get_lot_row(session, lot_id, for_update=True)
    existing = await session.scalar(sa.select(Opening.id).where(Opening.lot_id == lot_id))
    if existing is not None:
        raise Conflict(f"the opening of lot {lot.code} has already started")
    if lot.status != LotStatus.BIDDING:
        raise Conflict(f"lot {lot.code} is {lot.status}; an opening starts from bidding")
    await refuse_if_sold_by_competition(session, lot, "an opening of sealed bids")
    now = utcnow()
    if lot.bid_deadline is None or now < ensure_utc(lot.bid_deadline):
        deadline = "not set" if lot.bid_deadline is None else rfc3339(lot.bid_deadline)
        raise RuleViolation(f"the opening of lot {lot.code} cannot start before the bid deadline ({deadline}); "
                            f"it is {rfc3339(now)}", rule=DEADLINE_RULE)
    bids = list((await session.scalars(sa.select(Bid).where(Bid.lot_id == lot_id, Bid.status == "submitted")
                                       .order_by(Bid.id))).all())
    opening = Opening(lot_id=lot_id, project_id=lot.project_id, host_user_id=actor.user_id, bid_count=len(bids),
                      min_bidders=lot.min_bidders, window_minutes=data.window_minutes, started_at=now,
                      updated_at=now, status=OpeningStatus.DECRYPTING)
    if len(bids) < lot.min_bidders:
        opening.status = OpeningStatus.AWAITING_DECISION
        opening.warning = (f"only {len(bids)} bid(s) were submitted by the deadline; lot {lot.code} needs at least "
                           f"{lot.min_bidders}: the host decides whether the opening goes on or the tender fails")
    else:
        _open_window(opening, now)
    session.add(opening)
    await session.flush()
    rows = [await _row_for(session, opening, bid) for bid in bids]
    await change_lot_status(session, actor, lot, LotStatus.OPENING, reason="the opening started",
                            details={"opening_id": opening.id, "bid_count": len(bids)})
    await events.record(session, actor, opening, events.OPENING_STARTED, rows=rows,
                        bid_count=len(bids), warning=opening.warning)
    return opening


def _open_window(opening: Opening, now: object) -> None:
    opening.window_opened_at = now  # type: ignore[assignment]
    opening.window_ends_at = now + timedelta(minutes=opening.window_minutes)  # type: ignore[operator]


async def _row_for(session: AsyncSession, opening: Opening, bid: Bid) -> OpeningRow:
    party = await session.get(Party, bid.party_id)
    assert party is not None
    row = OpeningRow(opening_id=opening.id, bid_id=bid.id, party_id=bid.party_id, bidder_name=party.name,  # type: ignore[arg-type]
                     bidder_uscc=party.uscc, outcome=RowOutcome.PENDING, failed_attempts=0)
    session.add(row)
    return row


@use_case("trading.decide_opening_quorum", HOSTS)
async def decide_quorum(session: AsyncSession, actor: Actor, lot_id: int, data: QuorumDecision) -> Opening:
    """Too few bids: go on (where the law allows) or declare the tender failed."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_host(actor, opening)
    require_status(opening, OpeningStatus.AWAITING_DECISION, doing="deciding on too few bids")
    lot = await get_lot_row(session, lot_id, for_update=True)
    project = await session.get(Project, lot.project_id)
    assert project is not None
    now = utcnow()
    if data.decision == "continue":
        if opening.bid_count == 0:
            raise RuleViolation(f"no bid was submitted for lot {lot.code}: there is nothing to open",
                                rule=MIN_BIDDERS_RULE)
        if project.segment not in CONTINUE_ALLOWED:
            raise RuleViolation(f"a {project.segment} tender with fewer than {lot.min_bidders} bids fails and is "
                                "tendered again (Bidding Law art. 28); declare the failed tender",
                                rule=MIN_BIDDERS_RULE)
        opening.status = OpeningStatus.DECRYPTING
        _open_window(opening, now)
    else:
        opening.status = OpeningStatus.FAILED
        await change_lot_status(session, actor, lot, LotStatus.FAILED, reason="failed tender at the opening",
                                details={"opening_id": opening.id, "bid_count": opening.bid_count,
                                         "reason": data.reason})
        await record_notice(session, actor, project=project, lot=lot, kind=NoticeKind.FAILED,
                            title=f"Failed tender notice: lot {lot.code}",
                            body=(f"The tender for lot {lot.code} of {project.title} failed at its opening on "
                                  f"{rfc3339(now)}: {opening.bid_count} bid(s) were submitted, "
                                  f"{lot.min_bidders} are needed. {data.reason}"),
                            details={"lot_code": lot.code, "bid_count": opening.bid_count,
                                     "min_bidders": lot.min_bidders, "reason": data.reason})
    opening.decision, opening.decision_reason, opening.updated_at = data.decision, data.reason, now
    session.add(opening)
    await events.record(session, actor, opening, events.QUORUM_DECIDED, decision=data.decision, reason=data.reason)
    return opening


@use_case("trading.close_decryption_window", HOSTS)
async def close_decryption_window(session: AsyncSession, actor: Actor, lot_id: int, data: WindowClose) -> Opening:
    """End the window: fallback for the bids not decrypted, or revoked / withdrawn."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_host(actor, opening)
    require_status(opening, OpeningStatus.DECRYPTING, OpeningStatus.FALLBACK, doing="closing the decryption window")
    lot = await get_lot_row(session, lot_id)
    rows = await rows_of(session, opening)
    pending = {row.bid_id: row for row in rows if row.outcome == RowOutcome.PENDING}
    now = utcnow()
    if pending and opening.status == OpeningStatus.DECRYPTING and now < ensure_utc(opening.window_ends_at):  # type: ignore[arg-type]
        raise RuleViolation(f"the decryption window runs until {rfc3339(opening.window_ends_at)}; "  # type: ignore[arg-type]
                            f"{len(pending)} bid(s) are not decrypted yet", rule=WINDOW_RULE)
    if opening.status == OpeningStatus.FALLBACK and data.use_fallback:
        raise Conflict("the custodians' fallback is under way; to give it up, close again with use_fallback false")
    causes = {cause.bid_id: cause.reason for cause in data.other_causes}
    unknown = sorted(set(causes) - set(pending))
    if unknown:
        raise InvalidInput(f"bid(s) {', '.join(map(str, unknown))} are not waiting for decryption at this opening",
                           [FieldError("$.other_causes", "not a pending bid")])
    fallback = bool(pending) and data.use_fallback and lot.custodian_fallback and lot.opening_key is not None
    if fallback and opening.status == OpeningStatus.DECRYPTING:
        opening.status = OpeningStatus.FALLBACK
        opening.window_closed_at = now
        changed: list[OpeningRow] = []
    else:
        opening.window_closed_at = opening.window_closed_at or now
        changed = [await _fail_row(session, actor, row, causes.get(bid_id)) for bid_id, row in pending.items()]
    opening.updated_at = now
    session.add(opening)
    await settle_if_decided(session, opening)
    await events.record(session, actor, opening, events.WINDOW_CLOSED, rows=changed, fallback=fallback,
                        other_causes={str(k): v for k, v in causes.items()})
    return opening


async def _fail_row(session: AsyncSession, actor: Actor, row: OpeningRow, other_cause: str | None) -> OpeningRow:
    bid = await session.get(Bid, row.bid_id)
    assert bid is not None
    if other_cause is None:
        reason = "not decrypted within the decryption window through the bidder's fault"
        decided_now(row, RowOutcome.REVOKED, problem=reason)
        await set_bid_status(session, actor, bid, "revoked", reason=reason)
    else:
        reason = f"not decrypted through another cause: {other_cause}"
        decided_now(row, RowOutcome.WITHDRAWN, problem=reason)
        await set_bid_status(session, actor, bid, "withdrawn_at_opening", reason=reason)
    session.add(row)
    return row


@use_case("trading.publish_opening_record", HOSTS)
async def publish_opening_record(session: AsyncSession, actor: Actor, lot_id: int, *, blobs: BlobStore) -> Opening:
    """Publish the record: every objection answered; the lot goes to evaluation."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_host(actor, opening)
    require_status(opening, OpeningStatus.RECORDING, doing="publishing the record")
    unanswered = await open_objections(session, lot_id)
    if unanswered:
        raise Conflict(f"objection(s) {', '.join(map(str, unanswered))} raised at the opening are not answered yet")
    content = await record_bytes(session, opening)
    lot = await get_lot_row(session, lot_id, for_update=True)
    now = utcnow()
    opening.status, opening.published_at, opening.updated_at = OpeningStatus.PUBLISHED, now, now
    session.add(opening)
    await change_lot_status(session, actor, lot, LotStatus.EVALUATING, reason="opening record published",
                            details={"opening_id": opening.id, "record_sha256": opening.record_sha256})
    stored = await blobs.put_bytes(content, expected_sha256=opening.record_sha256)
    await events.record(session, actor, opening, events.RECORD_PUBLISHED, record_sha256=stored.sha256,
                        record_size=stored.size)
    return opening


@use_case("trading.get_opening", READERS)
async def get_opening(session: AsyncSession, actor: Actor, lot_id: int) -> OpeningOut:
    opening = await opening_of(session, lot_id)
    await reader_check(session, actor, opening)
    return await opening_out(session, opening)


async def opening_out(session: AsyncSession, opening: Opening) -> OpeningOut:
    rows = [OpeningRowOut.model_validate(row) for row in await rows_of(session, opening)]
    confirmed = (await session.scalars(sa.select(RecordConfirmation.party_id)
                                       .where(RecordConfirmation.opening_id == opening.id))).all()
    return OpeningOut.model_validate({**opening.model_dump(), "rows": rows, "confirmed_party_ids": sorted(confirmed)})

"""The opening record: what every opening step shares (finding the session, the host's and
the status checks, moving bids), the record document bidders sign, objections raised at
the opening and the bidders' confirmations.

The record document is fixed the moment the last bid is decided (opened, revoked or
withdrawn): its canonical JSON bytes (RFC 8785) are what each bidder signs and what is
published, and their SHA-256 is ``Opening.record_sha256``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.revocation import RevocationSource
from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.usecases import use_case
from identities.models import Party
from identities.signed_content import check_signature
from supervision.ledger.canonical import canonical_bytes
from trading import opening_events as events
from trading.bid_models import Bid
from trading.models import Lot, Objection, Project
from trading.objections import record_objection, record_objection_reply
from trading.opening_models import Opening, OpeningRow, RecordConfirmation
from trading.opening_schemas import (
    ObjectionAnswer,
    ObjectionText,
    OpeningStatus,
    RecordSignature,
    RowOutcome,
)
from trading.states import ObjectionStage

RECORD_FORMAT = "bidhall-opening-record/1"
HOSTS = frozenset({Role.CENTER_STAFF})
OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
MANAGERS = frozenset({Role.TENDERER, Role.AGENCY})
READERS = OVERSIGHT | MANAGERS | {Role.BIDDER}
FINISHED = (OpeningStatus.PUBLISHED, OpeningStatus.FAILED)


# --- finding and checking -------------------------------------------------------------------


async def opening_of(session: AsyncSession, lot_id: int, *, for_update: bool = False) -> Opening:
    query = sa.select(Opening).where(Opening.lot_id == lot_id)
    opening = (await session.scalars(query.with_for_update() if for_update else query)).first()
    if opening is None:
        raise NotFound(f"the opening of lot {lot_id} has not started")
    return opening


async def rows_of(session: AsyncSession, opening: Opening) -> list[OpeningRow]:
    query = sa.select(OpeningRow).where(OpeningRow.opening_id == opening.id).order_by(OpeningRow.bid_id)
    return list((await session.scalars(query)).all())


def require_host(actor: Actor, opening: Opening) -> None:
    if actor.user_id != opening.host_user_id:
        raise PermissionDenied(f"only the host of this opening (user {opening.host_user_id}) may do this")


def require_status(opening: Opening, *allowed: OpeningStatus, doing: str) -> None:
    if opening.status in allowed:
        return
    if opening.status == OpeningStatus.PUBLISHED:
        raise Conflict(f"the opening record was published at {rfc3339(opening.published_at)}: "  # type: ignore[arg-type]
                       f"{doing} is no longer possible")
    if opening.status == OpeningStatus.FAILED:
        raise Conflict(f"the tender failed at this opening ({opening.decision_reason}): {doing} is not possible")
    wanted = " or ".join(status.value for status in allowed)
    raise Conflict(f"the opening is {opening.status}; {doing} needs it to be {wanted}")


async def reader_check(session: AsyncSession, actor: Actor, opening: Opening) -> None:
    """Oversight, the project's tenderer and agency, and the bidders at this opening."""
    if actor.has_any(OVERSIGHT):
        return
    if actor.has_any(MANAGERS):
        project = await session.get(Project, opening.project_id)
        if project is not None and actor.party_id in (project.tenderer_party_id, project.agency_party_id):
            return
    if actor.has_any({Role.BIDDER}) and actor.party_id in {row.party_id for row in await rows_of(session, opening)}:
        return
    raise PermissionDenied("only the host, oversight, the project's tenderer and agency and the bidders at this "
                           "opening may follow it")


async def bidder_row(session: AsyncSession, actor: Actor, opening: Opening) -> OpeningRow:
    """The row of the actor's own party at this opening."""
    for row in await rows_of(session, opening):
        if row.party_id == actor.party_id:
            return row
    raise PermissionDenied("your organisation has no bid at this opening")


# --- the record document --------------------------------------------------------------------


def _row_entry(row: OpeningRow) -> dict[str, Any]:
    return {
        "bid_id": row.bid_id, "bidder_name": row.bidder_name, "bidder_uscc": row.bidder_uscc,
        "outcome": row.outcome, "method": row.method,
        "total_price": None if row.total_price is None else f"{row.total_price:.2f}",
        "items": row.sheet_items, "problem": row.problem, "package_sha256": row.package_sha256,
        "decided_at": row.decided_at,
    }


async def record_document(session: AsyncSession, opening: Opening) -> dict[str, Any]:
    """The opening record as published: made only of what is fixed once every bid is decided."""
    lot = await session.get(Lot, opening.lot_id)
    project = await session.get(Project, opening.project_id)
    assert lot is not None and project is not None
    return {
        "format": RECORD_FORMAT,
        "project": {"id": project.id, "code": project.code, "title": project.title, "segment": project.segment},
        "lot": {"id": lot.id, "code": lot.code, "title": lot.title, "bid_deadline": lot.bid_deadline},
        "opening": {
            "id": opening.id, "host_user_id": opening.host_user_id, "started_at": opening.started_at,
            "bid_count": opening.bid_count, "min_bidders": opening.min_bidders, "warning": opening.warning,
            "decision": opening.decision, "decision_reason": opening.decision_reason,
            "window_opened_at": opening.window_opened_at, "window_ends_at": opening.window_ends_at,
            "window_closed_at": opening.window_closed_at,
        },
        "rows": [_row_entry(row) for row in await rows_of(session, opening)],
    }


async def record_bytes(session: AsyncSession, opening: Opening) -> bytes:
    return canonical_bytes(await record_document(session, opening))


async def settle_if_decided(session: AsyncSession, opening: Opening) -> bool:
    """Once no bid is pending, close the window (if open) and fix the record."""
    if opening.status not in (OpeningStatus.DECRYPTING, OpeningStatus.FALLBACK):
        return False
    if any(row.outcome == RowOutcome.PENDING for row in await rows_of(session, opening)):
        return False
    now = utcnow()
    opening.window_closed_at = opening.window_closed_at or now
    opening.status = OpeningStatus.RECORDING
    opening.updated_at = now
    session.add(opening)
    await session.flush()
    opening.record_sha256 = hashlib.sha256(await record_bytes(session, opening)).hexdigest()
    session.add(opening)
    return True


@use_case("trading.read_opening_record", READERS)
async def read_opening_record(session: AsyncSession, actor: Actor, lot_id: int) -> bytes:
    """The record's canonical bytes, what bidders sign (once every bid is decided)."""
    opening = await opening_of(session, lot_id)
    await reader_check(session, actor, opening)
    if opening.record_sha256 is None:
        raise Conflict(f"the opening is {opening.status}; the record is fixed once every bid is decided")
    return await record_bytes(session, opening)


# --- objections -------------------------------------------------------------------------------


@use_case("trading.object_at_opening", {Role.BIDDER})
async def object_at_opening(session: AsyncSession, actor: Actor, lot_id: int, data: ObjectionText) -> Objection:
    """A bidder's objection to the opening, answered there by the host."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_status(opening, OpeningStatus.AWAITING_DECISION, OpeningStatus.DECRYPTING, OpeningStatus.FALLBACK,
                   OpeningStatus.RECORDING, doing="raising an objection")
    row = await bidder_row(session, actor, opening)
    project, lot = await session.get(Project, opening.project_id), await session.get(Lot, opening.lot_id)
    now = utcnow()
    objection = await record_objection(session, actor, project=project, lot=lot,  # type: ignore[arg-type]
                                       stage=ObjectionStage.OPENING, party_id=row.party_id, text=data.text,
                                       reply_due=now, raised_at=now)
    await events.record(session, actor, opening, events.OBJECTION_RAISED, rows=[objection],
                        objection_id=objection.id, bidder=row.bidder_name)
    return objection


@use_case("trading.answer_opening_objection", HOSTS)
async def answer_opening_objection(session: AsyncSession, actor: Actor, lot_id: int, objection_id: int,
                                   data: ObjectionAnswer) -> Objection:
    opening = await opening_of(session, lot_id, for_update=True)
    require_host(actor, opening)
    require_status(opening, OpeningStatus.AWAITING_DECISION, OpeningStatus.DECRYPTING, OpeningStatus.FALLBACK,
                   OpeningStatus.RECORDING, doing="answering an objection")
    objection = await session.get(Objection, objection_id)
    if objection is None or objection.lot_id != lot_id or objection.stage != ObjectionStage.OPENING:
        raise NotFound(f"no objection {objection_id} at the opening of lot {lot_id}")
    await record_objection_reply(session, actor, objection, data.reply)
    await events.record(session, actor, opening, events.OBJECTION_ANSWERED, rows=[objection],
                        objection_id=objection.id)
    return objection


async def open_objections(session: AsyncSession, lot_id: int) -> list[int]:
    query = sa.select(Objection.id).where(Objection.lot_id == lot_id, Objection.stage == ObjectionStage.OPENING,
                                          Objection.status == "open").order_by(Objection.id)
    return list((await session.scalars(query)).all())


# --- confirmations ----------------------------------------------------------------------------


@use_case("trading.confirm_opening_record", {Role.BIDDER})
async def confirm_opening_record(session: AsyncSession, actor: Actor, lot_id: int, data: RecordSignature, *,
                                 revocation: RevocationSource) -> RecordConfirmation:
    """A bidder confirms the record by a detached CMS signature over its canonical bytes,
    made with a signing certificate that validates against the trust list and names the
    bidder's own organisation."""
    opening = await opening_of(session, lot_id, for_update=True)
    require_status(opening, OpeningStatus.RECORDING, doing="confirming the record")
    row = await bidder_row(session, actor, opening)
    done = await session.scalar(sa.select(RecordConfirmation).where(
        RecordConfirmation.opening_id == opening.id, RecordConfirmation.party_id == row.party_id))
    if done is not None:
        raise Conflict(f"{row.bidder_name} confirmed this record at {rfc3339(done.confirmed_at)}; once is enough")
    content = await record_bytes(session, opening)
    signer, subject = await _checked_signer(session, data.signature_bytes, content, revocation, row)
    confirmation = RecordConfirmation(opening_id=opening.id, party_id=row.party_id, user_id=actor.user_id,  # type: ignore[arg-type]
                                      record_sha256=opening.record_sha256, signature=data.signature_bytes,  # type: ignore[arg-type]
                                      signer_fingerprint=signer, signer_subject=subject, confirmed_at=utcnow())
    session.add(confirmation)
    await events.record(session, actor, opening, events.RECORD_CONFIRMED, rows=[confirmation],
                        bidder=row.bidder_name, record_sha256=opening.record_sha256)
    return confirmation


async def _checked_signer(session: AsyncSession, signature: bytes, content: bytes, revocation: RevocationSource,
                          row: OpeningRow) -> tuple[str, str]:
    signer = await check_signature(session, revocation, content, signature, what="the opening record")
    uscc = signer.identity.get("uscc")
    if uscc != row.bidder_uscc:
        party = await session.get(Party, row.party_id)
        raise PermissionDenied(f"the certificate names the organisation with credit code {uscc}, not "
                               f"{party.name if party else row.bidder_name} ({row.bidder_uscc})")
    return signer.fingerprint, signer.subject


def decided_now(row: OpeningRow, outcome: RowOutcome, *, problem: str | None = None,
                when: datetime | None = None) -> OpeningRow:
    row.outcome = outcome
    row.problem = problem
    row.decided_at = when or utcnow()
    return row


# --- following the opening live -------------------------------------------------------------


@use_case("trading.follow_opening", READERS)
async def follow_opening(session: AsyncSession, actor: Actor, lot_id: int) -> None:
    """Refuses unless the actor may follow the opening of the lot live (also before it
    starts: bidders with a bid, the project's managers, oversight)."""
    opening = (await session.scalars(sa.select(Opening).where(Opening.lot_id == lot_id))).first()
    if opening is not None:
        await reader_check(session, actor, opening)
        return
    lot = await session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id}")
    if actor.has_any(OVERSIGHT):
        return
    project = await session.get(Project, lot.project_id)
    if actor.has_any(MANAGERS) and project is not None and \
            actor.party_id in (project.tenderer_party_id, project.agency_party_id):
        return
    if actor.has_any({Role.BIDDER}) and await session.scalar(
            sa.select(Bid.id).where(Bid.lot_id == lot_id, Bid.party_id == actor.party_id).limit(1)) is not None:
        return
    raise PermissionDenied(f"only the host, oversight, the project's tenderer and agency and the bidders of lot "
                           f"{lot_id} may follow its opening")


def entry_view(actor: Actor) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """What a follower sees of an opening entry: oversight everything; others everything
    but the source address of whoever acted."""
    if actor.has_any(OVERSIGHT):
        return lambda entry: entry
    return lambda entry: {**entry, "source": None}

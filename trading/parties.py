"""Parties' qualifications and credit records, and whether a party may bid today.

Centre staff record qualifications (type, grade, certificate number, expiry) from the
licences a party shows; regulators record credit: a blacklisting (the party may not bid
while it runs), or a good or bad record that evaluation may weigh. Every change is a ledger
entry on ``credit:<party_id>``. A party reads its own records; oversight reads anyone's.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor, Role
from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.usecases import use_case
from identities.models import Party
from supervision.ledger.append import append
from trading import bid_events as events
from trading.bid_schemas import CreditRecordCreate, CreditRecordEnd, QualificationCreate
from trading.models import CreditRecord, Lot, PartyQualification
from trading.states import CreditKind

QUALIFICATION_RECORDERS = frozenset({Role.CENTER_STAFF, Role.ADMIN})
CREDIT_RECORDERS = frozenset({Role.REGULATOR})
OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
CREDIT_READERS = OVERSIGHT | {Role.BIDDER, Role.TENDERER, Role.AGENCY}

# A lot's tender documents may list the qualifications a bidder needs, as
# ``evaluation_parameters["required_qualifications"] = [{"kind": ..., "grade": ...}]``.
REQUIRED_QUALIFICATIONS_KEY = "required_qualifications"


async def _party(session: AsyncSession, party_id: int) -> Party:
    party = await session.get(Party, party_id)
    if party is None:
        raise NotFound(f"party {party_id} does not exist")
    return party


@use_case("trading.record_qualification", QUALIFICATION_RECORDERS)
async def record_qualification(
    session: AsyncSession, actor: Actor, party_id: int, data: QualificationCreate
) -> PartyQualification:
    await _party(session, party_id)
    qualification = PartyQualification(party_id=party_id, kind=data.kind, grade=data.grade,
                                       certificate_number=data.certificate_number, expires_on=data.expires_on,
                                       created_at=clock.utcnow())
    session.add(qualification)
    await session.flush()
    await append(session, stream=events.credit_stream(party_id), event_type=events.QUALIFICATION_RECORDED,
                 actor=actor, payload=events.qualification_snapshot(qualification))
    return qualification


@use_case("trading.record_credit", CREDIT_RECORDERS)
async def record_credit(session: AsyncSession, actor: Actor, party_id: int, data: CreditRecordCreate) -> CreditRecord:
    """A regulator's decision about a party; a blacklisting bars it from bidding from
    ``start_date`` to ``end_date`` (inclusive; open-ended without one)."""
    await _party(session, party_id)
    record = CreditRecord(party_id=party_id, kind=data.kind, reason=data.reason, authority=data.authority,
                          start_date=data.start_date, end_date=data.end_date, created_at=clock.utcnow())
    session.add(record)
    await session.flush()
    await append(session, stream=events.credit_stream(party_id), event_type=events.CREDIT_RECORDED,
                 actor=actor, payload=events.credit_snapshot(record))
    return record


@use_case("trading.end_credit_record", CREDIT_RECORDERS)
async def end_credit_record(
    session: AsyncSession, actor: Actor, record_id: int, data: CreditRecordEnd
) -> CreditRecord:
    """Close a record early (a blacklisting lifted on review): it runs until ``end_date``."""
    record = await session.get(CreditRecord, record_id)
    if record is None:
        raise NotFound(f"credit record {record_id} does not exist")
    if data.end_date < record.start_date:
        raise InvalidInput(f"end_date {data.end_date} is before the record's start {record.start_date}",
                           [FieldError("$.end_date", "before start_date")])
    if record.end_date is not None and record.end_date <= data.end_date:
        raise Conflict(f"the record already ends on {record.end_date}; it can only be shortened")
    record.end_date = data.end_date
    await session.flush()
    await append(session, stream=events.credit_stream(record.party_id), event_type=events.CREDIT_ENDED,
                 actor=actor, payload={"id": record.id, "party_id": record.party_id, "end_date": record.end_date})
    return record


@use_case("trading.read_party_credit", CREDIT_READERS)
async def read_party_credit(
    session: AsyncSession, actor: Actor, party_id: int
) -> tuple[list[PartyQualification], list[CreditRecord], str | None]:
    """A party's qualifications and credit records, and why it may not bid today if it may
    not. Parties read their own only; another party's gives 404 as if it did not exist."""
    if not actor.has_any(OVERSIGHT) and actor.party_id != party_id:
        raise NotFound(f"party {party_id} does not exist")
    await _party(session, party_id)
    qualifications = list(await session.scalars(
        sa.select(PartyQualification).where(PartyQualification.party_id == party_id).order_by(PartyQualification.id)))
    records = list(await session.scalars(
        sa.select(CreditRecord).where(CreditRecord.party_id == party_id).order_by(CreditRecord.id)))
    refusal = await bidding_refusal(session, party_id, on=clock.utcnow().date())
    return qualifications, records, refusal


async def bidding_refusal(session: AsyncSession, party_id: int, *, on: date, lot: Lot | None = None) -> str | None:
    """Why the party may not bid on day ``on`` (for ``lot``, if given), or None.

    A blacklisting running that day refuses, naming its reason and authority. With a lot
    whose documents require qualifications, a missing or expired one refuses too.
    """
    blacklisting = await session.scalar(
        sa.select(CreditRecord).where(
            CreditRecord.party_id == party_id, CreditRecord.kind == CreditKind.BLACKLIST,
            CreditRecord.start_date <= on,
            sa.or_(CreditRecord.end_date.is_(None), CreditRecord.end_date >= on),  # type: ignore[union-attr]
        ).order_by(CreditRecord.start_date).limit(1))
    if blacklisting is not None:
        until = f"until {blacklisting.end_date}" if blacklisting.end_date else "with no end date"
        return (f"the party is blacklisted by {blacklisting.authority} from {blacklisting.start_date} {until}: "
                f"{blacklisting.reason}")
    if lot is not None:
        return await _missing_qualification(session, party_id, on, lot)
    return None


async def _missing_qualification(session: AsyncSession, party_id: int, on: date, lot: Lot) -> str | None:
    required = (lot.evaluation_parameters or {}).get(REQUIRED_QUALIFICATIONS_KEY) or []
    for requirement in required:
        kind, grade = requirement.get("kind"), requirement.get("grade")
        query = sa.select(PartyQualification).where(PartyQualification.party_id == party_id,
                                                    PartyQualification.kind == kind)
        if grade:
            query = query.where(PartyQualification.grade == grade)
        held = list(await session.scalars(query.order_by(PartyQualification.expires_on.desc())))  # type: ignore[attr-defined]
        wanted = f"{kind}" + (f" ({grade})" if grade else "")
        if not held:
            return f"lot {lot.code} requires the qualification {wanted}, which the party has not recorded"
        if held[0].expires_on < on:
            return (f"lot {lot.code} requires the qualification {wanted}; the party's certificate "
                    f"{held[0].certificate_number} expired on {held[0].expires_on}")
    return None

"""The deal (成交) of a concluded competition: its confirmation (成交确认书) as JSON, and the
award it starts.

The confirmation names the winner (the one place a bidder's name stands beside its number
outside oversight), the price, the reserve price with its salt and whether they match the
commitment recorded at setup, and the ledger entries that prove the setup and the result.

At the close of a concluded competition the exchange has fixed buyer and price: land
listing and auction (MLR Order 39 art. 20) and state-property transactions (SASAC/MOF
Order 32 art. 23) know no candidate publicity. So the close (:func:`award_deal`) makes the
lot's :class:`~trading.award_models.Award` at once, with the winner's party and the price,
moves the lot from bidding to awarded and records the confirmation in the award's first
entry; the sealed award notice and the result notice (``trading.award_notice.issue_deal_notice``),
the contract and the archive then follow the award's own steps.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor
from core.errors import Conflict, NotFound
from identities.models import Party
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading.award_events import DEAL_CONCLUDED, award_payload, award_stream
from trading.award_models import Award, AwardStatus
from trading.models import Lot, Project
from trading.price_bidding_close import CONCLUDED
from trading.price_bidding_models import PriceCompetition, PriceRegistration
from trading.price_bidding_views import sees_names
from trading.projects import change_lot_status, is_manager
from trading.states import LotStatus


async def deal_confirmation(session: AsyncSession, actor: Actor, competition: PriceCompetition) -> dict[str, Any]:
    """The confirmation, for the winner, the project's tenderer and agency, and oversight."""
    lot = await session.get(Lot, competition.lot_id)
    project = await session.get(Project, lot.project_id) if lot else None
    assert lot is not None and project is not None
    winner = await session.get(PriceRegistration, competition.winner_registration_id) \
        if competition.winner_registration_id else None
    if not (sees_names(actor) or is_manager(actor, project)
            or (winner is not None and actor.party_id == winner.party_id)):
        raise NotFound(f"competition {competition.id} has no deal confirmation for you: it is read by the winner, "
                       "the project's tenderer and agency, and oversight")
    return await deal_facts(session, competition)


async def deal_facts(session: AsyncSession, competition: PriceCompetition) -> dict[str, Any]:
    """The confirmation's content; refused (``Conflict``) while there is no deal."""
    lot = await session.get(Lot, competition.lot_id)
    project = await session.get(Project, lot.project_id) if lot else None
    assert lot is not None and project is not None
    winner = await session.get(PriceRegistration, competition.winner_registration_id) \
        if competition.winner_registration_id else None
    if competition.result != CONCLUDED or winner is None:
        state = competition.result or f"still in its {competition.phase} phase"
        raise Conflict(f"competition {competition.id} has no deal: it is {state}"
                       + (f" ({competition.result_reason})" if competition.result_reason else ""))
    party = await session.get(Party, winner.party_id)
    transferor = await session.get(Party, project.tenderer_party_id)
    return {
        "document": "deal_confirmation", "title": "成交确认书",
        "competition_id": competition.id, "mode": competition.mode,
        "project": {"code": project.code, "title": project.title, "segment": project.segment,
                    "procedure": project.procedure},
        "lot": {"id": lot.id, "code": lot.code, "title": lot.title},
        "transferor": {"name": transferor.name if transferor else None, "uscc": transferor.uscc if transferor else None},
        "winner": {"bidder_number": winner.bidder_number, "name": party.name if party else None,
                   "uscc": party.uscc if party else None},
        "price": str(competition.final_price), "currency": "CNY",
        "concluded_at": clock.rfc3339(competition.closed_at),  # type: ignore[arg-type]
        "reserve": _reserve(competition),
        "ledger": {"stream": events.competition_stream(competition.id),
                   "setup_seq": await _seq(session, competition, events.SET_UP),
                   "result_seq": await _seq(session, competition, events.CLOSED)},
    }


def _reserve(competition: PriceCompetition) -> dict[str, Any]:
    if competition.reserve_commitment is None:
        return {"set": False}
    return {"set": True, "price": str(competition.reserve_price), "salt": competition.reserve_salt,
            "commitment": competition.reserve_commitment,
            "verified": rules.verify_commitment(competition.reserve_price, competition.reserve_salt,  # type: ignore[arg-type]
                                                competition.reserve_commitment)}


async def _seq(session: AsyncSession, competition: PriceCompetition, event_type: str) -> int | None:
    return await session.scalar(sa.select(LedgerEntry.seq).where(  # type: ignore[no-any-return]
        LedgerEntry.stream == events.competition_stream(competition.id), LedgerEntry.type == event_type)
        .order_by(LedgerEntry.seq).limit(1))


# --- the award the deal starts -------------------------------------------------------------------


async def award_deal(session: AsyncSession, competition: PriceCompetition) -> Award | None:
    """Make the award of a just concluded competition's lot and award the lot.

    Recorded by the platform (no actor): the exchange confirms the deal at the close, whoever
    or whatever applied it. A lot that is not bidding any more (cancelled while the
    competition ran; a suspended lot's competition does not close) is left as it is, and so
    is a lot that already has an award."""
    lot = await session.get(Lot, competition.lot_id)
    if lot is None or lot.status != LotStatus.BIDDING:
        return None
    if await session.scalar(sa.select(Award.id).where(Award.lot_id == lot.id)) is not None:
        return None
    deal = await deal_facts(session, competition)
    winner = await session.get(PriceRegistration, competition.winner_registration_id)
    assert winner is not None and competition.closed_at is not None
    now = clock.utcnow()
    # confirmed_at stays empty until the deal notice: like a tender's, the award is public
    # (OCDS, the award read) from its result notice on; the close's time is in the deal.
    award = Award(lot_id=lot.id, status=AwardStatus.CONCLUDED, winner_party_id=winner.party_id,  # type: ignore[arg-type]
                  price=competition.final_price, recorded_at=now, updated_at=now)
    session.add(award)
    await session.flush()
    await change_lot_status(session, None, lot, LotStatus.AWARDED,
                            reason=f"price competition {competition.id} concluded (成交) at {competition.final_price} "
                                   f"by bidder number {competition.winner_number}",
                            details={"competition_id": competition.id, "price": str(competition.final_price),
                                     "winner_number": competition.winner_number})
    await append(session, stream=award_stream(lot.id), event_type=DEAL_CONCLUDED, actor=None,
                 payload=award_payload(award, deal=deal))
    return award


async def competition_of_lot(session: AsyncSession, lot_id: int) -> PriceCompetition | None:
    return await session.scalar(sa.select(PriceCompetition).where(PriceCompetition.lot_id == lot_id))

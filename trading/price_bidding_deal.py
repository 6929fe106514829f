"""The deal confirmation (成交确认书) of a concluded competition, as JSON.

It names the winner (the one place a bidder's name stands beside its number outside
oversight), the price, the reserve price with its salt and whether they match the
commitment recorded at setup, and the ledger entries that prove the setup and the result.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.actors import Actor
from core.errors import Conflict, NotFound
from identities.models import Party
from supervision.ledger.models import LedgerEntry
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading.models import Lot, Project
from trading.price_bidding_close import CONCLUDED
from trading.price_bidding_models import PriceCompetition, PriceRegistration
from trading.price_bidding_views import sees_names
from trading.projects import is_manager


async def deal_confirmation(session: AsyncSession, actor: Actor, competition: PriceCompetition) -> dict[str, Any]:
    lot = await session.get(Lot, competition.lot_id)
    project = await session.get(Project, lot.project_id) if lot else None
    assert lot is not None and project is not None
    winner = await session.get(PriceRegistration, competition.winner_registration_id) \
        if competition.winner_registration_id else None
    if not (sees_names(actor) or is_manager(actor, project)
            or (winner is not None and actor.party_id == winner.party_id)):
        raise NotFound(f"competition {competition.id} has no deal confirmation for you: it is read by the winner, "
                       "the project's tenderer and agency, and oversight")
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

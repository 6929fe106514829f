"""Inputs and outputs of price competitions. Money is ``Decimal`` yuan with 2 places, given as text."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from core.schemas import Input, Output


class CompetitionSetup(Input):
    """A lot's price competition. Which fields a mode needs: listing ``ends_at`` (the listing
    close) and ``countdown_seconds`` (the live phase); auction ``ends_at`` (the first end of
    the bidding) and ``countdown_seconds``; sealed_quote ``ends_at``; multi_round
    ``round_seconds``; dutch ``dutch_interval_seconds`` and ``dutch_floor_price`` (the
    increment is the Dutch step)."""

    mode: Literal["listing", "auction", "multi_round", "sealed_quote", "dutch"]
    starting_price: Decimal = Field(max_digits=18, decimal_places=2, description="yuan; the Dutch start price")
    increment: Decimal = Field(max_digits=18, decimal_places=2, description="bid step in yuan (Dutch: the step down)")
    reserve_price: Decimal | None = Field(default=None, max_digits=18, decimal_places=2,
                                          description="secret until the result; only its commitment is recorded")
    starts_at: datetime
    ends_at: datetime | None = None
    countdown_seconds: int | None = None
    round_seconds: int | None = None
    dutch_interval_seconds: int | None = None
    dutch_floor_price: Decimal | None = Field(default=None, max_digits=18, decimal_places=2)


class QuoteIn(Input):
    amount: Decimal = Field(max_digits=18, decimal_places=2, description="yuan")


class DutchAccept(Input):
    expected_price: Decimal | None = Field(default=None, max_digits=18, decimal_places=2,
                                           description="the price the bidder saw; refused if the clock moved on")


class LiveDeclaration(Input):
    keep_bidding: bool = True


class CompetitionView(Output):
    """What anyone following the competition sees: numbers, never names."""

    id: int
    lot_id: int
    mode: str
    phase: str
    starting_price: Decimal
    increment: Decimal
    starts_at: datetime
    ends_at: datetime
    listing_ends_at: datetime | None
    countdown_seconds: int | None
    round_seconds: int | None
    round_number: int | None
    dutch_interval_seconds: int | None
    dutch_floor_price: Decimal | None
    current_price: Decimal | None
    leader_number: str | None
    quote_count: int | None
    reserve_commitment: str | None
    reserve_price: Decimal | None
    reserve_salt: str | None
    result: str | None
    result_reason: str | None
    final_price: Decimal | None
    winner_number: str | None
    closed_at: datetime | None
    suspended_at: datetime | None = Field(default=None, description="set while the lot is suspended: no quotes")
    paused_seconds: int = Field(default=0, description="running time lost to suspensions; the end moved by it")
    server_time: datetime
    your_number: str | None = None
    you_lead: bool = False
    quotes: list[dict[str, Any]] = []


class RegistrationOut(Output):
    id: int
    competition_id: int
    bidder_number: str
    wants_live: bool
    registered_at: datetime


class QuoteOut(Output):
    id: int
    competition_id: int
    bidder_number: str
    phase: str
    round_number: int | None
    amount: Decimal | None
    commitment: str | None
    salt: str | None = Field(default=None, description="sealed quote: the salt, kept by the bidder as its receipt")
    submitted_at: datetime


class BidderOut(Output):
    registration_id: int
    bidder_number: str
    party_id: int
    party_name: str
    party_uscc: str
    wants_live: bool
    registered_at: datetime


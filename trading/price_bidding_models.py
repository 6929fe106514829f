"""Tables of price competitions: listing quotes, auctions and online bidding (land, mining rights, state property).

A competition belongs to one lot. Its registrations give each admitted bidder a random
bidder number (竞买号) and its quotes carry that number, never a name. What must stay
hidden until the close (the reserve price, the amounts of sealed quotes) lives only in
:class:`PriceSecret`; the competition and quote rows carry a salted SHA-256 commitment
of it, and receive the value and the salt when the result reveals them. The secrets are
not part of the replayed state: the ledger never holds them before the reveal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> sa.Column[Any]:
    return sa.Column(sa.Integer, sa.ForeignKey(target), nullable=nullable, index=index)


class PriceCompetition(SQLModel, table=True):
    """The price competition of one lot: its mode, prices, times, and the state of the bidding.

    ``ends_at`` is the end of what runs now (listing period, live countdown, round, sealed
    period, Dutch clock); ``listing_ends_at`` keeps the published listing close.
    ``suspended_at`` is set while the lot is suspended (the competition is paused: no quote,
    no close); ``paused_seconds`` is the running time lost to suspensions so far, which moved
    ``ends_at`` out and holds the Dutch clock back.
    """

    __tablename__ = "trading_price_competitions"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False, unique=True))
    mode: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    phase: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    starting_price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    increment: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    starts_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    listing_ends_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    countdown_seconds: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    round_seconds: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    round_number: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    dutch_interval_seconds: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    dutch_floor_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    current_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    leader_registration_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    leader_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(8)))
    quote_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    reserve_commitment: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    reserve_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))  # revealed at the close
    reserve_salt: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))  # revealed at the close
    result: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    result_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    final_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    winner_registration_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    winner_number: str | None = Field(default=None, sa_column=sa.Column(sa.String(8)))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    suspended_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    paused_seconds: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    created_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class PriceRegistration(SQLModel, table=True):
    """A bidder party admitted to a competition, known to the others by ``bidder_number`` only."""

    __tablename__ = "trading_price_registrations"
    __table_args__ = (
        sa.UniqueConstraint("competition_id", "party_id", name="uq_trading_price_registrations_party"),
        sa.UniqueConstraint("competition_id", "bidder_number", name="uq_trading_price_registrations_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(sa_column=_fk("trading_price_competitions.id", index=True))
    party_id: int = Field(sa_column=_fk("identities_parties.id"))
    bidder_number: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    bond_id: int = Field(sa_column=_fk("trading_bid_bonds.id"))
    wants_live: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    registered_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    registered_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class PriceQuote(SQLModel, table=True):
    """One quote (报价) of one bidder. A sealed quote has no ``amount`` until the close, only its commitment."""

    __tablename__ = "trading_price_quotes"

    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(sa_column=_fk("trading_price_competitions.id", index=True))
    registration_id: int = Field(sa_column=_fk("trading_price_registrations.id"))
    bidder_number: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    phase: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    round_number: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    amount: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    commitment: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    salt: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    submitted_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class PriceSecret(SQLModel, table=True):
    """A value hidden until the close: the reserve price (``quote_id`` empty) or a sealed quote's amount."""

    __tablename__ = "trading_price_secrets"

    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(sa_column=_fk("trading_price_competitions.id", index=True))
    quote_id: int | None = Field(default=None, sa_column=_fk("trading_price_quotes.id", nullable=True))
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    salt: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class PriceChannelReceipt(SQLModel, table=True):
    """The reply to a live-channel message, so a repeated message is applied once."""

    __tablename__ = "trading_price_channel_receipts"
    __table_args__ = (sa.UniqueConstraint("competition_id", "user_id", "message_id",
                                          name="uq_trading_price_channel_receipts_message"),)

    id: int | None = Field(default=None, primary_key=True)
    competition_id: int = Field(sa_column=_fk("trading_price_competitions.id"))
    user_id: int = Field(sa_column=_fk("identities_users.id"))
    message_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    reply: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

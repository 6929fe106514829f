"""Bids, their bonds, and the resumable uploads that carry their envelopes.

Only the sealed envelope is ever stored (as a content-addressed blob); nothing here, nor
anywhere on the platform, holds a bid's content before the opening.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)


class Bid(SQLModel, table=True):
    """One sealed bid of one party for one lot.

    A replacement makes a new row and marks the old one ``replaced``; at most one bid per
    (lot, party) is ``submitted`` at a time. ``status`` follows ``bid_states``.
    """

    __tablename__ = "trading_bids"
    # One active bid per party and lot, enforced by the database too (a race of two
    # submissions cannot slip past the service's own check).
    __table_args__ = (sa.Index(
        "uq_trading_bids_active_lot_party", "lot_id", "party_id", unique=True,
        sqlite_where=sa.text("status = 'submitted'"), postgresql_where=sa.text("status = 'submitted'")),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False, index=True))
    party_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False, index=True))
    submitted_by: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_users.id")))
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    status_details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    envelope_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    envelope_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    cert_fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    # SHA-256 of the signer's public key (SubjectPublicKeyInfo): one key behind two parties'
    # certificates is a collusion sign (the early-warning rule ``trading.shared_certificate``).
    signer_key_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), index=True))
    submitted_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    timestamp_token: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    ledger_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    replaces_bid_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_bids.id")))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class BidBond(SQLModel, table=True):
    """The bid bond (投标保证金) of a party for a lot: a guarantee, a payment or an
    insurance policy, verified by centre staff against the bank or insurer."""

    __tablename__ = "trading_bid_bonds"
    __table_args__ = (sa.UniqueConstraint("lot_id", "party_id", name="uq_trading_bid_bonds_lot_party"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False, index=True))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    form: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reference: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    amount: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    verified: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    verified_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    verified_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Upload(SQLModel, table=True):
    """A resumable upload of one envelope: the bytes received so far sit in a spool file;
    ``received`` is how far the client may resume from."""

    __tablename__ = "trading_uploads"

    id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    user_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), nullable=False))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False))
    declared_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    declared_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    received: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

"""Tables of the remote opening: the session of a lot, the rows of its opening record,
decryption attempts, custodian shares, bidders' confirmations and the message receipts of
the live channel.

What is never here: a private key, a content key, or a bid's content before the opening
(the opened packages go to the blob store, named by their SHA-256, once the opening has
happened). A custodian's key share is kept only from its hand-over until the k-th share
arrives (fewer than k reveal nothing about the key) and is erased as soon as the key has
been rebuilt.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)


class Opening(SQLModel, table=True):
    """The opening session of one lot (status in ``OpeningStatus``)."""

    __tablename__ = "trading_openings"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False,
                                            unique=True))
    project_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False,
                                                index=True))
    host_user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    bid_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    min_bidders: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    warning: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    decision: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    decision_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    window_minutes: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    window_opened_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    window_ends_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    window_closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    record_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    started_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class OpeningRow(SQLModel, table=True):
    """One bid's row of the opening record: who, what the opening sheet says, how it was
    decrypted, or why it was not (outcome in ``RowOutcome``)."""

    __tablename__ = "trading_opening_rows"

    id: int | None = Field(default=None, primary_key=True)
    opening_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_openings.id"), nullable=False,
                                                index=True))
    bid_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_bids.id"), nullable=False,
                                            unique=True))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    bidder_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    bidder_uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    method: str | None = Field(default=None, sa_column=sa.Column(sa.String(24)))
    total_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    sheet_items: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    problem: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    package_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    package_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    failed_attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class DecryptionAttempt(SQLModel, table=True):
    """A content key handed over for a bid, and whether it opened the envelope."""

    __tablename__ = "trading_opening_attempts"

    id: int | None = Field(default=None, primary_key=True)
    opening_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_openings.id"), nullable=False,
                                                index=True))
    bid_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_bids.id"), nullable=False))
    user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    cert_fingerprint: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    succeeded: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    attempted_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class CustodianShare(SQLModel, table=True):
    """A custodian's decrypted key share, handed over for the fallback. ``value`` is held
    only until the key is rebuilt (then erased); it is never in the ledger."""

    __tablename__ = "trading_opening_shares"
    __table_args__ = (sa.UniqueConstraint("opening_id", "share_index", name="uq_trading_opening_shares_index"),)

    id: int | None = Field(default=None, primary_key=True)
    opening_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_openings.id"), nullable=False,
                                                index=True))
    share_index: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    custodian_fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    custodian_subject: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    value: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    handed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class RecordConfirmation(SQLModel, table=True):
    """A bidder's e-signature (detached CMS) over the opening record's canonical bytes."""

    __tablename__ = "trading_opening_confirmations"
    __table_args__ = (sa.UniqueConstraint("opening_id", "party_id", name="uq_trading_opening_confirmations_party"),)

    id: int | None = Field(default=None, primary_key=True)
    opening_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_openings.id"), nullable=False,
                                                index=True))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    record_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    signer_fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signer_subject: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    confirmed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ChannelReceipt(SQLModel, table=True):
    """A live-channel message already applied, with the reply it got: a repeated message
    (same user, same id) gets the same reply and changes nothing."""

    __tablename__ = "trading_opening_receipts"
    __table_args__ = (sa.UniqueConstraint("user_id", "message_id", name="uq_trading_opening_receipts_message"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), nullable=False))
    message_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    reply: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

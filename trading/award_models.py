"""Tables of the award: the candidate list, the award of a lot (publicity, winner, award
notice, contract) with the contract's signatures, the withdrawn publicities, and the
project archive.

One :class:`Award` row per lot carries the whole after-evaluation life of that lot, so the
replay of ``award:<lot_id>`` compares one row, its candidates and its signatures. Every
document (award notice, its seal signature, contract, contract signatures, archive zip) is
a content-addressed blob named here by its SHA-256.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)
Score = sa.Numeric(9, 2)


class AwardStatus(StrEnum):
    """Where the award of a lot stands; the lot's status follows (see ``Award``)."""

    CANDIDATES = "candidates"  # the candidate list is recorded; the lot is still evaluating
    # A price competition's deal (成交): buyer and price fixed at the close, the lot awarded at once;
    # the sealed award notice (the deal confirmation, 成交确认书) and the result notice follow.
    CONCLUDED = "concluded"
    PUBLICITY = "publicity"  # candidates published; the lot is in publicity
    AWARDED = "awarded"  # winner confirmed, award notice sealed, result notice out
    CONTRACTED = "contracted"  # the contract is signed by both parties
    # An objection to the candidates was upheld because the evaluation was wrong: the publicity
    # is withdrawn, its candidates moved to an ``AwardWithdrawal``, and the lot is evaluated
    # again; the re-evaluation's candidates take the award back to ``CANDIDATES``.
    REEVALUATION = "reevaluation"
    # The re-evaluation rejected every bid: the tender failed with the lot (no candidates).
    FAILED = "failed"


class PublicityObjectionOutcome(StrEnum):
    """What the tenderer's reply to an objection to the candidates decides."""

    DISMISSED = "dismissed"  # 异议不成立: the candidates stand
    # 异议成立, the evaluation was wrong: the result cannot stand and the lot is re-evaluated
    # (复核 by the same committee, or 重新评审 by a new draw), then published again.
    UPHELD_EVALUATION = "upheld_evaluation"


class ContractRole(StrEnum):
    """The two parties of the contract: the tenderer and the winning bidder."""

    TENDERER = "tenderer"
    WINNER = "winner"


def _user_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"))


class Award(SQLModel, table=True):
    """The award of one lot, from the candidate list to the signed contract.

    ``status`` follows ``award_states.AwardStatus``; the lot's own status moves with it
    (publicity, awarded, contracted) through ``trading.projects.change_lot_status``.
    """

    __tablename__ = "trading_awards"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False, unique=True))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    report_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    recorded_by: int | None = Field(default=None, sa_column=_user_fk())
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    publicity_notice_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_notices.id")))
    publicity_start: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    publicity_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    objection_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    winner_bid_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_bids.id")))
    winner_party_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_parties.id")))
    price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    deviation_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    confirmed_by: int | None = Field(default=None, sa_column=_user_fk())
    confirmed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    award_notice_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    award_notice_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    seal_signature_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    result_notice_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_notices.id")))
    contract_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    contract_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    contract_media_type: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    contract_uploaded_by: int | None = Field(default=None, sa_column=_user_fk())
    contract_uploaded_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    contracted_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class AwardCandidate(SQLModel, table=True):
    """One ranked candidate (中标候选人) of an award: a bid, its price and score."""

    __tablename__ = "trading_award_candidates"
    __table_args__ = (
        sa.UniqueConstraint("award_id", "rank", name="uq_trading_award_candidates_rank"),
        sa.UniqueConstraint("award_id", "bid_id", name="uq_trading_award_candidates_bid"),
    )

    id: int | None = Field(default=None, primary_key=True)
    award_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_awards.id"), nullable=False, index=True))
    rank: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    bid_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_bids.id"), nullable=False))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    price: Decimal = Field(sa_column=sa.Column(Money, nullable=False))
    score: Decimal | None = Field(default=None, sa_column=sa.Column(Score))


class AwardWithdrawal(SQLModel, table=True):
    """A candidate publicity withdrawn because an objection to it was upheld.

    It keeps what the withdrawn round was (its publicity notice and dates, the report it
    rested on, the candidates as they were recorded) and why it was withdrawn (the
    objection and the tenderer's reasons). The re-evaluation session it allows names it
    (``evaluation_sessions.award_withdrawal_id``); ``round`` counts the withdrawals of
    the lot from 1.
    """

    __tablename__ = "trading_award_withdrawals"
    __table_args__ = (sa.UniqueConstraint("award_id", "round", name="uq_trading_award_withdrawals_round"),)

    id: int | None = Field(default=None, primary_key=True)
    award_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_awards.id"), nullable=False))
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False))
    round: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    objection_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_objections.id"), nullable=False, unique=True))
    outcome: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    reasons: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    report_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    publicity_notice_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_notices.id")))
    publicity_start: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    publicity_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    # The withdrawn candidates, each as its ``trading_award_candidates`` row was (id included).
    candidates: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    change_notice_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_notices.id")))
    withdrawn_by: int | None = Field(default=None, sa_column=_user_fk())
    withdrawn_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ContractSignature(SQLModel, table=True):
    """One party's detached CMS signature over the contract (the signature is a blob)."""

    __tablename__ = "trading_contract_signatures"
    __table_args__ = (sa.UniqueConstraint("award_id", "role", name="uq_trading_contract_signatures_role"),)

    id: int | None = Field(default=None, primary_key=True)
    award_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_awards.id"), nullable=False, index=True))
    role: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    party_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=False))
    signer_uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
    cert_fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signature_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    contract_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signed_by: int | None = Field(default=None, sa_column=_user_fk())
    signed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ProjectArchive(SQLModel, table=True):
    """The archive zip of a project, made once when every lot is finished."""

    __tablename__ = "trading_archives"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, unique=True))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    file_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    files_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    made_by: int | None = Field(default=None, sa_column=_user_fk())
    made_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

"""Tables of an evaluation session: the session of a lot, its committee, the bids under
evaluation, preliminary-review marks, clarifications, scores, dissent and the signatures
of the report.

Every change here is also an entry of the session's stream ``evaluation:<session_id>``;
the tables are what the session is now, the stream is how it got there (and what the
live channel sends). Experts' ID and phone numbers stay in the expert pool's tables.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)
Points = sa.Numeric(9, 2)


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return sa.Column(sa.Integer, sa.ForeignKey(target), nullable=nullable, index=index)


class EvaluationSession(SQLModel, table=True):
    """One lot's evaluation (stage in ``evaluation.states.Stage``).

    ``method`` and ``parameters`` are copied from the lot when the session opens, so a
    later edit of the lot cannot change a running evaluation; ``settings`` holds the
    session's own choices (review criteria, objective factors, the abnormal-score
    threshold, clarification time, venues).
    """

    __tablename__ = "evaluation_sessions"
    # A lot is evaluated once per round: round 1, then one more for each publicity withdrawn
    # after an upheld objection (``evaluation.service.open_session``).
    __table_args__ = (sa.UniqueConstraint("lot_id", "evaluation_round", name="uq_evaluation_sessions_round"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id"), nullable=False))
    project_id: int = Field(sa_column=_fk("trading_projects.id", index=True))
    draw_id: int = Field(sa_column=_fk("expert_pool_draws.id"))
    host_user_id: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    stage: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    method: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    parameters: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    settings: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    chair_member_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    scoring_round: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False))
    results: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    report_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    report_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    # The signed report bundle (report, signatures, dissent) handed to trading at the end.
    signed_report_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    signed_report_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    opened_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # A re-evaluation (复核 / 重新评审) names the finished session whose result was withdrawn,
    # the withdrawn publicity that allows it (one session per withdrawal) and why.
    evaluation_round: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, server_default="1"))
    reevaluation_of: int | None = Field(default=None, sa_column=_fk("evaluation_sessions.id", nullable=True))
    award_withdrawal_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_award_withdrawals.id"), unique=True))
    reevaluation_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class CommitteeMember(SQLModel, table=True):
    """A seat of the committee (status in ``MemberStatus``); a recused member keeps the row
    and the replacement gets a new one pointing back at it."""

    __tablename__ = "evaluation_members"
    __table_args__ = (sa.UniqueConstraint("session_id", "expert_id", name="uq_evaluation_members_expert"),
                      sa.UniqueConstraint("session_id", "seat", name="uq_evaluation_members_seat"))

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    seat: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    expert_id: int = Field(sa_column=_fk("expert_pool_experts.id"))
    expert_code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    user_id: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    specialty: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    venue: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    cert_fingerprint: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    signed_in_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    identity_confirmed_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    identity_confirmed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    declared_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    recusal_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    replaces_member_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    chair_vote: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))


class EvaluatedBid(SQLModel, table=True):
    """A bid opened at the opening, as the committee evaluates it."""

    __tablename__ = "evaluation_bids"
    __table_args__ = (sa.UniqueConstraint("session_id", "bid_id", name="uq_evaluation_bids_bid"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    bid_id: int = Field(sa_column=_fk("trading_bids.id"))
    party_id: int = Field(sa_column=_fk("identities_parties.id"))
    bidder_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    bidder_uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
    opened_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    corrected_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    corrections: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    sheet_items: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    review_passed: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))
    rejection_reasons: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    abnormally_low: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    price_score: Decimal | None = Field(default=None, sa_column=sa.Column(Points))
    total_score: Decimal | None = Field(default=None, sa_column=sa.Column(Points))
    rank: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    candidate: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))


class ReviewMark(SQLModel, table=True):
    """One member's pass/fail of one bid against one preliminary-review criterion."""

    __tablename__ = "evaluation_review_marks"
    __table_args__ = (sa.UniqueConstraint("member_id", "bid_id", "criterion", name="uq_evaluation_review_marks"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    member_id: int = Field(sa_column=_fk("evaluation_members.id"))
    bid_id: int = Field(sa_column=_fk("trading_bids.id"))
    criterion: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    passed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    marked_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Clarification(SQLModel, table=True):
    """A written question of the committee to one bidder and the bidder's signed answer."""

    __tablename__ = "evaluation_clarifications"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    bid_id: int = Field(sa_column=_fk("trading_bids.id"))
    party_id: int = Field(sa_column=_fk("identities_parties.id", index=True))
    asked_by_member_id: int = Field(sa_column=_fk("evaluation_members.id"))
    question: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    asked_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    answer: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    answer_signature: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    signer_fingerprint: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    answered_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    answered_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class Score(SQLModel, table=True):
    """One member's score of one bid for one factor in one scoring round.

    ``confirmation`` is the member's reason for keeping a flagged score (an objective
    factor that differs from the others, or a score far from the others')."""

    __tablename__ = "evaluation_scores"
    __table_args__ = (sa.UniqueConstraint("member_id", "bid_id", "factor", "round", name="uq_evaluation_scores"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    member_id: int = Field(sa_column=_fk("evaluation_members.id"))
    bid_id: int = Field(sa_column=_fk("trading_bids.id"))
    factor: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    round: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    value: Decimal = Field(sa_column=sa.Column(Points, nullable=False))
    flagged: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    confirmation: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    submitted_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Dissent(SQLModel, table=True):
    """A member's written dissent (from a review majority, or from the results)."""

    __tablename__ = "evaluation_dissents"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    member_id: int = Field(sa_column=_fk("evaluation_members.id"))
    stage: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    bid_id: int | None = Field(default=None, sa_column=_fk("trading_bids.id", nullable=True))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ReportSignature(SQLModel, table=True):
    """A member's detached CMS signature (certificate or e-seal) over the report's bytes."""

    __tablename__ = "evaluation_report_signatures"
    __table_args__ = (sa.UniqueConstraint("session_id", "member_id", name="uq_evaluation_report_signatures"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    member_id: int = Field(sa_column=_fk("evaluation_members.id"))
    report_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    signer_fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    signer_subject: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    signed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class EvaluationVenueStaff(SQLModel, table=True):
    """A centre staff member on duty at one venue of a session: they confirm the identity
    of the experts who sign in there, and only there (``members.handle_confirm_identity``).
    The staff member who opens the session is on duty at its main venue from the opening."""

    __tablename__ = "evaluation_venue_staff"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id", name="uq_evaluation_venue_staff_user"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=_fk("evaluation_sessions.id", index=True))
    user_id: int = Field(sa_column=_fk("identities_users.id"))
    venue: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    checked_in_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

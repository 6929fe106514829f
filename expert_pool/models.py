"""The unified expert pool: experts, their specialties, availability and avoidance relations.

ID numbers and phone numbers are personal data: they live in these tables only, never in
ledger payloads (the ledger records who was admitted, not how to reach them).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class Expert(SQLModel, table=True):
    __tablename__ = "expert_pool_experts"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    id_number: str = Field(sa_column=sa.Column(sa.String(18), nullable=False, unique=True))
    phone: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    employer_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    employer_uscc: str | None = Field(default=None, sa_column=sa.Column(sa.String(18), index=True))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False, index=True))
    title: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    years_of_practice: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    birth_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    suspended_until: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    term_until: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    user_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), unique=True))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ExpertSpecialty(SQLModel, table=True):
    """A classification code the expert may evaluate (2018 standard, e.g. A0401)."""

    __tablename__ = "expert_pool_specialties"
    __table_args__ = (sa.Index("ix_expert_pool_specialties_code", "code"),)

    expert_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_experts.id", ondelete="CASCADE"), primary_key=True))
    code: str = Field(sa_column=sa.Column(sa.String(12), primary_key=True))


class ExpertRelation(SQLModel, table=True):
    """A tie that requires avoidance: employment, directorship, shareholding, a relative's
    employer. Open-ended when ``end_date`` is empty."""

    __tablename__ = "expert_pool_relations"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_experts.id", ondelete="CASCADE"), nullable=False, index=True))
    kind: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    party_uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False, index=True))
    party_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    start_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    end_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))


class ExpertUnavailability(SQLModel, table=True):
    """Leave or blackout dates: the expert is not drawn for evaluations on these days."""

    __tablename__ = "expert_pool_unavailability"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_experts.id", ondelete="CASCADE"), nullable=False, index=True))
    start_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    end_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))


class Draw(SQLModel, table=True):
    """A request for a committee's experts, and the commitments that make it checkable.

    The lot and the parties to avoid come from trading as data (the two domains do not
    import each other). Who was drawn stays sealed until the draw is revealed.
    """

    __tablename__ = "expert_pool_draws"

    id: int | None = Field(default=None, primary_key=True)
    lot_reference: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, index=True))
    evaluation_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    venue: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    region_rule: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    region_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(6)))
    quotas: dict[str, int] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # region_rule "venues": the main venue first, then the secondary ones, each
    # {"key": "V1", "name", "place", "region_code", "quotas": {code: n}}; ``venue`` is then the
    # main venue's name and ``quotas`` the totals per specialty. None for a single-venue draw.
    venues: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    avoid_parties: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    seed_commitment: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    snapshot_commitment: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    requested_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    revealed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class DrawSecret(SQLModel, table=True):
    """What must stay secret until the reveal: the seed and the eligible snapshot.

    Kept apart from the draw so that access to it can be restricted on its own.
    """

    __tablename__ = "expert_pool_draw_secrets"

    draw_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_draws.id", ondelete="CASCADE"), primary_key=True))
    seed: bytes = Field(sa_column=sa.Column(sa.LargeBinary(64), nullable=False))
    # Each specialty's sorted codes joined by newlines (venue draws nest them by venue key);
    # older draws hold lists. Read through expert_pool.draws.read_stored_snapshot.
    snapshot: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class DrawCall(SQLModel, table=True):
    """One expert called for a draw, in sequence order, and the answer."""

    __tablename__ = "expert_pool_draw_calls"
    __table_args__ = (sa.UniqueConstraint("draw_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    draw_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_draws.id", ondelete="CASCADE"), nullable=False, index=True))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    specialty: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))
    # The key of the venue the expert is called to (a venue draw), None otherwise.
    venue: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    expert_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("expert_pool_experts.id"), nullable=False,
                                               index=True))
    salt: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    answer: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    called_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # Set, and committed, before the provider is asked to call: a worker that crashes after
    # that point never calls the expert a second time (no answer counts as a decline).
    invited_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    provider_reference: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    answered_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))

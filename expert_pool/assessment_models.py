"""An expert's record after evaluations: assessments of their work and recorded violations.

DOMAIN.md "Expert pool": performance assessment after each evaluation, lifelong
accountability. The drawing history (calls, acceptances, declines, recusals) is already in
the draw tables; these two complete the expert's history.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class ExpertAssessment(SQLModel, table=True):
    """The trading centre's assessment of one expert's work in one evaluation."""

    __tablename__ = "expert_pool_assessments"
    __table_args__ = (sa.UniqueConstraint("expert_id", "reference", name="uq_expert_pool_assessments_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("expert_pool_experts.id"), nullable=False,
                                               index=True))
    reference: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    rating: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    remarks: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    assessed_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    assessed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ExpertViolation(SQLModel, table=True):
    """A breach of the rules by an expert (left early, disclosed confidential facts...), with
    the penalty the authority decided."""

    __tablename__ = "expert_pool_violations"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("expert_pool_experts.id"), nullable=False,
                                               index=True))
    reference: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    kind: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    penalty: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    recorded_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

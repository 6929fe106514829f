"""Tables of early warnings.

One row per (rule, subject): the engine finds the same collusion sign every time it runs,
and a regulator must see it once, with its evidence kept up to date, not once per run.
Supervision knows no domain, so the project and the scope are plain columns, not foreign
keys into trading: the rule that raised the warning filled them in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class EarlyWarning(SQLModel, table=True):
    """A warning raised by a rule about one subject (a lot, a pair of bids, an expert...).

    ``status`` follows ``service.TRANSITIONS`` (open, acknowledged, investigating, closed);
    ``region_code`` and ``segment`` route it to the regulators of that jurisdiction and
    industry. ``evidence`` is what the rule found, as JSON a regulator can act on.
    """

    __tablename__ = "supervision_warnings"
    __table_args__ = (sa.UniqueConstraint("rule_code", "subject_key", name="uq_supervision_warnings_rule_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_code: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    subject_kind: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    subject_key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    summary: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    evidence: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    project_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, index=True))
    region_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(6), index=True))
    segment: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    handled_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    raised_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

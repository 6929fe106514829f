"""Tables of complaints to the regulator and of monitoring cases.

One :class:`Complaint` row carries a complaint's whole handling (acceptance, suspension,
decision) with the rule and due date of each step, so the replay of ``complaint:<id>``
compares one row and its evidence files. A :class:`MonitoringCase` and its findings are
the regulator's own inquiry, replayed from ``case:<id>``. Evidence files are
content-addressed blobs named by their SHA-256.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(sa.Integer, sa.ForeignKey(target), nullable=nullable, index=index)


def _when(nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(UTCDateTime(), nullable=nullable)


class Complaint(SQLModel, table=True):
    """A complaint (投诉) about a lot, filed by a party with the regulator."""

    __tablename__ = "trading_complaints"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_fk("trading_projects.id", index=True))
    lot_id: int = Field(sa_column=_fk("trading_lots.id", index=True))
    party_id: int = Field(sa_column=_fk("identities_parties.id", index=True))
    filed_by: int = Field(sa_column=_fk("identities_users.id"))
    matter: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    objection_id: int | None = Field(default=None, sa_column=_fk("trading_objections.id", nullable=True))
    grounds: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    requests: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    facts: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    known_at: datetime | None = Field(default=None, sa_column=_when())
    filed_at: datetime = Field(sa_column=_when(nullable=False))
    window_rule: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    window_until: datetime = Field(sa_column=_when(nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    acceptance_rule: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    acceptance_due: datetime = Field(sa_column=_when(nullable=False))
    acceptance_decided_at: datetime | None = Field(default=None, sa_column=_when())
    acceptance_late: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))
    acceptance_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    handled_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    decision_rule: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    decision_due: datetime | None = Field(default=None, sa_column=_when())
    outcome: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    decision_reasons: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    decided_at: datetime | None = Field(default=None, sa_column=_when())
    decision_late: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))
    decision_notice_id: int | None = Field(default=None, sa_column=_fk("trading_notices.id", nullable=True))
    suspended_at: datetime | None = Field(default=None, sa_column=_when())
    suspended_until: datetime | None = Field(default=None, sa_column=_when())
    suspended_from_status: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    resumed_at: datetime | None = Field(default=None, sa_column=_when())


class ComplaintEvidence(SQLModel, table=True):
    """One evidence file of a complaint, stored as a blob."""

    __tablename__ = "trading_complaint_evidence"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(sa_column=_fk("trading_complaints.id", index=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    media_type: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    uploaded_at: datetime = Field(sa_column=_when(nullable=False))
    uploaded_by: int = Field(sa_column=_fk("identities_users.id"))


class MonitoringCase(SQLModel, table=True):
    """A regulator's monitoring case (监督检查) about a project or one of its lots."""

    __tablename__ = "trading_monitoring_cases"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_fk("trading_projects.id", index=True))
    lot_id: int | None = Field(default=None, sa_column=_fk("trading_lots.id", nullable=True))
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    warning_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    subject: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False, index=True))
    opened_by: int = Field(sa_column=_fk("identities_users.id"))
    opened_at: datetime = Field(sa_column=_when(nullable=False))
    response_request: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    response_due: datetime | None = Field(default=None, sa_column=_when())
    response: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    responded_at: datetime | None = Field(default=None, sa_column=_when())
    responded_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))
    conclusion: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    closed_at: datetime | None = Field(default=None, sa_column=_when())
    closed_by: int | None = Field(default=None, sa_column=_fk("identities_users.id", nullable=True))


class CaseFinding(SQLModel, table=True):
    """A finding the regulator recorded in a monitoring case."""

    __tablename__ = "trading_case_findings"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=_fk("trading_monitoring_cases.id", index=True))
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    recorded_at: datetime = Field(sa_column=_when(nullable=False))
    recorded_by: int = Field(sa_column=_fk("identities_users.id"))

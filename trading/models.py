"""Trading tables: party credit, projects and lots, notices, tender documents, questions
and objections.

Bids, uploads, openings and awards have their own model modules (``bid_models``,
``opening_models``, ``award_models``) so each concern stays small. Money is ``Decimal``
yuan with two places; every time is UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime

Money = sa.Numeric(18, 2)


def _party_fk(nullable: bool = False, index: bool = True) -> sa.Column[Any]:
    return sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), nullable=nullable, index=index)


# --- parties: qualifications and credit -------------------------------------------------


class PartyQualification(SQLModel, table=True):
    """A licence a party holds (type, grade, expiry), e.g. a construction general
    contracting qualification of grade 1. Tender documents may require one."""

    __tablename__ = "trading_party_qualifications"

    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(sa_column=_party_fk())
    kind: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    grade: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    certificate_number: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    expires_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class CreditRecord(SQLModel, table=True):
    """A credit record: a blacklisting (the party may not bid while it runs), or a good or
    bad record kept for evaluation. Open-ended when ``end_date`` is empty."""

    __tablename__ = "trading_credit_records"

    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(sa_column=_party_fk())
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    authority: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    start_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    end_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


# --- projects and lots --------------------------------------------------------------------


class Project(SQLModel, table=True):
    """A tender project (交易项目) in one segment, run by one procedure."""

    __tablename__ = "trading_projects"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    segment: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    procedure: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    tenderer_party_id: int = Field(sa_column=_party_fk())
    agency_party_id: int | None = Field(default=None, sa_column=_party_fk(nullable=True))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False, index=True))
    industry: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False, index=True))
    created_by: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_users.id")))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Lot(SQLModel, table=True):
    """A lot (标段/包): bids, opening and evaluation happen per lot.

    ``opening_key`` is the lot's opening-key record (ca_interop.opening_keys): its
    certificate, the custodians' sealed shares, the threshold and the key commitment;
    never the private key. It is made at publication from ``custodian_certificates``
    (PEM encryption certificates of the custodians) and ``custodian_threshold`` when the
    tender documents allow the custodian fallback. The timetable columns are what the
    rule table checks.
    """

    __tablename__ = "trading_lots"
    __table_args__ = (sa.UniqueConstraint("project_id", "number", name="uq_trading_lots_project_number"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, index=True))
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    code: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, unique=True))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    budget: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    ceiling_price: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    evaluation_method: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    evaluation_parameters: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    bid_bond_amount: Decimal | None = Field(default=None, sa_column=sa.Column(Money))
    min_bidders: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    custodian_fallback: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    custodian_certificates: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    custodian_threshold: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    opening_key: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    opening_certificate_fingerprint: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    documents_from: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    documents_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    clarification_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    objection_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    bid_deadline: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), index=True))
    opening_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False, index=True))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


# --- notices, documents, questions, objections ---------------------------------------------


class Notice(SQLModel, table=True):
    """A public announcement: tender, change, candidate publicity, result (award)."""

    __tablename__ = "trading_notices"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, index=True))
    lot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id")))
    kind: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    title: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    details: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    segment: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False, index=True))
    publicity_until: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    document_sha256: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    published_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    published_by: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_users.id")))


class TenderDocument(SQLModel, table=True):
    """One version of a tender document (or clarification) as a content-addressed blob."""

    __tablename__ = "trading_documents"
    __table_args__ = (sa.UniqueConstraint("project_id", "name", "version", name="uq_trading_documents_version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, index=True))
    lot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id")))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    media_type: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    uploaded_by: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("identities_users.id")))
    uploaded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class DocumentDownload(SQLModel, table=True):
    """A bidder fetched a tender document: the law asks who obtained the documents."""

    __tablename__ = "trading_document_downloads"

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_documents.id"), nullable=False, index=True))
    party_id: int = Field(sa_column=_party_fk())
    user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    downloaded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Question(SQLModel, table=True):
    """A bidder's question; other bidders see the question and answer, never the asker."""

    __tablename__ = "trading_questions"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, index=True))
    lot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id")))
    asker_party_id: int = Field(sa_column=_party_fk())
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    asked_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    answer: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    answered_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    answered_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))


class Objection(SQLModel, table=True):
    """An objection (异议) or challenge (质疑) at one stage, with its reply deadline."""

    __tablename__ = "trading_objections"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("trading_projects.id"), nullable=False, index=True))
    lot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("trading_lots.id")))
    stage: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    party_id: int = Field(sa_column=_party_fk())
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    raised_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    reply_due: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    reply: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    replied_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    replied_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id")))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))

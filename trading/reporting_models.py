"""The national data reporting's batches: one row per dataset and time window.

The batch id is derived from the platform, the dataset and the window (``trading.reporting
.batch_id``), so building the same batch again finds this row, and sending it again carries
the same id, which the national platform recognises. The content is kept as sent (JSON
Lines) with its SHA-256, so what went upward can be shown later as it was.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class BatchStatus(StrEnum):
    PENDING = "pending"  # built, not accepted yet (never sent, or every attempt failed so far)
    ACCEPTED = "accepted"  # the national platform took it: never sent again
    REJECTED = "rejected"  # refused for good (malformed to its eyes): an operator looks


class ReportBatch(SQLModel, table=True):
    __tablename__ = "trading_report_batches"

    id: str = Field(sa_column=sa.Column(sa.String(120), primary_key=True))
    dataset: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    window_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    window_end: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    record_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    content_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    receipt: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    built_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

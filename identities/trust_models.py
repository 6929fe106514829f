"""The trust list: the certificate authorities whose certificates bidhall recognises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class TrustedCA(SQLModel, table=True):
    """A recognised root or intermediate CA, with how to treat its certificates."""

    __tablename__ = "identities_trusted_cas"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    region: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    algorithm: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    subject: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    certificate_der: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    not_after: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    revocation_policy: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    identity_rule: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

"""Organisations (parties), users and their tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class Party(SQLModel, table=True):
    """An organisation taking part in trading, identified by its unified social credit code."""

    __tablename__ = "identities_parties"

    id: int | None = Field(default=None, primary_key=True)
    uscc: str = Field(sa_column=sa.Column(sa.String(18), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    region_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(12)))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class User(SQLModel, table=True):
    """A person who signs in. ``roles`` is a list of :class:`core.actors.Role` values."""

    __tablename__ = "identities_users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    password_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    roles: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    party_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_parties.id"), index=True),
    )
    jurisdiction: str | None = Field(default=None, sa_column=sa.Column(sa.String(12)))
    industries: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    active: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class Token(SQLModel, table=True):
    """A bearer token: a login session or a named API token. Only its hash is stored."""

    __tablename__ = "identities_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class LoginChallenge(SQLModel, table=True):
    """A one-time nonce a certificate holder signs to sign in (or to bind the certificate)."""

    __tablename__ = "identities_login_challenges"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


class UserCertificate(SQLModel, table=True):
    """A signing certificate bound to a user, after the user proved holding its key."""

    __tablename__ = "identities_user_certificates"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), nullable=False, index=True)
    )
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    subject: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    ca_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    uscc: str | None = Field(default=None, sa_column=sa.Column(sa.String(18)))
    person_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))
    not_after: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    bound_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

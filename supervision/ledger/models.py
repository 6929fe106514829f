"""Ledger tables. The entry bytes are the record; the other columns only index them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class LedgerEntry(SQLModel, table=True):
    """One entry: ``leaf`` holds the exact canonical JSON bytes that were hashed."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_entries_stream_seq", "stream", "seq"),)

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    stream: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    type: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    leaf: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class LedgerCounter(SQLModel, table=True):
    """A single row holding the number of entries.

    Appenders take its row lock (``UPDATE ... RETURNING``) and keep it until they commit,
    so sequence numbers are handed out in commit order with no gaps, across processes.
    """

    __tablename__ = "ledger_counter"

    id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class LedgerNode(SQLModel, table=True):
    """Hash of a complete aligned subtree (level >= 1) covering leaves
    ``[index * 2**level, (index + 1) * 2**level)``; built after the fact, never changed."""

    __tablename__ = "ledger_nodes"

    level: int = Field(sa_column=sa.Column(sa.SmallInteger, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))


class LedgerTreeState(SQLModel, table=True):
    """How many leaves are folded into ``ledger_nodes``; its row lock serialises builders."""

    __tablename__ = "ledger_tree_state"

    id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    built_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class LedgerTreeHead(SQLModel, table=True):
    """A signed tree head: the platform's commitment to the first ``tree_size`` entries."""

    __tablename__ = "ledger_tree_heads"

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    root_hash: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    timestamp: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    key_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    algorithm: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    public_key_pem: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    signature: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))

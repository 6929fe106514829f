"""Published signed tree heads: the heads the platform announces for outsiders to keep.

Every signed head is stored in ``ledger_tree_heads`` (heads are signed whenever a proof
or an archive needs one); a *published* head is one the platform announced, on its
schedule or on an oversight user's demand, and promises to serve forever at
``GET /ledger/heads/{size}``. One publication per tree size: publishing again with no new
entries gives back the head already published.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class PublishedHead(SQLModel, table=True):
    __tablename__ = "supervision_published_heads"

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, unique=True))
    head_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("ledger_tree_heads.id"), nullable=False))
    published_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    trigger: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # "schedule" or "demand"
    requested_by: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))  # user id; None: the platform

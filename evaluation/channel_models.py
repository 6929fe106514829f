"""The live channel's message receipts: a message applied once, with the reply it got.

A repeated message (same user, same session, same client message id) gets the same reply
again and changes nothing; the receipt is stored in the transaction of the message's
effect, so either both exist or neither does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.database import UTCDateTime


class EvaluationReceipt(SQLModel, table=True):
    __tablename__ = "evaluation_receipts"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id", "message_id",
                                          name="uq_evaluation_receipts_message"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("evaluation_sessions.id"), nullable=False))
    user_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("identities_users.id"), nullable=False))
    message_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    reply: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))

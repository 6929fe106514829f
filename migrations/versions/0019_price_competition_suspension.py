"""Trading: price competitions paused while their lot is suspended.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('trading_price_competitions',
                  sa.Column('suspended_at', core.database.UTCDateTime(timezone=True), nullable=True))
    op.add_column('trading_price_competitions',
                  sa.Column('paused_seconds', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('trading_price_competitions') as batch_op:
        batch_op.drop_column('paused_seconds')
        batch_op.drop_column('suspended_at')

"""Trading: bids and uploads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database  # noqa: F401

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Why a bid changed status (opening failures, withdrawals), and one active bid per
    # party and lot enforced by the database.
    with op.batch_alter_table('trading_bids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_details', sa.JSON(), nullable=True))
        batch_op.create_index('uq_trading_bids_active_lot_party', ['lot_id', 'party_id'], unique=True,
                              sqlite_where=sa.text("status = 'submitted'"),
                              postgresql_where=sa.text("status = 'submitted'"))


def downgrade() -> None:
    with op.batch_alter_table('trading_bids', schema=None) as batch_op:
        batch_op.drop_index('uq_trading_bids_active_lot_party', sqlite_where=sa.text("status = 'submitted'"),
                            postgresql_where=sa.text("status = 'submitted'"))
        batch_op.drop_column('status_details')
        batch_op.drop_column('status_reason')

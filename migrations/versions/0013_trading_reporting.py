"""Trading: data reporting batches.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database  # noqa: F401

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_report_batches',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('window_start', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('receipt', sa.String(length=200), nullable=True),
    sa.Column('built_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_report_batches'))
    )
    op.create_index(op.f('ix_trading_report_batches_dataset'), 'trading_report_batches', ['dataset'], unique=False)
    op.create_index(op.f('ix_trading_report_batches_status'), 'trading_report_batches', ['status'], unique=False)
    op.create_index(op.f('ix_trading_report_batches_window_end'), 'trading_report_batches', ['window_end'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_trading_report_batches_window_end'), table_name='trading_report_batches')
    op.drop_index(op.f('ix_trading_report_batches_status'), table_name='trading_report_batches')
    op.drop_index(op.f('ix_trading_report_batches_dataset'), table_name='trading_report_batches')
    op.drop_table('trading_report_batches')

"""Supervision: early warnings.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('supervision_warnings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_code', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.String(length=24), nullable=False),
    sa.Column('subject_key', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('segment', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.Column('raised_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_warnings')),
    sa.UniqueConstraint('rule_code', 'subject_key', name='uq_supervision_warnings_rule_subject')
    )
    with op.batch_alter_table('supervision_warnings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_warnings_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_warnings_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_warnings_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_warnings_rule_code'), ['rule_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_warnings_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('supervision_warnings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_warnings_status'))
        batch_op.drop_index(batch_op.f('ix_supervision_warnings_rule_code'))
        batch_op.drop_index(batch_op.f('ix_supervision_warnings_region_code'))
        batch_op.drop_index(batch_op.f('ix_supervision_warnings_raised_at'))
        batch_op.drop_index(batch_op.f('ix_supervision_warnings_project_id'))
    op.drop_table('supervision_warnings')

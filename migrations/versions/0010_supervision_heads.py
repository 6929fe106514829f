"""Supervision: published signed tree heads.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('supervision_published_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=False),
    sa.Column('published_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['head_id'], ['ledger_tree_heads.id'],
                            name=op.f('fk_supervision_published_heads_head_id_ledger_tree_heads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_published_heads')),
    sa.UniqueConstraint('tree_size', name=op.f('uq_supervision_published_heads_tree_size'))
    )
    with op.batch_alter_table('supervision_published_heads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_published_heads_published_at'), ['published_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('supervision_published_heads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_published_heads_published_at'))
    op.drop_table('supervision_published_heads')

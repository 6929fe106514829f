"""Expert pool: assessments after evaluations and recorded violations.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('expert_pool_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('rating', sa.String(length=16), nullable=False),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('assessed_by', sa.Integer(), nullable=True),
    sa.Column('assessed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessed_by'], ['identities_users.id'], ),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('expert_id', 'reference', name='uq_expert_pool_assessments_reference')
    )
    op.create_index(op.f('ix_expert_pool_assessments_expert_id'), 'expert_pool_assessments', ['expert_id'], unique=False)
    op.create_table('expert_pool_violations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('penalty', sa.String(length=16), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], ),
    sa.ForeignKeyConstraint(['recorded_by'], ['identities_users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_expert_pool_violations_expert_id'), 'expert_pool_violations', ['expert_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_expert_pool_violations_expert_id'), table_name='expert_pool_violations')
    op.drop_table('expert_pool_violations')
    op.drop_index(op.f('ix_expert_pool_assessments_expert_id'), table_name='expert_pool_assessments')
    op.drop_table('expert_pool_assessments')

"""Evaluation: centre staff on duty at each venue of a session.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('evaluation_venue_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('checked_in_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['evaluation_sessions.id'],
                            name=op.f('fk_evaluation_venue_staff_session_id_evaluation_sessions')),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'],
                            name=op.f('fk_evaluation_venue_staff_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_venue_staff')),
    sa.UniqueConstraint('session_id', 'user_id', name='uq_evaluation_venue_staff_user')
    )
    with op.batch_alter_table('evaluation_venue_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_venue_staff_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evaluation_venue_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_venue_staff_session_id'))
    op.drop_table('evaluation_venue_staff')

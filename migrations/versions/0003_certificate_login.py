"""Certificate sign-in: login challenges and certificates bound to users.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:18:36.121404
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identities_login_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_login_challenges')),
    sa.UniqueConstraint('nonce', name=op.f('uq_identities_login_challenges_nonce'))
    )
    op.create_table('identities_user_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('ca_name', sa.String(length=100), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('person_id', sa.String(length=40), nullable=True),
    sa.Column('not_after', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('bound_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_identities_user_certificates_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_user_certificates')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_identities_user_certificates_fingerprint'))
    )
    with op.batch_alter_table('identities_user_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_user_certificates_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identities_user_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_user_certificates_user_id'))

    op.drop_table('identities_user_certificates')
    op.drop_table('identities_login_challenges')

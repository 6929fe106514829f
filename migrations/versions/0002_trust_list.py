"""The trust list: recognised certificate authorities.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:01:14.033082
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identities_trusted_cas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('certificate_der', sa.LargeBinary(), nullable=False),
    sa.Column('not_after', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revocation_policy', sa.String(length=16), nullable=False),
    sa.Column('identity_rule', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_trusted_cas')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_identities_trusted_cas_fingerprint')),
    sa.UniqueConstraint('name', name=op.f('uq_identities_trusted_cas_name'))
    )
    with op.batch_alter_table('identities_trusted_cas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_trusted_cas_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identities_trusted_cas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_trusted_cas_status'))

    op.drop_table('identities_trusted_cas')

"""Identities (parties, users, tokens) and the ledger.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 22:45:03.818035
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identities_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_parties')),
    sa.UniqueConstraint('uscc', name=op.f('uq_identities_parties_uscc'))
    )
    op.create_table('ledger_counter',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_counter'))
    )
    op.create_table('ledger_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('stream', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('leaf', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_stream_seq', ['stream', 'seq'], unique=False)

    op.create_table('ledger_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('ledger_tree_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=False),
    sa.Column('public_key_pem', sa.Text(), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_tree_heads'))
    )
    with op.batch_alter_table('ledger_tree_heads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_tree_heads_tree_size'), ['tree_size'], unique=False)

    op.create_table('ledger_tree_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('built_size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_tree_state'))
    )
    # The ledger's two single-row tables start at zero; appenders and builders lock them.
    op.bulk_insert(sa.table("ledger_counter", sa.column("id"), sa.column("size")), [{"id": 1, "size": 0}])
    op.bulk_insert(
        sa.table("ledger_tree_state", sa.column("id"), sa.column("built_size")), [{"id": 1, "built_size": 0}]
    )
    op.create_table('identities_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=True),
    sa.Column('jurisdiction', sa.String(length=12), nullable=True),
    sa.Column('industries', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_identities_users_party_id_identities_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_users')),
    sa.UniqueConstraint('username', name=op.f('uq_identities_users_username'))
    )
    with op.batch_alter_table('identities_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_users_party_id'), ['party_id'], unique=False)

    op.create_table('identities_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_identities_tokens_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_identities_tokens_token_hash'))
    )
    with op.batch_alter_table('identities_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_tokens_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('identities_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_tokens_user_id'))

    op.drop_table('identities_tokens')
    with op.batch_alter_table('identities_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_users_party_id'))

    op.drop_table('identities_users')
    op.drop_table('ledger_tree_state')
    with op.batch_alter_table('ledger_tree_heads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_tree_heads_tree_size'))

    op.drop_table('ledger_tree_heads')
    op.drop_table('ledger_nodes')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_stream_seq')

    op.drop_table('ledger_entries')
    op.drop_table('ledger_counter')
    op.drop_table('identities_parties')

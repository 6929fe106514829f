"""Trading: openings (sessions, record rows, decryption attempts, custodian shares,
confirmations, live-channel receipts).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_openings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('host_user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('bid_count', sa.Integer(), nullable=False),
    sa.Column('min_bidders', sa.Integer(), nullable=False),
    sa.Column('warning', sa.Text(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('window_opened_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_ends_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_closed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('record_sha256', sa.String(length=64), nullable=True),
    sa.Column('published_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['host_user_id'], ['identities_users.id'], name=op.f('fk_trading_openings_host_user_id_identities_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_openings_lot_id_trading_lots')),
    sa.ForeignKeyConstraint(['project_id'], ['trading_projects.id'], name=op.f('fk_trading_openings_project_id_trading_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_openings')),
    sa.UniqueConstraint('lot_id', name=op.f('uq_trading_openings_lot_id'))
    )
    with op.batch_alter_table('trading_openings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_openings_project_id'), ['project_id'], unique=False)

    op.create_table('trading_opening_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opening_id', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('bidder_name', sa.String(length=200), nullable=False),
    sa.Column('bidder_uscc', sa.String(length=18), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=True),
    sa.Column('total_price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('sheet_items', sa.JSON(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('package_size', sa.BigInteger(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('decided_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bid_id'], ['trading_bids.id'], name=op.f('fk_trading_opening_rows_bid_id_trading_bids')),
    sa.ForeignKeyConstraint(['opening_id'], ['trading_openings.id'], name=op.f('fk_trading_opening_rows_opening_id_trading_openings')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_opening_rows_party_id_identities_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_opening_rows')),
    sa.UniqueConstraint('bid_id', name=op.f('uq_trading_opening_rows_bid_id'))
    )
    with op.batch_alter_table('trading_opening_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_opening_rows_opening_id'), ['opening_id'], unique=False)

    op.create_table('trading_opening_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opening_id', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('cert_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempted_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bid_id'], ['trading_bids.id'], name=op.f('fk_trading_opening_attempts_bid_id_trading_bids')),
    sa.ForeignKeyConstraint(['opening_id'], ['trading_openings.id'], name=op.f('fk_trading_opening_attempts_opening_id_trading_openings')),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_trading_opening_attempts_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_opening_attempts'))
    )
    with op.batch_alter_table('trading_opening_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_opening_attempts_opening_id'), ['opening_id'], unique=False)

    op.create_table('trading_opening_shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opening_id', sa.Integer(), nullable=False),
    sa.Column('share_index', sa.Integer(), nullable=False),
    sa.Column('custodian_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('custodian_subject', sa.String(length=300), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('value', sa.LargeBinary(), nullable=True),
    sa.Column('handed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['opening_id'], ['trading_openings.id'], name=op.f('fk_trading_opening_shares_opening_id_trading_openings')),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_trading_opening_shares_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_opening_shares')),
    sa.UniqueConstraint('opening_id', 'share_index', name='uq_trading_opening_shares_index')
    )
    with op.batch_alter_table('trading_opening_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_opening_shares_opening_id'), ['opening_id'], unique=False)

    op.create_table('trading_opening_confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opening_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.Column('signer_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('signer_subject', sa.String(length=300), nullable=False),
    sa.Column('confirmed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['opening_id'], ['trading_openings.id'], name=op.f('fk_trading_opening_confirmations_opening_id_trading_openings')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_opening_confirmations_party_id_identities_parties')),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_trading_opening_confirmations_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_opening_confirmations')),
    sa.UniqueConstraint('opening_id', 'party_id', name='uq_trading_opening_confirmations_party')
    )
    with op.batch_alter_table('trading_opening_confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_opening_confirmations_opening_id'), ['opening_id'], unique=False)

    op.create_table('trading_opening_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=100), nullable=False),
    sa.Column('reply', sa.JSON(), nullable=False),
    sa.Column('received_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_trading_opening_receipts_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_opening_receipts')),
    sa.UniqueConstraint('user_id', 'message_id', name='uq_trading_opening_receipts_message')
    )


def downgrade() -> None:
    op.drop_table('trading_opening_receipts')
    with op.batch_alter_table('trading_opening_confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_opening_confirmations_opening_id'))
    op.drop_table('trading_opening_confirmations')
    with op.batch_alter_table('trading_opening_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_opening_shares_opening_id'))
    op.drop_table('trading_opening_shares')
    with op.batch_alter_table('trading_opening_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_opening_attempts_opening_id'))
    op.drop_table('trading_opening_attempts')
    with op.batch_alter_table('trading_opening_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_opening_rows_opening_id'))
    op.drop_table('trading_opening_rows')
    with op.batch_alter_table('trading_openings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_openings_project_id'))
    op.drop_table('trading_openings')

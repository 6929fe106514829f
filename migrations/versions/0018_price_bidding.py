"""Trading: price competitions (listing quotes, auctions, online bidding).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database  # noqa: F401

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_price_competitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('starting_price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('increment', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('starts_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('listing_ends_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('countdown_seconds', sa.Integer(), nullable=True),
    sa.Column('round_seconds', sa.Integer(), nullable=True),
    sa.Column('round_number', sa.Integer(), nullable=True),
    sa.Column('dutch_interval_seconds', sa.Integer(), nullable=True),
    sa.Column('dutch_floor_price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('current_price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('leader_registration_id', sa.Integer(), nullable=True),
    sa.Column('leader_number', sa.String(length=8), nullable=True),
    sa.Column('quote_count', sa.Integer(), nullable=False),
    sa.Column('reserve_commitment', sa.String(length=64), nullable=True),
    sa.Column('reserve_price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('reserve_salt', sa.String(length=64), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('result_reason', sa.Text(), nullable=True),
    sa.Column('final_price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('winner_registration_id', sa.Integer(), nullable=True),
    sa.Column('winner_number', sa.String(length=8), nullable=True),
    sa.Column('closed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['identities_users.id'], name=op.f('fk_trading_price_competitions_created_by_identities_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_price_competitions_lot_id_trading_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_price_competitions')),
    sa.UniqueConstraint('lot_id', name=op.f('uq_trading_price_competitions_lot_id'))
    )
    op.create_index(op.f('ix_trading_price_competitions_ends_at'), 'trading_price_competitions', ['ends_at'], unique=False)
    op.create_index(op.f('ix_trading_price_competitions_phase'), 'trading_price_competitions', ['phase'], unique=False)
    op.create_table('trading_price_channel_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('competition_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=100), nullable=False),
    sa.Column('reply', sa.JSON(), nullable=False),
    sa.Column('received_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['competition_id'], ['trading_price_competitions.id'], name=op.f('fk_trading_price_channel_receipts_competition_id_trading_price_competitions')),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_trading_price_channel_receipts_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_price_channel_receipts')),
    sa.UniqueConstraint('competition_id', 'user_id', 'message_id', name='uq_trading_price_channel_receipts_message')
    )
    op.create_table('trading_price_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('competition_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('bidder_number', sa.String(length=8), nullable=False),
    sa.Column('bond_id', sa.Integer(), nullable=False),
    sa.Column('wants_live', sa.Boolean(), nullable=False),
    sa.Column('registered_by', sa.Integer(), nullable=True),
    sa.Column('registered_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bond_id'], ['trading_bid_bonds.id'], name=op.f('fk_trading_price_registrations_bond_id_trading_bid_bonds')),
    sa.ForeignKeyConstraint(['competition_id'], ['trading_price_competitions.id'], name=op.f('fk_trading_price_registrations_competition_id_trading_price_competitions')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_price_registrations_party_id_identities_parties')),
    sa.ForeignKeyConstraint(['registered_by'], ['identities_users.id'], name=op.f('fk_trading_price_registrations_registered_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_price_registrations')),
    sa.UniqueConstraint('competition_id', 'bidder_number', name='uq_trading_price_registrations_number'),
    sa.UniqueConstraint('competition_id', 'party_id', name='uq_trading_price_registrations_party')
    )
    op.create_index(op.f('ix_trading_price_registrations_competition_id'), 'trading_price_registrations', ['competition_id'], unique=False)
    op.create_table('trading_price_quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('competition_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('bidder_number', sa.String(length=8), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('round_number', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('commitment', sa.String(length=64), nullable=True),
    sa.Column('salt', sa.String(length=64), nullable=True),
    sa.Column('submitted_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['competition_id'], ['trading_price_competitions.id'], name=op.f('fk_trading_price_quotes_competition_id_trading_price_competitions')),
    sa.ForeignKeyConstraint(['registration_id'], ['trading_price_registrations.id'], name=op.f('fk_trading_price_quotes_registration_id_trading_price_registrations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_price_quotes'))
    )
    op.create_index(op.f('ix_trading_price_quotes_competition_id'), 'trading_price_quotes', ['competition_id'], unique=False)
    op.create_table('trading_price_secrets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('competition_id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['competition_id'], ['trading_price_competitions.id'], name=op.f('fk_trading_price_secrets_competition_id_trading_price_competitions')),
    sa.ForeignKeyConstraint(['quote_id'], ['trading_price_quotes.id'], name=op.f('fk_trading_price_secrets_quote_id_trading_price_quotes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_price_secrets'))
    )
    op.create_index(op.f('ix_trading_price_secrets_competition_id'), 'trading_price_secrets', ['competition_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_trading_price_secrets_competition_id'), table_name='trading_price_secrets')
    op.drop_table('trading_price_secrets')
    op.drop_index(op.f('ix_trading_price_quotes_competition_id'), table_name='trading_price_quotes')
    op.drop_table('trading_price_quotes')
    op.drop_index(op.f('ix_trading_price_registrations_competition_id'), table_name='trading_price_registrations')
    op.drop_table('trading_price_registrations')
    op.drop_table('trading_price_channel_receipts')
    op.drop_index(op.f('ix_trading_price_competitions_phase'), table_name='trading_price_competitions')
    op.drop_index(op.f('ix_trading_price_competitions_ends_at'), table_name='trading_price_competitions')
    op.drop_table('trading_price_competitions')

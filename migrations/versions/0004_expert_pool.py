"""The unified expert pool: experts, specialties, avoidance, unavailability, draws.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:48:25.937345
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('expert_pool_draws',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_reference', sa.String(length=100), nullable=False),
    sa.Column('evaluation_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('region_rule', sa.String(length=24), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('quotas', sa.JSON(), nullable=False),
    sa.Column('avoid_parties', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seed_commitment', sa.String(length=64), nullable=False),
    sa.Column('snapshot_commitment', sa.String(length=64), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revealed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requested_by'], ['identities_users.id'], name=op.f('fk_expert_pool_draws_requested_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_pool_draws'))
    )
    with op.batch_alter_table('expert_pool_draws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_pool_draws_lot_reference'), ['lot_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_pool_draws_status'), ['status'], unique=False)

    op.create_table('expert_pool_experts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('employer_name', sa.String(length=200), nullable=False),
    sa.Column('employer_uscc', sa.String(length=18), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('title', sa.String(length=16), nullable=False),
    sa.Column('years_of_practice', sa.Integer(), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('suspended_until', sa.Date(), nullable=True),
    sa.Column('term_until', sa.Date(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['identities_users.id'], name=op.f('fk_expert_pool_experts_user_id_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_pool_experts')),
    sa.UniqueConstraint('code', name=op.f('uq_expert_pool_experts_code')),
    sa.UniqueConstraint('id_number', name=op.f('uq_expert_pool_experts_id_number')),
    sa.UniqueConstraint('user_id', name=op.f('uq_expert_pool_experts_user_id'))
    )
    with op.batch_alter_table('expert_pool_experts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_pool_experts_employer_uscc'), ['employer_uscc'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_pool_experts_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_pool_experts_status'), ['status'], unique=False)

    op.create_table('expert_pool_draw_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draw_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('specialty', sa.String(length=12), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('called_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('invited_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('provider_reference', sa.String(length=100), nullable=True),
    sa.Column('answered_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['draw_id'], ['expert_pool_draws.id'], name=op.f('fk_expert_pool_draw_calls_draw_id_expert_pool_draws'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], name=op.f('fk_expert_pool_draw_calls_expert_id_expert_pool_experts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_pool_draw_calls')),
    sa.UniqueConstraint('draw_id', 'position', name=op.f('uq_expert_pool_draw_calls_draw_id_position'))
    )
    with op.batch_alter_table('expert_pool_draw_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_pool_draw_calls_draw_id'), ['draw_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_pool_draw_calls_expert_id'), ['expert_id'], unique=False)

    op.create_table('expert_pool_draw_secrets',
    sa.Column('draw_id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.LargeBinary(length=64), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['draw_id'], ['expert_pool_draws.id'], name=op.f('fk_expert_pool_draw_secrets_draw_id_expert_pool_draws'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('draw_id', name=op.f('pk_expert_pool_draw_secrets'))
    )
    op.create_table('expert_pool_relations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('party_uscc', sa.String(length=18), nullable=False),
    sa.Column('party_name', sa.String(length=200), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], name=op.f('fk_expert_pool_relations_expert_id_expert_pool_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_pool_relations'))
    )
    with op.batch_alter_table('expert_pool_relations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_pool_relations_expert_id'), ['expert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_pool_relations_party_uscc'), ['party_uscc'], unique=False)

    op.create_table('expert_pool_specialties',
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], name=op.f('fk_expert_pool_specialties_expert_id_expert_pool_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('expert_id', 'code', name=op.f('pk_expert_pool_specialties'))
    )
    with op.batch_alter_table('expert_pool_specialties', schema=None) as batch_op:
        batch_op.create_index('ix_expert_pool_specialties_code', ['code'], unique=False)

    op.create_table('expert_pool_unavailability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'], name=op.f('fk_expert_pool_unavailability_expert_id_expert_pool_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_pool_unavailability'))
    )
    with op.batch_alter_table('expert_pool_unavailability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_pool_unavailability_expert_id'), ['expert_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('expert_pool_unavailability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_pool_unavailability_expert_id'))

    op.drop_table('expert_pool_unavailability')
    with op.batch_alter_table('expert_pool_specialties', schema=None) as batch_op:
        batch_op.drop_index('ix_expert_pool_specialties_code')

    op.drop_table('expert_pool_specialties')
    with op.batch_alter_table('expert_pool_relations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_pool_relations_party_uscc'))
        batch_op.drop_index(batch_op.f('ix_expert_pool_relations_expert_id'))

    op.drop_table('expert_pool_relations')
    op.drop_table('expert_pool_draw_secrets')
    with op.batch_alter_table('expert_pool_draw_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_pool_draw_calls_expert_id'))
        batch_op.drop_index(batch_op.f('ix_expert_pool_draw_calls_draw_id'))

    op.drop_table('expert_pool_draw_calls')
    with op.batch_alter_table('expert_pool_experts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_pool_experts_status'))
        batch_op.drop_index(batch_op.f('ix_expert_pool_experts_region_code'))
        batch_op.drop_index(batch_op.f('ix_expert_pool_experts_employer_uscc'))

    op.drop_table('expert_pool_experts')
    with op.batch_alter_table('expert_pool_draws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_expert_pool_draws_status'))
        batch_op.drop_index(batch_op.f('ix_expert_pool_draws_lot_reference'))

    op.drop_table('expert_pool_draws')

"""Trading: awards, contracts and archives.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database  # noqa: F401

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_archives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('files_sha256', sa.String(length=64), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('made_by', sa.Integer(), nullable=True),
    sa.Column('made_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['made_by'], ['identities_users.id'], name=op.f('fk_trading_archives_made_by_identities_users')),
    sa.ForeignKeyConstraint(['project_id'], ['trading_projects.id'], name=op.f('fk_trading_archives_project_id_trading_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_archives')),
    sa.UniqueConstraint('project_id', name=op.f('uq_trading_archives_project_id'))
    )
    op.create_table('trading_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('publicity_notice_id', sa.Integer(), nullable=True),
    sa.Column('publicity_start', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('publicity_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('objection_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('winner_bid_id', sa.Integer(), nullable=True),
    sa.Column('winner_party_id', sa.Integer(), nullable=True),
    sa.Column('price', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('deviation_reason', sa.Text(), nullable=True),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('award_notice_sha256', sa.String(length=64), nullable=True),
    sa.Column('award_notice_size', sa.BigInteger(), nullable=True),
    sa.Column('seal_signature_sha256', sa.String(length=64), nullable=True),
    sa.Column('result_notice_id', sa.Integer(), nullable=True),
    sa.Column('contract_sha256', sa.String(length=64), nullable=True),
    sa.Column('contract_size', sa.BigInteger(), nullable=True),
    sa.Column('contract_media_type', sa.String(length=100), nullable=True),
    sa.Column('contract_uploaded_by', sa.Integer(), nullable=True),
    sa.Column('contract_uploaded_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('contracted_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by'], ['identities_users.id'], name=op.f('fk_trading_awards_confirmed_by_identities_users')),
    sa.ForeignKeyConstraint(['contract_uploaded_by'], ['identities_users.id'], name=op.f('fk_trading_awards_contract_uploaded_by_identities_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_awards_lot_id_trading_lots')),
    sa.ForeignKeyConstraint(['publicity_notice_id'], ['trading_notices.id'], name=op.f('fk_trading_awards_publicity_notice_id_trading_notices')),
    sa.ForeignKeyConstraint(['recorded_by'], ['identities_users.id'], name=op.f('fk_trading_awards_recorded_by_identities_users')),
    sa.ForeignKeyConstraint(['result_notice_id'], ['trading_notices.id'], name=op.f('fk_trading_awards_result_notice_id_trading_notices')),
    sa.ForeignKeyConstraint(['winner_bid_id'], ['trading_bids.id'], name=op.f('fk_trading_awards_winner_bid_id_trading_bids')),
    sa.ForeignKeyConstraint(['winner_party_id'], ['identities_parties.id'], name=op.f('fk_trading_awards_winner_party_id_identities_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_awards')),
    sa.UniqueConstraint('lot_id', name=op.f('uq_trading_awards_lot_id'))
    )
    with op.batch_alter_table('trading_awards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_awards_status'), ['status'], unique=False)

    op.create_table('trading_award_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('bid_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('score', sa.Numeric(precision=9, scale=2), nullable=True),
    sa.ForeignKeyConstraint(['award_id'], ['trading_awards.id'], name=op.f('fk_trading_award_candidates_award_id_trading_awards')),
    sa.ForeignKeyConstraint(['bid_id'], ['trading_bids.id'], name=op.f('fk_trading_award_candidates_bid_id_trading_bids')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_award_candidates_party_id_identities_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_award_candidates')),
    sa.UniqueConstraint('award_id', 'bid_id', name='uq_trading_award_candidates_bid'),
    sa.UniqueConstraint('award_id', 'rank', name='uq_trading_award_candidates_rank')
    )
    with op.batch_alter_table('trading_award_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_award_candidates_award_id'), ['award_id'], unique=False)

    op.create_table('trading_contract_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('signer_uscc', sa.String(length=18), nullable=False),
    sa.Column('cert_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('signature_sha256', sa.String(length=64), nullable=False),
    sa.Column('contract_sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_by', sa.Integer(), nullable=True),
    sa.Column('signed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['award_id'], ['trading_awards.id'], name=op.f('fk_trading_contract_signatures_award_id_trading_awards')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_contract_signatures_party_id_identities_parties')),
    sa.ForeignKeyConstraint(['signed_by'], ['identities_users.id'], name=op.f('fk_trading_contract_signatures_signed_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_contract_signatures')),
    sa.UniqueConstraint('award_id', 'role', name='uq_trading_contract_signatures_role')
    )
    with op.batch_alter_table('trading_contract_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_contract_signatures_award_id'), ['award_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trading_contract_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_contract_signatures_award_id'))

    op.drop_table('trading_contract_signatures')
    with op.batch_alter_table('trading_award_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_award_candidates_award_id'))

    op.drop_table('trading_award_candidates')
    with op.batch_alter_table('trading_awards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_awards_status'))

    op.drop_table('trading_awards')
    op.drop_table('trading_archives')

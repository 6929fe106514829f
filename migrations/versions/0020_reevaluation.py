"""Trading and evaluation: re-evaluation after an upheld objection to the candidate publicity.

A withdrawn publicity is kept in ``trading_award_withdrawals``; a lot may then have one
more evaluation session per withdrawal, so ``evaluation_sessions`` is unique per lot and
round instead of per lot, and a re-evaluation names the session and the withdrawal it
answers.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_award_withdrawals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('objection_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=True),
    sa.Column('publicity_notice_id', sa.Integer(), nullable=True),
    sa.Column('publicity_start', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('publicity_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('change_notice_id', sa.Integer(), nullable=True),
    sa.Column('withdrawn_by', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['award_id'], ['trading_awards.id'], name=op.f('fk_trading_award_withdrawals_award_id_trading_awards')),
    sa.ForeignKeyConstraint(['change_notice_id'], ['trading_notices.id'], name=op.f('fk_trading_award_withdrawals_change_notice_id_trading_notices')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_award_withdrawals_lot_id_trading_lots')),
    sa.ForeignKeyConstraint(['objection_id'], ['trading_objections.id'], name=op.f('fk_trading_award_withdrawals_objection_id_trading_objections')),
    sa.ForeignKeyConstraint(['publicity_notice_id'], ['trading_notices.id'], name=op.f('fk_trading_award_withdrawals_publicity_notice_id_trading_notices')),
    sa.ForeignKeyConstraint(['withdrawn_by'], ['identities_users.id'], name=op.f('fk_trading_award_withdrawals_withdrawn_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_award_withdrawals')),
    sa.UniqueConstraint('award_id', 'round', name='uq_trading_award_withdrawals_round'),
    sa.UniqueConstraint('objection_id', name=op.f('uq_trading_award_withdrawals_objection_id'))
    )
    with op.batch_alter_table('evaluation_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evaluation_round', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('reevaluation_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('award_withdrawal_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reevaluation_reason', sa.Text(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_evaluation_sessions_lot_id'), type_='unique')
        batch_op.create_unique_constraint('uq_evaluation_sessions_round', ['lot_id', 'evaluation_round'])
        batch_op.create_unique_constraint(batch_op.f('uq_evaluation_sessions_award_withdrawal_id'),
                                          ['award_withdrawal_id'])
        batch_op.create_foreign_key(batch_op.f('fk_evaluation_sessions_reevaluation_of_evaluation_sessions'),
                                    'evaluation_sessions', ['reevaluation_of'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_evaluation_sessions_award_withdrawal_id_trading_award_withdrawals'),
                                    'trading_award_withdrawals', ['award_withdrawal_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('evaluation_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evaluation_sessions_award_withdrawal_id_trading_award_withdrawals'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_evaluation_sessions_reevaluation_of_evaluation_sessions'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_evaluation_sessions_award_withdrawal_id'), type_='unique')
        batch_op.drop_constraint('uq_evaluation_sessions_round', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_evaluation_sessions_lot_id'), ['lot_id'])
        batch_op.drop_column('reevaluation_reason')
        batch_op.drop_column('award_withdrawal_id')
        batch_op.drop_column('reevaluation_of')
        batch_op.drop_column('evaluation_round')
    op.drop_table('trading_award_withdrawals')

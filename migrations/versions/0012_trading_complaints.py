"""Trading: complaints and monitoring cases.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 03:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.database  # noqa: F401

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trading_monitoring_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('warning_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=False),
    sa.Column('opened_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response_request', sa.Text(), nullable=True),
    sa.Column('response_due', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('responded_by', sa.Integer(), nullable=True),
    sa.Column('conclusion', sa.Text(), nullable=True),
    sa.Column('closed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by'], ['identities_users.id'], name=op.f('fk_trading_monitoring_cases_closed_by_identities_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_monitoring_cases_lot_id_trading_lots')),
    sa.ForeignKeyConstraint(['opened_by'], ['identities_users.id'], name=op.f('fk_trading_monitoring_cases_opened_by_identities_users')),
    sa.ForeignKeyConstraint(['project_id'], ['trading_projects.id'], name=op.f('fk_trading_monitoring_cases_project_id_trading_projects')),
    sa.ForeignKeyConstraint(['responded_by'], ['identities_users.id'], name=op.f('fk_trading_monitoring_cases_responded_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_monitoring_cases'))
    )
    with op.batch_alter_table('trading_monitoring_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_monitoring_cases_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trading_monitoring_cases_status'), ['status'], unique=False)

    op.create_table('trading_case_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('recorded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['trading_monitoring_cases.id'], name=op.f('fk_trading_case_findings_case_id_trading_monitoring_cases')),
    sa.ForeignKeyConstraint(['recorded_by'], ['identities_users.id'], name=op.f('fk_trading_case_findings_recorded_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_case_findings'))
    )
    with op.batch_alter_table('trading_case_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_case_findings_case_id'), ['case_id'], unique=False)

    op.create_table('trading_complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('filed_by', sa.Integer(), nullable=False),
    sa.Column('matter', sa.String(length=24), nullable=False),
    sa.Column('objection_id', sa.Integer(), nullable=True),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('requests', sa.Text(), nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.Column('known_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('filed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_rule', sa.String(length=64), nullable=False),
    sa.Column('window_until', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('acceptance_rule', sa.String(length=64), nullable=False),
    sa.Column('acceptance_due', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acceptance_decided_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acceptance_late', sa.Boolean(), nullable=True),
    sa.Column('acceptance_reason', sa.Text(), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.Column('decision_rule', sa.String(length=64), nullable=True),
    sa.Column('decision_due', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('decision_reasons', sa.Text(), nullable=True),
    sa.Column('decided_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_late', sa.Boolean(), nullable=True),
    sa.Column('decision_notice_id', sa.Integer(), nullable=True),
    sa.Column('suspended_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('suspended_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('suspended_from_status', sa.String(length=16), nullable=True),
    sa.Column('resumed_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decision_notice_id'], ['trading_notices.id'], name=op.f('fk_trading_complaints_decision_notice_id_trading_notices')),
    sa.ForeignKeyConstraint(['filed_by'], ['identities_users.id'], name=op.f('fk_trading_complaints_filed_by_identities_users')),
    sa.ForeignKeyConstraint(['handled_by'], ['identities_users.id'], name=op.f('fk_trading_complaints_handled_by_identities_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['trading_lots.id'], name=op.f('fk_trading_complaints_lot_id_trading_lots')),
    sa.ForeignKeyConstraint(['objection_id'], ['trading_objections.id'], name=op.f('fk_trading_complaints_objection_id_trading_objections')),
    sa.ForeignKeyConstraint(['party_id'], ['identities_parties.id'], name=op.f('fk_trading_complaints_party_id_identities_parties')),
    sa.ForeignKeyConstraint(['project_id'], ['trading_projects.id'], name=op.f('fk_trading_complaints_project_id_trading_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_complaints'))
    )
    with op.batch_alter_table('trading_complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_complaints_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trading_complaints_party_id'), ['party_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trading_complaints_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trading_complaints_status'), ['status'], unique=False)

    op.create_table('trading_complaint_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('uploaded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['trading_complaints.id'], name=op.f('fk_trading_complaint_evidence_complaint_id_trading_complaints')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['identities_users.id'], name=op.f('fk_trading_complaint_evidence_uploaded_by_identities_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_complaint_evidence'))
    )
    with op.batch_alter_table('trading_complaint_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_complaint_evidence_complaint_id'), ['complaint_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trading_complaint_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_complaint_evidence_complaint_id'))

    op.drop_table('trading_complaint_evidence')
    with op.batch_alter_table('trading_complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_complaints_status'))
        batch_op.drop_index(batch_op.f('ix_trading_complaints_project_id'))
        batch_op.drop_index(batch_op.f('ix_trading_complaints_party_id'))
        batch_op.drop_index(batch_op.f('ix_trading_complaints_lot_id'))

    op.drop_table('trading_complaints')
    with op.batch_alter_table('trading_case_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_case_findings_case_id'))

    op.drop_table('trading_case_findings')
    with op.batch_alter_table('trading_monitoring_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trading_monitoring_cases_status'))
        batch_op.drop_index(batch_op.f('ix_trading_monitoring_cases_project_id'))

    op.drop_table('trading_monitoring_cases')

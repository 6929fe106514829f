"""Expert pool: the draw index (one row per expert and specialty held, for fast eligibility).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows expert_pool.draw_index.refresh_draw_index would write for every expert, written
# here as plain SQL: a migration must not change meaning when the application code does.
BACKFILL = """
INSERT INTO expert_pool_draw_index (expert_id, specialty, expert_code, region_code, term_until)
SELECT s.expert_id, s.code, e.code, e.region_code, e.term_until
FROM expert_pool_specialties s JOIN expert_pool_experts e ON e.id = s.expert_id
WHERE e.status = 'admitted'
"""


# A draw stores its eligible snapshot (about 1 MB of JSON for 86,000 eligible experts) in the
# same transaction as its commitment: lz4 compresses it about four times faster than the
# default pglz, for a few percent more space. A storage setting only (new values; nothing to
# compare with the models); servers built without lz4 keep pglz.
HAS_LZ4 = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def _snapshot_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql' and bind.execute(sa.text(HAS_LZ4)).scalar():
        op.execute(f'ALTER TABLE expert_pool_draw_secrets ALTER COLUMN snapshot SET COMPRESSION {method}')


def upgrade() -> None:
    op.create_table('expert_pool_draw_index',
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('specialty', sa.String(length=12), nullable=False),
    sa.Column('expert_code', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('term_until', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['expert_id'], ['expert_pool_experts.id'],
                            name=op.f('fk_expert_pool_draw_index_expert_id_expert_pool_experts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('expert_id', 'specialty', name=op.f('pk_expert_pool_draw_index'))
    )
    op.execute(BACKFILL)
    # Built after the backfill: one sort instead of a row-by-row insertion.
    op.create_index('ix_expert_pool_draw_index_draw', 'expert_pool_draw_index',
                    ['specialty', 'expert_code', 'expert_id', 'term_until', 'region_code'], unique=False)
    op.create_index('ix_expert_pool_draw_calls_answered_at', 'expert_pool_draw_calls', ['answered_at'], unique=False)
    op.create_index('ix_expert_pool_unavailability_end_date', 'expert_pool_unavailability', ['end_date'], unique=False)
    _snapshot_compression('lz4')


def downgrade() -> None:
    _snapshot_compression('default')
    op.drop_index('ix_expert_pool_unavailability_end_date', table_name='expert_pool_unavailability')
    op.drop_index('ix_expert_pool_draw_calls_answered_at', table_name='expert_pool_draw_calls')
    op.drop_index('ix_expert_pool_draw_index_draw', table_name='expert_pool_draw_index')
    op.drop_table('expert_pool_draw_index')

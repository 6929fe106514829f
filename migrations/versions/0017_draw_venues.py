"""Expert pool: draws across a main venue and secondary venues.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A venue draw's venues (key, name, place, region, quotas); empty for a single-venue draw.
    op.add_column('expert_pool_draws', sa.Column('venues', sa.JSON(), nullable=True))
    # The venue key ("V1", "V2"...) each call was made for; empty in a single-venue draw.
    op.add_column('expert_pool_draw_calls', sa.Column('venue', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('expert_pool_draw_calls') as batch:
        batch.drop_column('venue')
    with op.batch_alter_table('expert_pool_draws') as batch:
        batch.drop_column('venues')

"""Trading: the digest of the public key that signed each bid.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 04:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('trading_bids', sa.Column('signer_key_sha256', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_trading_bids_signer_key_sha256'), 'trading_bids', ['signer_key_sha256'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_trading_bids_signer_key_sha256'), table_name='trading_bids')
    op.drop_column('trading_bids', 'signer_key_sha256')

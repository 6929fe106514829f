"""Tables that serve the eligibility query of draws (see expert_pool.eligibility).

The draw index is derived data: one row per ADMITTED expert and specialty code held, with
the expert attributes the draw filters on (public code, region, end of term). A draw reads
the holders of a specialty from its covering index alone, instead of visiting two million
specialty rows and the experts' wide rows. It is kept exact by
:func:`expert_pool.draw_index.refresh_draw_index`, which every write path calls in the same
transaction as its change; the base tables stay the source of truth.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from expert_pool.models import DrawCall, ExpertUnavailability


class ExpertDrawIndex(SQLModel, table=True):
    __tablename__ = "expert_pool_draw_index"
    __table_args__ = (
        # The draw's range scan on the specialty returns every column it needs from this
        # index (an index-only scan): the public code, the id the exclusion sets are keyed by,
        # the end of term and the region.
        sa.Index("ix_expert_pool_draw_index_draw", "specialty", "expert_code", "expert_id", "term_until",
                 "region_code"),
    )

    # The primary key leads with the expert: a refresh deletes an expert's rows by it.
    expert_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("expert_pool_experts.id", ondelete="CASCADE"), primary_key=True))
    specialty: str = Field(sa_column=sa.Column(sa.String(12), primary_key=True))
    expert_code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    term_until: date | None = Field(default=None, sa_column=sa.Column(sa.Date))


# Indexes on base tables that only the draw's exclusion sets need, declared here beside the
# query's own table: "accepted within the last N days" and "on leave that day" read the
# recent rows only, however long the history of calls and leave grows.
sa.Index("ix_expert_pool_draw_calls_answered_at", DrawCall.__table__.c.answered_at)  # type: ignore[attr-defined]
sa.Index("ix_expert_pool_unavailability_end_date",
         ExpertUnavailability.__table__.c.end_date)  # type: ignore[attr-defined]

"""Expert statuses and the transitions the industry authority may make between them."""

from __future__ import annotations

from enum import StrEnum


class ExpertStatus(StrEnum):
    APPLIED = "applied"  # registered, waiting for review
    ADMITTED = "admitted"  # in the pool: may be drawn
    REJECTED = "rejected"  # application refused
    SUSPENDED = "suspended"  # out of the pool until a date, with a reason
    DISMISSED = "dismissed"  # out for good; kept for lifelong accountability


ALLOWED_EXPERT_TRANSITIONS: dict[ExpertStatus, frozenset[ExpertStatus]] = {
    ExpertStatus.APPLIED: frozenset({ExpertStatus.ADMITTED, ExpertStatus.REJECTED}),
    ExpertStatus.ADMITTED: frozenset({ExpertStatus.SUSPENDED, ExpertStatus.DISMISSED}),
    ExpertStatus.SUSPENDED: frozenset({ExpertStatus.ADMITTED, ExpertStatus.DISMISSED}),
    ExpertStatus.REJECTED: frozenset(),
    ExpertStatus.DISMISSED: frozenset(),
}


class Title(StrEnum):
    SENIOR = "senior"  # 高级 (正高级, 副高级)
    MID = "mid"  # 中级


class RelationKind(StrEnum):
    EMPLOYMENT = "employment"
    DIRECTORSHIP = "directorship"
    SHAREHOLDING = "shareholding"
    RELATIVE_EMPLOYER = "relative_employer"

"""Expert-pool events and their replay (stream ``expert:<id>``).

Payloads carry what oversight needs (who, which specialties, which status and why), not
the ID number or the phone number, which stay in the tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from expert_pool.assessment_models import ExpertAssessment, ExpertViolation
from expert_pool.models import (
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    ExpertUnavailability,
)
from supervision.ledger.canonical import to_json_value
from supervision.replay import State, StreamKind, StreamRegistry

EXPERT_REGISTERED = "expert_pool.expert_registered"
STATUS_CHANGED = "expert_pool.expert_status_changed"
RELATION_DECLARED = "expert_pool.relation_declared"
UNAVAILABILITY_DECLARED = "expert_pool.unavailability_declared"
ACCOUNT_LINKED = "expert_pool.account_linked"
EXPERT_ASSESSED = "expert_pool.expert_assessed"
VIOLATION_RECORDED = "expert_pool.violation_recorded"

EXPERT_FIELDS = ("id", "code", "name", "employer_name", "employer_uscc", "region_code", "title",
                 "years_of_practice", "birth_date", "status", "status_reason", "suspended_until",
                 "term_until", "user_id", "created_at", "updated_at")
STATUS_FIELDS = ("status", "status_reason", "suspended_until", "term_until", "updated_at")


def expert_stream(expert_id: int | None) -> str:
    return f"expert:{expert_id}"


def expert_snapshot(expert: Expert, specialties: list[str]) -> dict[str, Any]:
    values = {name: getattr(expert, name) for name in EXPERT_FIELDS}
    return to_json_value({**values, "specialties": sorted(specialties)})  # type: ignore[no-any-return]


def status_payload(expert: Expert) -> dict[str, Any]:
    return to_json_value({name: getattr(expert, name) for name in STATUS_FIELDS})  # type: ignore[no-any-return]


def relation_payload(relation: ExpertRelation) -> dict[str, Any]:
    return to_json_value({"id": relation.id, "kind": relation.kind, "party_uscc": relation.party_uscc,  # type: ignore[no-any-return]
                          "party_name": relation.party_name, "start_date": relation.start_date,
                          "end_date": relation.end_date})


def unavailability_payload(period: ExpertUnavailability) -> dict[str, Any]:
    return to_json_value({"id": period.id, "start_date": period.start_date, "end_date": period.end_date,  # type: ignore[no-any-return]
                          "reason": period.reason})


def assessment_payload(assessment: ExpertAssessment) -> dict[str, Any]:
    return to_json_value({"id": assessment.id, "reference": assessment.reference, "rating": assessment.rating,  # type: ignore[no-any-return]
                          "remarks": assessment.remarks, "assessed_at": assessment.assessed_at})


def violation_payload(violation: ExpertViolation) -> dict[str, Any]:
    return to_json_value({"id": violation.id, "reference": violation.reference, "kind": violation.kind,  # type: ignore[no-any-return]
                          "description": violation.description, "penalty": violation.penalty,
                          "recorded_at": violation.recorded_at})


# Keyed collections of the state, by event type: each entry adds one item by its id.
_COLLECTED = {RELATION_DECLARED: "relations", UNAVAILABILITY_DECLARED: "unavailability",
              EXPERT_ASSESSED: "assessments", VIOLATION_RECORDED: "violations"}


def apply_expert(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind == EXPERT_REGISTERED:
        return {**payload, **{name: {} for name in _COLLECTED.values()}}
    if state is None:
        return None
    if kind in (STATUS_CHANGED, ACCOUNT_LINKED):
        return {**state, **payload}
    collection = _COLLECTED.get(kind)
    if collection is not None:
        return {**state, collection: {**state[collection], str(payload["id"]): payload}}
    return state


async def load_expert(session: AsyncSession, stream: str) -> State | None:
    try:
        expert = await session.get(Expert, int(stream.partition(":")[2]))
    except ValueError:
        return None
    if expert is None:
        return None
    codes = (await session.scalars(sa.select(ExpertSpecialty.code).where(ExpertSpecialty.expert_id == expert.id))).all()
    relations = await session.scalars(sa.select(ExpertRelation).where(ExpertRelation.expert_id == expert.id))
    periods = await session.scalars(sa.select(ExpertUnavailability).where(ExpertUnavailability.expert_id == expert.id))
    assessments = await session.scalars(sa.select(ExpertAssessment).where(ExpertAssessment.expert_id == expert.id))
    violations = await session.scalars(sa.select(ExpertViolation).where(ExpertViolation.expert_id == expert.id))
    return {
        **expert_snapshot(expert, list(codes)),
        "relations": {str(r.id): relation_payload(r) for r in relations},
        "unavailability": {str(p.id): unavailability_payload(p) for p in periods},
        "assessments": {str(a.id): assessment_payload(a) for a in assessments},
        "violations": {str(v.id): violation_payload(v) for v in violations},
    }


async def list_expert_streams(session: AsyncSession) -> list[str]:
    return [expert_stream(i) for i in (await session.scalars(sa.select(Expert.id))).all()]


def register(registry: StreamRegistry) -> None:
    registry.register(StreamKind("expert", apply_expert, load_expert, list_expert_streams))

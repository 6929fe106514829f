"""An expert's record: assessments after each evaluation, violations, and the history that
oversight and the expert read (draw calls and answers, assessments, violations).

Assessments are made by the trading centre for an evaluation the expert sat in: the
evaluation domain checks that (``evaluation.service.assess_member``) and calls
:func:`record_assessment`; the expert pool keeps the record, on the expert's stream.
Violations are recorded by the industry authority or a regulator; the penalty they decide
(a suspension, a dismissal) is then applied through the lifecycle use cases, citing it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.usecases import use_case
from expert_pool import events
from expert_pool.assessment_models import ExpertAssessment, ExpertViolation
from expert_pool.models import DrawCall, Expert
from expert_pool.schemas import AssessmentIn, ViolationIn
from supervision.ledger.append import append

HISTORY_READERS = frozenset({Role.EXPERT_ADMIN, Role.REGULATOR, Role.AUDITOR, Role.EXPERT})


async def _expert(session: AsyncSession, expert_id: int) -> Expert:
    expert = await session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(f"expert {expert_id} does not exist")
    return expert


async def record_assessment(session: AsyncSession, actor: Actor, expert_id: int, reference: str,
                            data: AssessmentIn) -> ExpertAssessment:
    """One assessment per expert and evaluation (``reference``, e.g. ``evaluation:12``)."""
    await _expert(session, expert_id)
    earlier = await session.scalar(sa.select(ExpertAssessment.id).where(
        ExpertAssessment.expert_id == expert_id, ExpertAssessment.reference == reference))
    if earlier is not None:
        raise Conflict(f"expert {expert_id} is already assessed for {reference}")
    assessment = ExpertAssessment(expert_id=expert_id, reference=reference, rating=data.rating, remarks=data.remarks,
                                  assessed_by=actor.user_id, assessed_at=utcnow())
    session.add(assessment)
    await session.flush()
    await append(session, stream=events.expert_stream(expert_id), event_type=events.EXPERT_ASSESSED, actor=actor,
                 payload=events.assessment_payload(assessment))
    return assessment


@use_case("expert_pool.record_violation", {Role.EXPERT_ADMIN, Role.REGULATOR})
async def record_violation(session: AsyncSession, actor: Actor, expert_id: int, data: ViolationIn) -> ExpertViolation:
    await _expert(session, expert_id)
    violation = ExpertViolation(expert_id=expert_id, reference=data.reference, kind=data.kind,
                                description=data.description, penalty=data.penalty, recorded_by=actor.user_id,
                                recorded_at=utcnow())
    session.add(violation)
    await session.flush()
    await append(session, stream=events.expert_stream(expert_id), event_type=events.VIOLATION_RECORDED, actor=actor,
                 payload=events.violation_payload(violation))
    return violation


@use_case("expert_pool.expert_history", HISTORY_READERS)
async def expert_history(session: AsyncSession, actor: Actor, expert_id: int) -> dict[str, Any]:
    """Calls by answer, assessments and violations; an expert reads only their own."""
    expert = await _expert(session, expert_id)
    if actor.has_any({Role.EXPERT}) and not actor.has_any(HISTORY_READERS - {Role.EXPERT}) \
            and expert.user_id != actor.user_id:
        raise PermissionDenied("an expert reads only their own history")
    answers = Counter((await session.scalars(sa.select(DrawCall.answer).where(DrawCall.expert_id == expert_id))).all())
    assessments = await session.scalars(sa.select(ExpertAssessment).where(ExpertAssessment.expert_id == expert_id)
                                        .order_by(ExpertAssessment.assessed_at))
    violations = await session.scalars(sa.select(ExpertViolation).where(ExpertViolation.expert_id == expert_id)
                                       .order_by(ExpertViolation.recorded_at))
    return {
        "expert": expert.code,
        "calls": {"total": sum(answers.values()), "accepted": answers.get("accepted", 0),
                  "declined": answers.get("declined", 0), "no_answer": answers.get("no_answer", 0),
                  "recused": answers.get("recused", 0), "awaiting": answers.get(None, 0)},
        "assessments": [events.assessment_payload(a) for a in assessments],
        "violations": [events.violation_payload(v) for v in violations],
    }

"""After the session: the trading centre assesses each member's work (DOMAIN.md "Expert
pool": performance assessment after each evaluation). The evaluation checks the member
sat in the finished session; the expert pool keeps the assessment on the expert's record.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.errors import Conflict, NotFound
from core.usecases import use_case
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.states import MemberStatus, Stage
from expert_pool.assessment_models import ExpertAssessment
from expert_pool.assessments import record_assessment
from expert_pool.schemas import AssessmentIn


@use_case("evaluation.assess_member", {Role.CENTER_STAFF})
async def assess_member(session: AsyncSession, actor: Actor, session_id: int, member_id: int,
                        data: AssessmentIn) -> ExpertAssessment:
    ev = await session.get(EvaluationSession, session_id)
    if ev is None:
        raise NotFound(f"evaluation session {session_id} does not exist")
    member = await session.get(CommitteeMember, member_id)
    if member is None or member.session_id != ev.id:
        raise NotFound(f"member {member_id} is not a member of session {session_id}")
    if ev.stage != Stage.FINISHED:
        raise Conflict(f"members are assessed once the session has finished; session {session_id} is in {ev.stage}")
    if member.status != MemberStatus.ACTIVE:
        raise Conflict(f"seat {member.seat} did not sit to the end of the session ({member.status}): "
                       "there is no work of theirs to assess")
    return await record_assessment(session, actor, member.expert_id, f"evaluation:{ev.id}", data)

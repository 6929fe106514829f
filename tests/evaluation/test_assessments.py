"""After a finished session the centre assesses each member's work; the assessment goes on
the expert's record (expert pool) and into the expert's history."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.database import Database
from core.errors import Conflict, NotFound, PermissionDenied
from evaluation.assessments import assess_member
from evaluation.context import EvaluationServices
from expert_pool.assessment_models import ExpertAssessment
from expert_pool.assessments import expert_history
from expert_pool.schemas import AssessmentIn
from supervision.replay import check_stream
from tests.evaluation.factories import (  # noqa: F401 - the fixture too
    active_session,
    evaluation_scene,
    evaluation_services,
    finished_session,
    members_of,
)
from web.runtime import build_registry

GOOD = AssessmentIn(rating="good", remarks="Punctual; reasons written for every fail.")


async def _count(database: Database) -> int:
    async with database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(ExpertAssessment)) or 0)


async def test_each_member_of_a_finished_session_is_assessed_once(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services)
        ev = await finished_session(session, scene, evaluation_services)
        member = (await members_of(session, ev.id))[0]  # type: ignore[arg-type]
        assessment = await assess_member(session, scene.staff, ev.id, member.id, GOOD)  # type: ignore[arg-type]
    assert assessment.reference == f"evaluation:{ev.id}" and assessment.rating == "good"
    with pytest.raises(Conflict, match="already assessed"):
        async with database.transaction() as session:
            await assess_member(session, scene.staff, ev.id, member.id, GOOD)  # type: ignore[arg-type]
    async with database.reader() as session:
        hand = next(h for h in scene.experts if h.expert_id == member.expert_id)
        history = await expert_history(session, hand.actor, member.expert_id)
        assert [a["rating"] for a in history["assessments"]] == ["good"]
        assert history["calls"]["accepted"] == 1
        with pytest.raises(PermissionDenied, match="own history"):
            other = next(h for h in scene.experts if h.expert_id != member.expert_id)
            await expert_history(session, other.actor, member.expert_id)
        assert (await check_stream(session, build_registry(), f"expert:{member.expert_id}")).matches


async def test_assessing_before_the_end_or_outside_the_session_is_refused(
        database: Database, evaluation_services: EvaluationServices) -> None:  # noqa: F811
    async with database.transaction() as session:
        scene = await evaluation_scene(session, evaluation_services)
        ev = await active_session(session, scene, evaluation_services)
        member = (await members_of(session, ev.id))[0]  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="once the session has finished"):
        async with database.transaction() as session:
            await assess_member(session, scene.staff, ev.id, member.id, GOOD)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="not a member"):
        async with database.transaction() as session:
            await assess_member(session, scene.staff, ev.id, 10**6, GOOD)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        async with database.transaction() as session:
            await assess_member(session, scene.regulator, ev.id, member.id, GOOD)  # type: ignore[arg-type]
    assert await _count(database) == 0


def test_an_unknown_rating_is_refused() -> None:
    with pytest.raises(ValueError, match="rating must be one of excellent, good, fair, poor"):
        AssessmentIn(rating="superb")

"""Violations recorded by the authority or a regulator, and an expert's history over HTTP."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from core.actors import Role
from core.database import Database
from expert_pool.assessment_models import ExpertViolation
from supervision.replay import check_stream
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_user
from tests.web.test_identities_api import assert_problem, bearer, token_for
from web.runtime import build_registry


async def _expert_id(database: Database) -> int:
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
        return (await admitted_expert(session, admin)).id  # type: ignore[return-value]


async def _violations(database: Database) -> int:
    async with database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(ExpertViolation)) or 0)


async def test_a_regulator_records_a_violation_and_oversight_reads_the_history(
        client: httpx.AsyncClient, database: Database) -> None:
    expert_id = await _expert_id(database)
    regulator = await token_for(database, Role.REGULATOR)
    response = await client.post(f"/experts/{expert_id}/violations", headers=bearer(regulator), json={
        "kind": "disclosed_confidential", "description": "told a bidder the committee's names",
        "penalty": "suspension", "reference": "evaluation:7"})
    assert response.status_code == 201, response.text
    history = (await client.get(f"/experts/{expert_id}/history", headers=bearer(regulator))).json()
    assert [(v["kind"], v["penalty"], v["reference"]) for v in history["violations"]] == [
        ("disclosed_confidential", "suspension", "evaluation:7")]
    assert history["calls"]["total"] == 0 and history["assessments"] == []
    async with database.reader() as session:
        assert (await check_stream(session, build_registry(), f"expert:{expert_id}")).matches


async def test_bad_violations_are_named_and_nothing_is_stored(client: httpx.AsyncClient, database: Database) -> None:
    expert_id = await _expert_id(database)
    authority = await token_for(database, Role.EXPERT_ADMIN)
    assert_problem(await client.post(f"/experts/{expert_id}/violations", headers=bearer(authority), json={
        "kind": "jaywalking", "description": "crossed on red"}), 422, "kind must be one of")
    assert_problem(await client.post(f"/experts/{expert_id}/violations", headers=bearer(authority), json={
        "kind": "absent", "description": "did not come", "penalty": "flogging"}), 422, "penalty must be one of")
    assert_problem(await client.post("/experts/999999/violations", headers=bearer(authority), json={
        "kind": "absent", "description": "did not come"}), 404, "expert 999999")
    staff = await token_for(database, Role.CENTER_STAFF)
    assert_problem(await client.post(f"/experts/{expert_id}/violations", headers=bearer(staff), json={
        "kind": "absent", "description": "did not come"}), 403)
    assert await _violations(database) == 0
    expert = await token_for(database, Role.EXPERT)
    assert_problem(await client.get(f"/experts/{expert_id}/history", headers=bearer(expert)), 403, "own history")

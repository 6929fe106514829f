"""Early warnings over HTTP and on the command line."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import rfc3339, utcnow
from core.database import Database
from identities import service as identities
from supervision.ledger.models import LedgerEntry
from supervision.warnings import events
from supervision.warnings.models import EarlyWarning
from tests.factories import PASSWORD, signed_in
from tests.supervision.warning_fixtures import finding, raise_warnings, regulator
from tests.web.test_identities_api import assert_problem, bearer


async def _token_of_regulator(database: Database, jurisdiction: str = "350000", name: str | None = None) -> str:
    async with database.transaction() as session:
        actor = await regulator(session, jurisdiction, name=name)
        _, token = await identities.sign_in(session, actor.username, PASSWORD, source_address="127.0.0.1", hours=1)
    return token


async def test_a_regulator_lists_reads_and_handles_a_warning(client: httpx.AsyncClient, database: Database) -> None:
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
        outside = (await raise_warnings(session, finding("lot:2", region="440100"))).raised[0]
    token = await _token_of_regulator(database)
    listed = await client.get("/warnings", headers=bearer(token))
    assert listed.status_code == 200 and [w["id"] for w in listed.json()] == [warning_id]
    assert "evidence" not in listed.json()[0]
    one = await client.get(f"/warnings/{warning_id}", headers=bearer(token))
    assert one.status_code == 200 and one.json()["evidence"] == {"bids": [1, 2], "value": "10.0.0.9"}
    acknowledged = await client.post(f"/warnings/{warning_id}/acknowledge", headers=bearer(token))
    assert acknowledged.json()["status"] == "acknowledged"
    investigating = await client.post(f"/warnings/{warning_id}/investigate", headers=bearer(token))
    assert investigating.json()["status"] == "investigating"
    closed = await client.post(f"/warnings/{warning_id}/close", headers=bearer(token), json={"reason": "case 12"})
    assert (closed.json()["status"], closed.json()["status_reason"]) == ("closed", "case 12")
    assert_problem(await client.post(f"/warnings/{warning_id}/acknowledge", headers=bearer(token)), 409, "closed")
    assert (await client.get("/warnings?status=closed", headers=bearer(token))).json()[0]["id"] == warning_id
    assert (await client.get("/warnings?status=open", headers=bearer(token))).json() == []
    assert outside not in [w["id"] for w in (await client.get("/warnings", headers=bearer(token))).json()]


async def test_a_refusal_outside_the_jurisdiction_is_committed_before_the_403(
        client: httpx.AsyncClient, database: Database) -> None:
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
    token = await _token_of_regulator(database, "440000", name="guangdong")
    assert_problem(await client.get(f"/warnings/{warning_id}", headers=bearer(token)), 403, "recorded")
    assert_problem(await client.post(f"/warnings/{warning_id}/close", headers=bearer(token),
                                     json={"reason": "not mine"}), 403)
    async with database.reader() as session:
        leaves = (await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.type == events.ACCESS_REFUSED))).all()
        row = await session.get(EarlyWarning, warning_id)
    assert [json.loads(leaf)["payload"]["attempted"] for leaf in leaves] == ["read", "closed"]
    assert row.status == "open"


async def test_bad_requests_are_clear_problems(client: httpx.AsyncClient, database: Database) -> None:
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
        _, staff = await signed_in(session, Role.CENTER_STAFF)
    token = await _token_of_regulator(database)
    assert_problem(await client.get("/warnings?status=maybe", headers=bearer(token)), 422, "status")
    assert_problem(await client.get("/warnings?rule=no.such", headers=bearer(token)), 422, "no.such")
    assert_problem(await client.get("/warnings?project=abc", headers=bearer(token)), 422, "project")
    assert_problem(await client.get("/warnings?colour=red", headers=bearer(token)), 422, "colour")
    assert_problem(await client.get("/warnings/999", headers=bearer(token)), 404)
    assert_problem(await client.post(f"/warnings/{warning_id}/close", headers=bearer(token), json={}), 422, "reason")
    assert_problem(await client.post(f"/warnings/{warning_id}/close", headers=bearer(token),
                                     json={"reason": ""}), 422, "reason")
    assert_problem(await client.get("/warnings", headers=bearer(staff)), 403)
    assert_problem(await client.get("/warnings"), 401)
    async with database.reader() as session:
        assert (await session.get(EarlyWarning, warning_id)).status == "open"


async def test_the_rules_are_listed_with_their_documentation(client: httpx.AsyncClient, database: Database) -> None:
    token = await _token_of_regulator(database)
    rules = {rule["code"]: rule for rule in (await client.get("/warning-rules", headers=bearer(token))).json()}
    assert rules["trading.too_few_bids"]["parameters"] == {"min_bids": 3}
    assert "evidence" in rules["trading.same_source_address"]["documentation"].lower()
    assert {"evaluation.abnormal_scores", "expert_pool.repeated_declining"} <= set(rules)


def test_the_commands_run_the_rules_and_list_warnings(bidhall, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    ran = bidhall("warnings", "run", "--since", rfc3339(now - timedelta(days=2)), "--until", rfc3339(now))
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["raised"] == [] and "trading.price_cluster" in report["rules"] and report["failures"] == {}
    listed = bidhall("warnings", "list", "--status", "open")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    overrides = tmp_path / "parameters.json"
    overrides.write_text('{"trading.too_few_bids": {"min_bids": "three"}}')
    refused = bidhall("warnings", "run", "--parameters", str(overrides))
    assert refused.returncode == 2 and "min_bids" in refused.stderr
    with pytest.raises(SystemExit) as bad_time:  # argparse refuses it before anything runs
        bidhall("warnings", "run", "--since", "yesterday")
    assert bad_time.value.code == 2

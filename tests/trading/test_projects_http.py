"""Projects, lots and publication over HTTP: the main path, and each bad input answered
by a problem document with nothing stored."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from core.actors import Role
from core.clock import parse_rfc3339, rfc3339
from supervision.ledger.models import LedgerEntry
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    assert_problem,
    caller,
    clock_fixture,
    custodian_certificates,
    http_lot,
    lot_payload,
    project_payload,
    timetable,
)
from trading.models import Lot, Project


async def _counts(database) -> tuple[int, int, int]:
    async with database.reader() as session:
        return tuple([int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)  # type: ignore[return-value]
                      for model in (Project, Lot, LedgerEntry)])


async def test_draft_publish_and_public_view(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False, custodian_fallback=True,
                          custodian_certificates=custodian_certificates(), custodian_threshold=2)
    project_id = made.project["id"]
    assert made.lot["budget"] == "12500000.00" and made.lot["status"] == "draft"
    assert (await client.get(f"/projects/{project_id}")).status_code == 404  # drafts are not public
    hidden = await client.get(f"/lots/{made.lot['id']}")
    assert hidden.status_code == 404 and hidden.json()["detail"] == f"no lot {made.lot['id']}"
    assert (await client.get(f"/lots/{made.lot['id']}", headers=made.tenderer.headers)).json()["status"] == "draft"
    own = await client.get(f"/projects/{project_id}", headers=made.tenderer.headers)
    assert own.status_code == 200 and own.json()["status"] == "draft"

    response = await client.post(f"/projects/{project_id}/publish", json={}, headers=made.tenderer.headers)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "tender" and "bid deadline" in response.json()["body"]

    public = (await client.get(f"/projects/{project_id}")).json()
    lot = public["lots"][0]
    assert public["status"] == "active" and lot["status"] == "bidding"
    assert lot["ceiling_price"] == "12000000.00" and len(lot["opening_certificate_fingerprint"]) == 64
    assert lot["opening_certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    lot_id = made.lot["id"]
    assert (await client.get(f"/lots/{lot_id}")).json() == lot, "a lot reads as its project lists it"
    assert (await client.get("/lots/424242")).status_code == 404
    listing = (await client.get("/projects", params={"segment": "construction"})).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == project_id
    assert (await client.get("/projects", params={"segment": "land_mining"})).json()["total"] == 0


async def test_a_late_clarification_moves_the_deadline_and_says_so(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    old = parse_rfc3339(made.lot["bid_deadline"])
    clock.set(old - timedelta(days=3))
    response = await client.post(f"/lots/{made.lot['id']}/clarifications", headers=made.tenderer.headers,
                                 json={"title": "Clarification 2", "body": "Bill of quantities item 7 corrected."})
    assert response.status_code == 201, response.text
    notice = response.json()
    assert notice["kind"] == "change" and notice["details"]["deadline_moved"] is True
    assert notice["details"]["old_bid_deadline"] == rfc3339(old)
    new = parse_rfc3339(notice["details"]["new_bid_deadline"])
    assert new >= clock.now + timedelta(days=14) and "The bid deadline moves from" in notice["body"]
    lot = (await client.get(f"/projects/{made.project['id']}")).json()["lots"][0]
    assert parse_rfc3339(lot["bid_deadline"]) == new == parse_rfc3339(lot["opening_at"])


async def test_an_early_clarification_keeps_the_deadline(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    response = await client.post(f"/lots/{made.lot['id']}/clarifications", headers=made.tenderer.headers,
                                 json={"title": "Clarification 1", "body": "Site visit on Monday."})
    assert response.status_code == 201 and response.json()["details"]["deadline_moved"] is False


async def test_cancel_a_lot_before_the_deadline(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    response = await client.post(f"/lots/{made.lot['id']}/cancel", json={"reason": "funding withdrawn"},
                                 headers=made.tenderer.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert (await client.get(f"/projects/{made.project['id']}")).json()["status"] == "closed"


async def test_rule_tables_are_public(client: httpx.AsyncClient) -> None:
    table = (await client.get("/rules/time")).json()
    rules = table["rules"]
    assert any(rule["kind"] == "clarification_cutoff" and rule["segment"] == "construction" for rule in rules)
    caps = {cap["segment"]: cap for cap in table["bid_bond_caps"]}
    assert set(caps) == {"construction", "government_procurement"} and caps["construction"]["percent"] == "2"
    assert "auction" in (await client.get("/rules/procedures")).json()["land_mining"]
    methods = (await client.get("/rules/evaluation-methods")).json()["methods"]
    assert {m["code"] for m in methods} >= {"lowest_evaluated_price", "comprehensive_scoring"}


# --- bad input -------------------------------------------------------------------------------


async def test_unknown_segment_or_procedure_is_refused(client: httpx.AsyncClient, database) -> None:
    tenderer = await caller(database, Role.TENDERER)
    before = await _counts(database)
    response = await client.post("/projects", json=project_payload(segment="railways"), headers=tenderer.headers)
    assert_problem(response, 422, "$.segment", "construction", "state_property")
    response = await client.post("/projects", json=project_payload(segment="land_mining", procedure="open_tender"),
                                 headers=tenderer.headers)
    assert_problem(response, 422, "procedure open_tender is not a procedure of segment land_mining",
                   "tender, auction, listing")
    assert await _counts(database) == before


async def test_bad_money_and_evaluation_parameters_are_refused(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False)
    url, headers = f"/projects/{made.project['id']}/lots", made.tenderer.headers
    before = await _counts(database)
    assert_problem(await client.post(url, json=lot_payload(clock.now, budget="-1.00"), headers=headers),
                   422, "$.budget", "positive")
    assert_problem(await client.post(url, json=lot_payload(clock.now, ceiling_price="10.001"), headers=headers),
                   422, "$.ceiling_price", "2 decimal places")
    parameters = {"price_weight": "40", "factors": {"technical": "70"}}
    assert_problem(await client.post(url, json=lot_payload(clock.now, evaluation_parameters=parameters),
                                     headers=headers), 422, "$.evaluation_parameters.factors", "make 110")
    assert_problem(await client.post(url, json=lot_payload(clock.now, evaluation_method="lottery"),
                                     headers=headers), 422, "lottery", "comprehensive_scoring")
    assert await _counts(database) == before


async def test_a_timetable_breaking_a_rule_names_it(client: httpx.AsyncClient, database, clock) -> None:
    short = timetable(clock.now, deadline_days=15)
    short.pop("clarification_until"), short.pop("objection_until")
    made = await http_lot(client, database, clock.now, publish=False, timetable=short)
    before = await _counts(database)
    response = await client.post(f"/projects/{made.project['id']}/publish", json={}, headers=made.tenderer.headers)
    body = assert_problem(response, 409, "construction.open_tender.documents_to_deadline", "Bidding Law art. 24")
    assert "documents_to_deadline" in body["rule"]
    assert await _counts(database) == before
    assert (await client.get(f"/projects/{made.project['id']}", headers=made.tenderer.headers)).json()["status"] == "draft"


async def test_editing_a_published_lot_is_refused(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now)
    before = await _counts(database)
    response = await client.patch(f"/lots/{made.lot['id']}", json={"budget": "1.00"}, headers=made.tenderer.headers)
    assert_problem(response, 409, "a published lot is not edited", "clarification")
    assert await _counts(database) == before


async def test_editing_a_draft_lot_changes_only_what_is_given(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False)
    response = await client.patch(f"/lots/{made.lot['id']}", json={"bid_bond_amount": "150000.50"},
                                  headers=made.tenderer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["bid_bond_amount"] == "150000.50" and response.json()["budget"] == "12500000.00"


async def test_a_non_owner_may_not_manage_the_project(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False)
    stranger = await caller(database, Role.TENDERER)
    bidder = await caller(database, Role.BIDDER)
    before = await _counts(database)
    for response in (
        await client.post(f"/projects/{made.project['id']}/lots", json=lot_payload(clock.now), headers=stranger.headers),
        await client.patch(f"/lots/{made.lot['id']}", json={"title": "Mine"}, headers=stranger.headers),
        await client.post(f"/projects/{made.project['id']}/publish", json={}, headers=stranger.headers),
    ):
        assert_problem(response, 403, "managed by its tenderer or agency only")
    assert_problem(await client.post("/projects", json=project_payload(), headers=bidder.headers), 403, "tenderer")
    assert await _counts(database) == before


async def test_centre_staff_may_publish(client: httpx.AsyncClient, database, clock) -> None:
    made = await http_lot(client, database, clock.now, publish=False)
    staff = await caller(database, Role.CENTER_STAFF)
    response = await client.post(f"/projects/{made.project['id']}/publish", json={}, headers=staff.headers)
    assert response.status_code == 201, response.text


async def test_an_oversized_json_body_under_projects_is_refused(client: httpx.AsyncClient, database) -> None:
    tenderer = await caller(database, Role.TENDERER)
    huge = project_payload(title="x" * 2_000_000)
    assert_problem(await client.post("/projects", json=huge, headers=tenderer.headers), 413)
    response = await client.post("/projects/1/lots", content=b"{" + b" " * 2_000_000 + b"}",
                                 headers={**tenderer.headers, "content-type": "application/json"})
    assert_problem(response, 413, "over the limit")

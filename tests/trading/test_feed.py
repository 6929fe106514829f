"""The public notices feed: JSON pages with filters, single notices, and Atom 1.0."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import httpx

from core.clock import parse_rfc3339, rfc3339
from tests.trading.project_factories import (  # noqa: F401 - clock_fixture provides ``clock``
    HttpLot,
    assert_problem,
    clock_fixture,
    http_lot,
    project_payload,
)

ATOM = "{http://www.w3.org/2005/Atom}"
PROCUREMENT_PARAMETERS = {"price_weight": "30", "factors": {"technical": "70"}, "procurement_category": "goods"}


async def _two_projects(client: httpx.AsyncClient, database, clock) -> tuple[HttpLot, HttpLot]:
    school = await http_lot(client, database, clock.now)
    clock.advance(minutes=5)
    procurement = await http_lot(
        client, database, clock.now, evaluation_parameters=PROCUREMENT_PARAMETERS,
        project=project_payload(title="Hospital CT scanners", segment="government_procurement",
                                region_code="440300", industry="medical_equipment"))
    clock.advance(minutes=5)
    response = await client.post(f"/lots/{school.lot['id']}/clarifications", headers=school.tenderer.headers,
                                 json={"title": "Clarification: school drawings", "body": "Drawing 12 replaced."})
    assert response.status_code == 201, response.text
    return school, procurement


async def test_the_feed_is_public_paginated_and_filtered(client: httpx.AsyncClient, database, clock) -> None:
    school, procurement = await _two_projects(client, database, clock)
    everything = (await client.get("/notices")).json()
    assert everything["total"] == 3
    assert [n["kind"] for n in everything["items"]] == ["change", "tender", "tender"]  # newest first

    page = (await client.get("/notices", params={"limit": 1, "offset": 1})).json()
    assert (page["total"], len(page["items"]), page["offset"], page["limit"]) == (3, 1, 1, 1)
    assert page["items"][0]["id"] == everything["items"][1]["id"]

    async def ids(**params: str) -> list[int]:
        response = await client.get("/notices", params=params)
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["items"]]

    assert len(await ids(segment="government_procurement")) == 1
    assert len(await ids(kind="change")) == 1
    assert len(await ids(region="44")) == 1 and len(await ids(region="350102")) == 2
    assert len(await ids(project=str(school.project["id"]))) == 2
    assert len(await ids(q="CT SCANNER")) == 1  # case-insensitive, part of the title
    assert len(await ids(q="100%")) == 0  # wildcards are literal
    first_time = parse_rfc3339(everything["items"][-1]["published_at"])
    assert len(await ids(since=rfc3339(first_time + timedelta(minutes=1)))) == 2
    assert len(await ids(until=rfc3339(first_time + timedelta(minutes=1)))) == 1

    notice_id = everything["items"][0]["id"]
    single = await client.get(f"/notices/{notice_id}")
    assert single.status_code == 200 and single.json()["title"] == "Clarification: school drawings"
    assert procurement.notice is not None


async def test_bad_filters_and_unknown_notices_are_refused(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/notices", params={"segment": "railways"}), 422, "segment", "construction")
    assert_problem(await client.get("/notices", params={"kind": "rumour"}), 422, "kind", "candidate_publicity")
    assert_problem(await client.get("/notices", params={"since": "yesterday"}), 422, "since", "RFC 3339")
    assert_problem(await client.get("/notices", params={"since": "2025-01-01T00:00:00"}), 422, "since")
    assert_problem(await client.get("/notices", params={"region": "Fujian"}), 422, "region")
    assert_problem(await client.get("/notices", params={"limit": "0"}), 422, "limit")
    assert_problem(await client.get("/notices", params={"project": "-1"}), 422, "project")
    assert_problem(await client.get("/notices/999"), 404, "no notice 999")


async def test_the_atom_feed_parses_and_lists_the_notices(client: httpx.AsyncClient, database, clock) -> None:
    await _two_projects(client, database, clock)
    notices = (await client.get("/notices")).json()["items"]
    response = await client.get("/notices.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "urn:bidhall:notices"
    assert feed.findtext(f"{ATOM}title") and feed.find(f"{ATOM}author/{ATOM}name") is not None
    assert parse_rfc3339(feed.findtext(f"{ATOM}updated")) == parse_rfc3339(notices[0]["published_at"])
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [n["title"] for n in notices]
    for entry, notice in zip(entries, notices, strict=True):
        assert entry.findtext(f"{ATOM}id") == f"urn:bidhall:notices:{notice['id']}"
        assert parse_rfc3339(entry.findtext(f"{ATOM}updated")) == parse_rfc3339(notice["published_at"])
        assert entry.find(f"{ATOM}link").get("href").endswith(f"/notices/{notice['id']}")
        assert entry.findtext(f"{ATOM}summary")

    filtered = ET.fromstring((await client.get("/notices.atom", params={"kind": "change"})).content)
    assert len(filtered.findall(f"{ATOM}entry")) == 1


async def test_an_empty_atom_feed_is_still_valid(client: httpx.AsyncClient) -> None:
    feed = ET.fromstring((await client.get("/notices.atom")).content)
    assert feed.findtext(f"{ATOM}id") and feed.findtext(f"{ATOM}updated") and not feed.findall(f"{ATOM}entry")

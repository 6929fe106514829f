"""The expert pool and draws over HTTP: who may do what, and bad input named."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from core.actors import Role
from core.clock import utcnow
from core.database import Database
from core.person_id import make_person_id
from tests.web.test_identities_api import assert_problem, bearer, token_for


def expert_body(serial: int, **changes: object) -> dict:
    body = {"name": f"Expert {serial}", "id_number": make_person_id(f"35010219750505{serial:03d}"),
            "phone": "13900139000", "employer_name": "Xiamen Design Institute", "region_code": "350200",
            "title": "senior", "years_of_practice": 15, "specialties": ["A04", "c02"]}
    body.update(changes)
    return body


async def test_the_industry_authority_manages_and_the_centre_draws(client: httpx.AsyncClient,
                                                                   database: Database) -> None:
    authority = await token_for(database, Role.EXPERT_ADMIN)
    staff = await token_for(database, Role.CENTER_STAFF)
    regulator = await token_for(database, Role.REGULATOR)
    term = (date.today() + timedelta(days=700)).isoformat()
    for serial in range(1, 5):
        created = await client.post("/experts", headers=bearer(authority), json=expert_body(serial))
        assert created.status_code == 201, created.text
        assert created.json()["specialties"] == ["A04", "C02"] and "id_number" not in created.json()
        admitted = await client.post(f"/experts/{created.json()['id']}/admit", headers=bearer(authority),
                                     json={"term_until": term})
        assert admitted.json()["status"] == "admitted"
    assert_problem(await client.get("/experts", headers=bearer(staff)), 403)  # management separated from use
    listed = (await client.get("/experts?status=admitted", headers=bearer(regulator))).json()
    assert listed["total"] == 4

    draw = await client.post("/draws", headers=bearer(staff), json={
        "lot_reference": "FJ-1/1", "evaluation_at": (utcnow() + timedelta(days=2)).isoformat(),
        "venue": "Xiamen centre", "region_rule": "remote_pool", "region_code": "350200", "quotas": {"A04": 2},
        "avoid_parties": ["91350100M000100Y43"]})
    assert draw.status_code == 201, draw.text
    assert set(draw.json()) >= {"seed_commitment", "snapshot_commitment", "status"}
    assert "experts" not in draw.text
    assert_problem(await client.get(f"/draws/{draw.json()['id']}/experts", headers=bearer(staff)), 403)
    assert (await client.get(f"/draws/{draw.json()['id']}/experts", headers=bearer(regulator))).json() == []
    unrevealed = (await client.get(f"/draws/{draw.json()['id']}/verification")).json()
    assert unrevealed["ok"] is False and "not revealed" in unrevealed["detail"]

    shortfall = await client.post("/draws", headers=bearer(staff), json={
        "lot_reference": "FJ-1/2", "evaluation_at": (utcnow() + timedelta(days=2)).isoformat(),
        "venue": "Xiamen centre", "region_rule": "remote_pool", "quotas": {"A04": 9, "B01": 1}})
    assert_problem(shortfall, 409, "A04", "nothing was drawn")


async def test_bad_expert_and_draw_input_is_named(client: httpx.AsyncClient, database: Database) -> None:
    authority = await token_for(database, Role.EXPERT_ADMIN)
    staff = await token_for(database, Role.CENTER_STAFF)
    cases = [
        (expert_body(1, specialties=["Q99"]), "$.specialties"),
        (expert_body(1, id_number="350102197505050010"), "check character"),
        (expert_body(1, phone="021-5555"), "mobile"),
        (expert_body(1, title="guru"), "$.title"),
    ]
    for body, words in cases:
        assert_problem(await client.post("/experts", headers=bearer(authority), json=body), 422, words)
    draw = {"lot_reference": "L", "evaluation_at": (utcnow() + timedelta(days=2)).isoformat(),
            "venue": "V", "region_rule": "local", "quotas": {"A04": 1}}
    assert_problem(await client.post("/draws", headers=bearer(staff), json=draw), 422, "region_code")
    assert_problem(await client.post("/draws", headers=bearer(staff), json={**draw, "region_rule": "remote_pool",
                                                                            "quotas": {"A4": 1}}), 422, "A4")
    assert_problem(await client.post("/draws", headers=bearer(staff), json={
        **draw, "region_rule": "remote_pool", "evaluation_at": "2020-01-01T00:00:00Z"}), 422, "future")
    assert_problem(await client.post("/draws", headers=bearer(staff), json={
        **draw, "region_rule": "remote_pool", "avoid_parties": ["123"]}), 422, "18 characters")
    assert_problem(await client.post("/draws", headers=bearer(authority), json={
        **draw, "region_rule": "remote_pool"}), 403)


async def test_import_over_http_reports_rows(client: httpx.AsyncClient, database: Database) -> None:
    authority = await token_for(database, Role.EXPERT_ADMIN)
    csv_text = ("name,id_number,phone,employer,title,years,specialties\n"
                f"Li,{make_person_id('35010219700101001')},13800138001,X,高级,10,A04\n"
                "Bad,123,13800138002,X,高级,10,A04\n")
    response = await client.post("/experts/import", headers={**bearer(authority), "content-type": "text/csv"},
                                 content=csv_text.encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 1 and report["errors"][0]["row"] == 3 and report["errors"][0]["field"] == "id_number"
    assert_problem(await client.post("/experts/import", headers={**bearer(authority), "content-type": "text/plain"},
                                     content=b"x"), 422, "text/csv")


async def test_an_expert_answers_an_invitation_over_http(client: httpx.AsyncClient, database: Database) -> None:
    import sqlalchemy as sa

    from core.actors import SYSTEM
    from expert_pool import draws
    from identities.models import User

    authority = await token_for(database, Role.EXPERT_ADMIN)
    staff = await token_for(database, Role.CENTER_STAFF)
    expert_token = await token_for(database, Role.EXPERT)
    async with database.reader() as session:
        users = (await session.scalars(sa.select(User))).all()
    expert_user = next(u for u in users if u.roles == ["expert"])
    created = (await client.post("/experts", headers=bearer(authority), json=expert_body(7))).json()
    await client.post(f"/experts/{created['id']}/admit", headers=bearer(authority),
                      json={"term_until": (date.today() + timedelta(days=700)).isoformat()})
    linked = await client.post(f"/experts/{created['id']}/account", headers=bearer(authority),
                               json={"user_id": expert_user.id})
    assert linked.status_code == 200, linked.text
    draw = (await client.post("/draws", headers=bearer(staff), json={
        "lot_reference": "FJ-9/1", "evaluation_at": (utcnow() + timedelta(days=2)).isoformat(),
        "venue": "Quanzhou centre", "region_rule": "remote_pool", "quotas": {"C02": 1}})).json()
    async with database.transaction() as session:
        await draws.call_next(session, SYSTEM, draw["id"])
    [invitation] = (await client.get("/me/invitations", headers=bearer(expert_token))).json()
    assert invitation["venue"] == "Quanzhou centre" and "lot" not in str(invitation).lower()
    accepted = await client.post(f"/me/invitations/{invitation['invitation']}/accept", headers=bearer(expert_token))
    assert accepted.json() == {"invitation": invitation["invitation"], "answer": "accepted"}
    assert_problem(await client.post(f"/me/invitations/{invitation['invitation']}/decline",
                                     headers=bearer(expert_token)), 409, "already answered")
    assert (await client.get(f"/draws/{draw['id']}", headers=bearer(staff))).json()["status"] == "filled"


async def test_a_person_applies_with_their_own_account(client: httpx.AsyncClient, database: Database) -> None:
    applicant = await token_for(database, Role.EXPERT)
    authority = await token_for(database, Role.EXPERT_ADMIN)
    assert_problem(await client.get("/me/expert-application", headers=bearer(applicant)), 404, "not applied")
    applied = await client.post("/me/expert-application", headers=bearer(applicant), json=expert_body(41))
    assert applied.status_code == 201, applied.text
    assert applied.json()["status"] == "applied" and applied.json()["code"].startswith("E")
    again = await client.post("/me/expert-application", headers=bearer(applicant), json=expert_body(42))
    assert_problem(again, 409, "one application per person")
    bad = await client.post("/me/expert-application", headers=bearer(await token_for(database, Role.EXPERT)),
                            json=expert_body(43, specialties=["Z99"]))
    assert_problem(bad, 422, "specialties")

    term = (date.today() + timedelta(days=700)).isoformat()
    admitted = await client.post(f"/experts/{applied.json()['id']}/admit", headers=bearer(authority),
                                 json={"term_until": term})
    assert admitted.json()["status"] == "admitted"
    mine = await client.get("/me/expert-application", headers=bearer(applicant))
    assert mine.json()["status"] == "admitted" and mine.json()["specialties"] == ["A04", "C02"]
    bidder = await token_for(database, Role.BIDDER)
    assert_problem(await client.post("/me/expert-application", headers=bearer(bidder), json=expert_body(44)), 403)

"""Identities over HTTP, with every bad input answered by a clear problem document."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import utcnow
from core.database import Database
from identities.models import Party, Token, User
from supervision.ledger.models import LedgerEntry
from tests.factories import PASSWORD, make_user, new_uscc, signed_in

PROBLEM = "application/problem+json"


async def token_for(database: Database, *roles: Role) -> str:
    async with database.transaction() as session:
        _, raw = await signed_in(session, *roles)
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def counts(database: Database) -> tuple[int, int, int]:
    async with database.reader() as session:
        users = await session.scalar(sa.select(sa.func.count()).select_from(User))
        parties = await session.scalar(sa.select(sa.func.count()).select_from(Party))
        entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    return int(users or 0), int(parties or 0), int(entries or 0)


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    text = json.dumps(body)
    for word in words:
        assert word in text, f"{word!r} not in {text}"
    assert "Traceback" not in text
    return body


# --- sign-in ------------------------------------------------------------------------------


async def test_login_me_and_logout(client: httpx.AsyncClient, database: Database) -> None:
    async with database.transaction() as session:
        user = await make_user(session, Role.CENTER_STAFF, username="alice")
    response = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    token = response.json()["token"]
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["id"] == user.id and me.json()["roles"] == ["center_staff"]
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    assert_problem(await client.get("/auth/me", headers=bearer(token)), 401, "revoked")


async def test_wrong_password_and_unknown_user_get_the_same_answer(client: httpx.AsyncClient,
                                                                   database: Database) -> None:
    async with database.transaction() as session:
        await make_user(session, Role.BIDDER, username="bob")
    wrong = assert_problem(await client.post("/auth/login", json={"username": "bob", "password": "nope-nope"}), 401)
    unknown = assert_problem(await client.post("/auth/login", json={"username": "nobody", "password": "x"}), 401)
    assert wrong["detail"] == unknown["detail"] == "wrong username or password"


async def test_missing_expired_and_unknown_tokens(client: httpx.AsyncClient, database: Database) -> None:
    assert_problem(await client.get("/auth/me"), 401, "Bearer")
    assert_problem(await client.get("/auth/me", headers=bearer("bh_made_up")), 401, "unknown token")
    token = await token_for(database, Role.AUDITOR)
    async with database.transaction() as session:
        await session.execute(sa.update(Token).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert_problem(await client.get("/auth/me", headers=bearer(token)), 401, "expired")


async def test_api_tokens_are_shown_once_and_revocable(client: httpx.AsyncClient, database: Database) -> None:
    session_token = await token_for(database, Role.REGULATOR)
    created = await client.post("/auth/tokens", json={"name": "monitor", "expires_in_days": 30},
                                headers=bearer(session_token))
    assert created.status_code == 201
    api_token = created.json()["token"]
    assert (await client.get("/auth/me", headers=bearer(api_token))).status_code == 200
    listed = (await client.get("/auth/tokens", headers=bearer(api_token))).json()
    assert {t["name"] for t in listed} == {"login", "monitor"} and all("token" not in t for t in listed)
    deleted = await client.delete(f"/auth/tokens/{created.json()['id']}", headers=bearer(session_token))
    assert deleted.status_code == 204
    assert_problem(await client.get("/auth/me", headers=bearer(api_token)), 401, "revoked")


async def test_change_password(client: httpx.AsyncClient, database: Database) -> None:
    async with database.transaction() as session:
        await make_user(session, Role.EXPERT, username="carol")
    token = (await client.post("/auth/login", json={"username": "carol", "password": PASSWORD})).json()["token"]
    assert_problem(await client.post("/auth/password", headers=bearer(token),
                                     json={"current_password": "wrong", "new_password": "a new long password"}),
                   403, "current password")
    changed = await client.post("/auth/password", headers=bearer(token),
                                json={"current_password": PASSWORD, "new_password": "a new long password"})
    assert changed.status_code == 204
    assert (await client.post("/auth/login", json={"username": "carol", "password": "a new long password"})
            ).status_code == 201


# --- users and parties --------------------------------------------------------------------


async def test_admin_creates_party_and_user(client: httpx.AsyncClient, database: Database) -> None:
    token = await token_for(database, Role.ADMIN)
    uscc = new_uscc()
    party = await client.post("/parties", json={"uscc": uscc.lower(), "name": "Fujian Build Co."},
                              headers=bearer(token))
    assert party.status_code == 201 and party.json()["uscc"] == uscc
    user = await client.post("/users", headers=bearer(token), json={
        "username": "dave", "display_name": "Dave", "password": PASSWORD, "roles": ["bidder"],
        "party_id": party.json()["id"]})
    assert user.status_code == 201, user.text
    assert user.json()["party_id"] == party.json()["id"] and "password" not in user.text
    listed = (await client.get("/users?limit=1&offset=0", headers=bearer(token))).json()
    assert listed["total"] == 2 and len(listed["items"]) == 1
    again = await client.post("/parties", json={"uscc": uscc, "name": "Again"}, headers=bearer(token))
    assert_problem(again, 409, uscc)


async def test_update_user_roles_is_recorded(client: httpx.AsyncClient, database: Database) -> None:
    token = await token_for(database, Role.ADMIN)
    async with database.transaction() as session:
        target = await make_user(session, Role.EXPERT)
    response = await client.patch(f"/users/{target.id}", headers=bearer(token),
                                  json={"roles": ["expert", "auditor"], "display_name": "Renamed"})
    assert response.status_code == 200 and response.json()["roles"] == ["auditor", "expert"]
    async with database.reader() as session:
        types = (await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == f"user:{target.id}"))).all()
    assert types[-1] == "identities.user_updated"
    needs_party = await client.patch(f"/users/{target.id}", headers=bearer(token), json={"roles": ["bidder"]})
    assert_problem(needs_party, 422, "party_id")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("{not json", 422, ["not valid JSON"]),
        ('{"uscc": 913501, "name": "X"}', 422, ["$.uscc"]),
        ('{"uscc": "91350100MA2Y000010", "name": "X"}', 422, ["$.uscc", "check character"]),
        ('{"uscc": "9135", "name": "X"}', 422, ["$.uscc", "18 characters"]),
        ('{"uscc": "91350100MA2Y00004T", "name": "X", "owner": "me"}', 422, ["$.owner", "unknown field"]),
        ('{"name": "X"}', 422, ["$.uscc", "required"]),
        ('[1, 2]', 422, ["$"]),
    ],
)
async def test_bad_party_input_is_named_and_nothing_stored(client: httpx.AsyncClient, database: Database,
                                                           body: str, status: int, words: list[str]) -> None:
    token = await token_for(database, Role.ADMIN)
    before = await counts(database)
    response = await client.post("/parties", content=body, headers={**bearer(token),
                                                                    "content-type": "application/json"})
    assert_problem(response, status, *words)
    assert await counts(database) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": "admin"}, ["$.roles"]),
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": ["king"]}, ["$.roles[0]"]),
        ({"username": "eve", "display_name": "E", "password": "short", "roles": ["admin"]}, ["$.password"]),
        ({"username": "Eve!", "display_name": "E", "password": PASSWORD, "roles": ["admin"]}, ["$.username"]),
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": ["bidder"]}, ["party_id"]),
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": ["regulator"]}, ["jurisdiction"]),
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": ["admin"], "party_id": "1"},
         ["$.party_id"]),
        ({"username": "eve", "display_name": "E", "password": PASSWORD, "roles": ["bidder"], "party_id": 999},
         ["party 999"]),
    ],
)
async def test_bad_user_input_is_named_and_nothing_stored(client: httpx.AsyncClient, database: Database,
                                                          body: dict, words: list[str]) -> None:
    token = await token_for(database, Role.ADMIN)
    before = await counts(database)
    assert_problem(await client.post("/users", json=body, headers=bearer(token)), 422, *words)
    assert await counts(database) == before


async def test_wrong_content_type_and_oversized_body(client: httpx.AsyncClient, database: Database) -> None:
    token = await token_for(database, Role.ADMIN)
    before = await counts(database)
    assert_problem(await client.post("/parties", content="uscc=1", headers={
        **bearer(token), "content-type": "application/x-www-form-urlencoded"}), 422, "application/json")
    huge = json.dumps({"uscc": new_uscc(), "name": "x" * 2_000_000})
    assert_problem(await client.post("/parties", content=huge, headers={
        **bearer(token), "content-type": "application/json"}), 413, "limit")

    async def chunks():  # no Content-Length: the limit is counted as the body streams in
        for _ in range(3):
            yield b" " * 600_000

    assert_problem(await client.post("/parties", content=chunks(), headers={
        **bearer(token), "content-type": "application/json"}), 413, "limit")
    assert await counts(database) == before


async def test_role_without_permission_is_refused_and_nothing_stored(client: httpx.AsyncClient,
                                                                     database: Database) -> None:
    token = await token_for(database, Role.BIDDER)
    before = await counts(database)
    response = await client.post("/users", headers=bearer(token), json={
        "username": "mallory", "display_name": "M", "password": PASSWORD, "roles": ["admin"]})
    assert_problem(response, 403, "admin")
    assert_problem(await client.post("/parties", headers=bearer(token),
                                     json={"uscc": new_uscc(), "name": "Shell Co."}), 403)
    assert await counts(database) == before


async def test_bad_ids_and_paging(client: httpx.AsyncClient, database: Database) -> None:
    token = await token_for(database, Role.ADMIN)
    assert_problem(await client.get("/users/abc", headers=bearer(token)), 422, "user_id")
    assert_problem(await client.get("/users/424242", headers=bearer(token)), 404, "424242")
    assert_problem(await client.get("/users?limit=5000", headers=bearer(token)), 422, "limit")
    assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await client.put("/users", headers=bearer(token)), 405)


async def test_other_users_are_private(client: httpx.AsyncClient, database: Database) -> None:
    token = await token_for(database, Role.BIDDER)
    async with database.transaction() as session:
        other = await make_user(session, Role.EXPERT)
    assert_problem(await client.get(f"/users/{other.id}", headers=bearer(token)), 403)


# --- operations ---------------------------------------------------------------------------


async def test_health_readiness_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    app_routes = {(op.method.lower(), op.path) for op in client._transport.app.state.api.operations}  # type: ignore[attr-defined]
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert app_routes == documented
    create_user = document["paths"]["/users"]["post"]
    assert create_user["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("UserCreate")
    assert "422" in create_user["responses"] and "403" in create_user["responses"]
    assert "UserCreate" in document["components"]["schemas"]


async def test_access_log_is_one_json_line_per_request(client: httpx.AsyncClient,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bidhall.access"):
        response = await client.get("/healthz", headers={"x-request-id": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    lines = [json.loads(r.message) for r in caplog.records if r.name == "bidhall.access"]
    assert lines[-1]["path"] == "/healthz" and lines[-1]["status"] == 200 and lines[-1]["request_id"] == "abc123"
    assert lines[-1]["duration_ms"] >= 0

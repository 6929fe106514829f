"""The evaluation session's HTTP side, in process: opening a session, the session as each
role may see it, the report refused before signing, bid packages for active members only,
and a bidder's own clarifications."""

from __future__ import annotations

import hashlib

import httpx
import sqlalchemy as sa

from core.actors import Role
from evaluation.models import EvaluationSession
from identities import service as identity_service
from supervision.ledger.models import LedgerEntry
from tests.evaluation.factories import (
    EvaluationScene,
    evaluation_scene,
    seat_in,
    services,
)
from tests.factories import PASSWORD, signed_in
from web.runtime import Runtime


async def _token(runtime: Runtime, username: str) -> str:
    async with runtime.database.transaction() as session:
        _, raw = await identity_service.sign_in(session, username, PASSWORD, source_address="127.0.0.1", hours=1)
    return raw


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _scene(runtime: Runtime) -> EvaluationScene:
    async with runtime.database.transaction() as session:
        return await evaluation_scene(session, services(runtime), experts=3, bidders=3)


def _open_body(scene: EvaluationScene) -> dict[str, object]:
    return scene.open_data().model_dump(mode="json", exclude_none=True)


async def _opened(client: httpx.AsyncClient, runtime: Runtime, scene: EvaluationScene) -> int:
    staff = await _token(runtime, scene.staff.username)
    response = await client.post(f"/lots/{scene.lot_id}/evaluation", json=_open_body(scene), headers=_bearer(staff))
    assert response.status_code == 201, response.text
    return int(response.json()["session_id"])


async def _stream_size(runtime: Runtime) -> int:
    async with runtime.database.reader() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0)


async def test_staff_open_a_session_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    scene = await _scene(runtime)
    staff = await _token(runtime, scene.staff.username)
    expert = await _token(runtime, scene.experts[0].user.username)
    before = await _stream_size(runtime)

    refused = await client.post(f"/lots/{scene.lot_id}/evaluation", json=_open_body(scene), headers=_bearer(expert))
    assert refused.status_code == 403
    bad = await client.post(f"/lots/{scene.lot_id}/evaluation", json={"draw_id": scene.draw_id}, headers=_bearer(staff))
    assert bad.status_code == 422 and any(e["pointer"] == "$.main_venue" for e in bad.json()["errors"])
    malformed = await client.post(f"/lots/{scene.lot_id}/evaluation", content=b"{nope",
                                  headers={**_bearer(staff), "content-type": "application/json"})
    assert malformed.status_code == 422
    assert await _stream_size(runtime) == before  # refusals store nothing

    session_id = await _opened(client, runtime, scene)
    again = await client.post(f"/lots/{scene.lot_id}/evaluation", json=_open_body(scene), headers=_bearer(staff))
    assert again.status_code == 409
    async with runtime.database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(EvaluationSession)) == 1
    assert (await client.get(f"/evaluations/{session_id}")).status_code == 401


async def test_each_role_reads_the_session_as_it_may(client: httpx.AsyncClient, runtime: Runtime) -> None:
    scene = await _scene(runtime)
    session_id = await _opened(client, runtime, scene)
    async with runtime.database.transaction() as session:
        _, stranger_bidder = await signed_in(session, Role.BIDDER)
        _, auditor = await signed_in(session, Role.AUDITOR)
    tokens = {"staff": await _token(runtime, scene.staff.username),
              "regulator": await _token(runtime, scene.regulator.username),
              "member": await _token(runtime, scene.experts[0].user.username),
              "bidder": await _token(runtime, scene.bidders[0].user.username),
              "auditor": auditor}
    views = {}
    for role, token in tokens.items():
        response = await client.get(f"/evaluations/{session_id}", headers=_bearer(token))
        assert response.status_code == 200, (role, response.text)
        views[role] = response.json()
    assert views["regulator"]["session_id"] == views["staff"]["session_id"] == session_id
    assert views["regulator"]["stage"] == views["member"]["stage"] == "sign_in"
    # Staff see progress, not who the experts are.
    staff_text = str(views["staff"])
    for hand in scene.experts:
        assert hand.expert.name not in staff_text and hand.expert.id_number not in staff_text
    assert scene.experts[0].expert.id_number not in str(views["regulator"])  # ID numbers never leave the pool

    spare = await _token(runtime, scene.spares[0].user.username)
    for token in (spare, stranger_bidder):
        assert (await client.get(f"/evaluations/{session_id}", headers=_bearer(token))).status_code == 403
    assert (await client.get("/evaluations/999999", headers=_bearer(tokens["regulator"]))).status_code == 404
    assert (await client.get("/evaluations/nope", headers=_bearer(tokens["regulator"]))).status_code == 422


async def test_report_is_refused_before_signing(client: httpx.AsyncClient, runtime: Runtime) -> None:
    scene = await _scene(runtime)
    session_id = await _opened(client, runtime, scene)
    for username in (scene.experts[0].user.username, scene.regulator.username, scene.staff.username,
                     scene.bidders[0].user.username):
        token = await _token(runtime, username)
        for path in ("report", "signed-report"):
            response = await client.get(f"/evaluations/{session_id}/{path}", headers=_bearer(token))
            assert response.status_code in (403, 404, 409), (username, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_bid_packages_are_for_active_members(client: httpx.AsyncClient, runtime: Runtime) -> None:
    scene = await _scene(runtime)
    session_id = await _opened(client, runtime, scene)
    bid, row = scene.bids[0], scene.rows[0]
    path = f"/evaluations/{session_id}/bids/{bid.id}/package"
    member = await _token(runtime, scene.experts[0].user.username)

    not_yet = await client.get(path, headers=_bearer(member))  # revealed, not signed in nor declared
    assert not_yet.status_code in (403, 409), not_yet.text
    for username in (scene.staff.username, scene.bidders[1].user.username, scene.spares[0].user.username):
        token = await _token(runtime, username)
        assert (await client.get(path, headers=_bearer(token))).status_code == 403, username

    async with runtime.database.transaction() as session:
        await seat_in(session, scene, services(runtime), session_id, scene.experts[0])
    package = await client.get(path, headers=_bearer(member))
    assert package.status_code == 200, package.text
    assert package.headers["content-type"] == "application/zip"
    assert hashlib.sha256(package.content).hexdigest() == row.package_sha256 == package.headers["x-content-sha256"]
    regulator = await _token(runtime, scene.regulator.username)
    assert (await client.get(path, headers=_bearer(regulator))).status_code == 200
    unknown = await client.get(f"/evaluations/{session_id}/bids/999999/package", headers=_bearer(member))
    assert unknown.status_code == 404


async def test_my_clarifications_are_a_bidders(client: httpx.AsyncClient, runtime: Runtime) -> None:
    scene = await _scene(runtime)
    await _opened(client, runtime, scene)
    bidder = await _token(runtime, scene.bidders[0].user.username)
    mine = await client.get("/me/clarifications", headers=_bearer(bidder))
    assert mine.status_code == 200 and mine.json() == []
    expert = await _token(runtime, scene.experts[0].user.username)
    assert (await client.get("/me/clarifications", headers=_bearer(expert))).status_code == 403


async def test_the_openapi_document_lists_the_evaluation_operations(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/lots/{lot_id}/evaluation"]
    for path in ("/evaluations/{session_id}", "/evaluations/{session_id}/report",
                 "/evaluations/{session_id}/signed-report", "/evaluations/{session_id}/bids/{bid_id}/package",
                 "/me/clarifications"):
        assert "get" in paths[path], path

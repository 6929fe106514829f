"""``GET /supervision/summary``: what is happening now, within the caller's jurisdiction."""

from __future__ import annotations

import sys

import httpx
import pytest

from core.actors import Role
from core.clock import utcnow
from identities import service as identity_service
from supervision.warnings.models import EarlyWarning
from tests.factories import PASSWORD, make_user
from tests.supervision.test_monitor_factories import (
    FUJIAN_CITY,
    GUANGDONG_CITY,
    called,
    draw_for,
    opening_of,
    session_of,
    tender_in,
)
from web.runtime import Runtime


async def _headers(runtime: Runtime, role: Role) -> dict[str, str]:
    async with runtime.database.transaction() as session:
        user = await make_user(session, role)
        _, raw = await identity_service.sign_in(session, user.username, PASSWORD, source_address="127.0.0.1",
                                                hours=1)
    return {"authorization": f"Bearer {raw}"}


def _warning(rule: str, region: str, segment: str, status: str, key: str) -> EarlyWarning:
    now = utcnow()
    return EarlyWarning(rule_code=rule, subject_kind="lot", subject_key=key, summary="crafted", evidence={},
                        region_code=region, segment=segment, status=status, raised_at=now, updated_at=now)


async def _scene(runtime: Runtime) -> dict[str, int]:
    async with runtime.database.transaction() as session:
        fujian = await tender_in(session, FUJIAN_CITY, "construction")
        done = await tender_in(session, "350203", "construction")
        guangdong = await tender_in(session, GUANGDONG_CITY, "construction")
        procurement = await tender_in(session, FUJIAN_CITY, "government_procurement")
        await opening_of(session, fujian, "decrypting")
        await opening_of(session, done, "published")  # finished: not in progress
        await opening_of(session, guangdong, "recording")
        await opening_of(session, procurement, "awaiting_decision")
        calling = await draw_for(session, fujian)
        await called(session, calling, 1, "accepted")
        await called(session, calling, 2, "declined")
        await called(session, calling, 3, None)
        await draw_for(session, guangdong)
        await draw_for(session, None)  # names no lot: only unrestricted oversight sees it
        filled = await draw_for(session, done, status="filled")
        running = await session_of(session, fujian, filled, "detailed_scoring")
        await session_of(session, done, filled, "finished")
        await session_of(session, guangdong, filled, "sign_in")
        session.add_all([_warning("fewer_than_three_bids", FUJIAN_CITY, "construction", "open", "a"),
                         _warning("fewer_than_three_bids", "350203", "construction", "investigating", "b"),
                         _warning("same_ip_address", FUJIAN_CITY, "construction", "open", "c"),
                         _warning("same_ip_address", FUJIAN_CITY, "construction", "closed", "d"),
                         _warning("same_ip_address", GUANGDONG_CITY, "construction", "open", "e")])
    return {"fujian_lot": fujian.lot.id, "fujian_project": fujian.project.id, "draw": calling.id,  # type: ignore[dict-item]
            "session": running.id}  # type: ignore[dict-item]


async def test_a_regulator_sees_what_happens_now_in_its_jurisdiction(runtime: Runtime,
                                                                    client: httpx.AsyncClient) -> None:
    ids = await _scene(runtime)
    response = await client.get("/supervision/summary", headers=await _headers(runtime, Role.REGULATOR))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["jurisdiction"] == "350000" and body["industries"] == ["construction"]
    [opening] = body["openings"]
    assert opening["lot_id"] == ids["fujian_lot"] and opening["project_id"] == ids["fujian_project"]
    assert opening["status"] == "decrypting" and opening["window_ends_at"] is not None
    assert opening["stream"] == f"opening:{ids['fujian_lot']}"
    [running] = body["evaluations"]
    assert running["session_id"] == ids["session"] and running["stage"] == "detailed_scoring"
    assert running["stream"] == f"evaluation:{ids['session']}"
    [draw] = body["draws"]
    assert draw == {**draw, "draw_id": ids["draw"], "experts_needed": 5, "called": 3, "accepted": 1,
                    "stream": f"draw:{ids['draw']}"}
    assert "expert_id" not in str(draw) and "name" not in " ".join(draw)  # calling, never who
    warnings = body["warnings"]
    assert warnings["available"] and warnings["total"] == 3
    assert warnings["by_rule"] == {"fewer_than_three_bids": 2, "same_ip_address": 1}
    assert warnings["by_status"] == {"open": 2, "acknowledged": 0, "investigating": 1}


async def test_an_auditor_sees_everything_and_others_are_refused(runtime: Runtime,
                                                                client: httpx.AsyncClient) -> None:
    await _scene(runtime)
    body = (await client.get("/supervision/summary", headers=await _headers(runtime, Role.AUDITOR))).json()
    assert body["jurisdiction"] is None
    assert sorted(item["status"] for item in body["openings"]) == ["awaiting_decision", "decrypting", "recording"]
    assert sorted(item["stage"] for item in body["evaluations"]) == ["detailed_scoring", "sign_in"]
    assert len(body["draws"]) == 3 and any(item["project_id"] is None for item in body["draws"])
    assert body["warnings"]["total"] == 4
    for role in (Role.BIDDER, Role.CENTER_STAFF, Role.EXPERT):
        refused = await client.get("/supervision/summary", headers=await _headers(runtime, role))
        assert refused.status_code == 403 and "reserved to" in refused.json()["detail"]
    assert (await client.get("/supervision/summary")).status_code == 401


async def test_warnings_are_said_to_be_unavailable_without_their_module(runtime: Runtime, client: httpx.AsyncClient,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "supervision.warnings.service", None)  # importing it fails
    body = (await client.get("/supervision/summary", headers=await _headers(runtime, Role.ADMIN))).json()
    assert body["warnings"] == {"available": False, "detail": "not available: early warnings are not installed"}
    assert body["openings"] == [] and body["evaluations"] == [] and body["draws"] == []

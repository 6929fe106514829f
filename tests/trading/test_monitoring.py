"""Monitoring cases: opened by a regulator from a warning, a tip, the media or at random;
findings, the tenderer's response, the conclusion; outsiders refused and recorded; the
case's stream replays to its rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import rfc3339
from core.errors import Conflict, InvalidInput, PermissionDenied
from identities import service as identities_service
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from supervision.warnings.models import EarlyWarning
from tests.factories import PASSWORD
from tests.trading.complaint_factories import lot_in, register_streams, regulator
from tests.trading.project_factories import Caller, assert_problem, caller, http_lot
from trading import monitoring
from trading.complaint_models import MonitoringCase
from trading.complaint_schemas import (
    CaseConclusion,
    CaseOpen,
    CaseResponse,
    FindingIn,
    ResponseRequest,
)
from trading.states import CaseSource, CaseStatus


@pytest.fixture(autouse=True)
def _streams(runtime) -> None:
    register_streams(runtime.registry)


async def _regulator(database, jurisdiction: str = "350000") -> Caller:
    async with database.transaction() as session:
        actor = await regulator(session, jurisdiction)
        _, raw = await identities_service.sign_in(session, actor.username, PASSWORD, source_address="127.0.0.1",
                                                  hours=1)
    return Caller(user=actor, headers={"Authorization": f"Bearer {raw}"})


async def _warning(database, project_id: int) -> int:
    now = datetime.now(timezone.utc)
    async with database.transaction() as session:
        warning = EarlyWarning(rule_code="procedure.few_bids", subject_kind="lot", subject_key=f"lot:{project_id}",
                               summary="Fewer than 3 bids.", evidence={"bids": 2}, project_id=project_id,
                               region_code="350102", segment="construction", status="open", raised_at=now,
                               updated_at=now)
        session.add(warning)
        await session.flush()
        return warning.id  # type: ignore[return-value]


async def test_a_case_from_a_tip_to_its_conclusion_with_the_tenderers_response(client: httpx.AsyncClient, database,
                                                                               runtime) -> None:
    made = await http_lot(client, database, datetime.now(timezone.utc).replace(microsecond=0))
    officer = await _regulator(database)
    response = await client.post("/monitoring-cases", headers=officer.headers, json={
        "project_id": made.project["id"], "lot_id": made.lot["id"], "source": "tip",
        "subject": "A tip says the qualification clause favours one local firm."})
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "open" and case["source"] == "tip"
    url = f"/monitoring-cases/{case['id']}"
    response = await client.post(f"{url}/findings", headers=officer.headers,
                                 json={"text": "Clause 3.2 asks for a local office."})
    assert response.status_code == 201 and len(response.json()["findings"]) == 1
    due = rfc3339(datetime.now(timezone.utc) + timedelta(days=5))
    response = await client.post(f"{url}/response-request", headers=officer.headers,
                                 json={"request": "Explain clause 3.2.", "due": due})
    assert response.status_code == 200 and response.json()["status"] == "awaiting_response"
    stranger = await caller(database, Role.TENDERER)
    assert_problem(await client.post(f"{url}/response", headers=stranger.headers, json={"response": "x"}), 403)
    response = await client.post(f"{url}/response", headers=made.tenderer.headers,
                                 json={"response": "Clause 3.2 is withdrawn by a clarification."})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "responded" and response.json()["responded_at"]
    response = await client.post(f"{url}/closure", headers=officer.headers,
                                 json={"conclusion": "Corrected by the tenderer; no further action."})
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert_problem(await client.post(f"{url}/findings", headers=officer.headers, json={"text": "late"}), 409, "closed")
    async with database.reader() as session:
        result = await check_stream(session, runtime.registry, f"case:{case['id']}")
        assert result.matches, (result.replayed, result.stored)


async def test_bad_case_input_and_outsiders(client: httpx.AsyncClient, database) -> None:
    made = await http_lot(client, database, datetime.now(timezone.utc).replace(microsecond=0))
    officer = await _regulator(database)
    base = {"project_id": made.project["id"], "subject": "Prices in a tight cluster."}
    assert_problem(await client.post("/monitoring-cases", headers=officer.headers, json={**base, "source": "warning"}),
                   422, "warning_id")
    assert_problem(await client.post("/monitoring-cases", headers=officer.headers, json={**base, "source": "rumour"}),
                   422, "source")
    outsider = await _regulator(database, "360000")
    assert_problem(await client.post("/monitoring-cases", headers=outsider.headers, json={**base, "source": "media"}),
                   403, "350102")
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(MonitoringCase)) == 0
    assert_problem(await client.post("/monitoring-cases", headers=officer.headers,
                                     json={**base, "source": "warning", "warning_id": 999}), 422, "no warning 999")
    elsewhere = await _warning(database, made.project["id"] + 1000)
    response = await client.post("/monitoring-cases", headers=officer.headers,
                                 json={**base, "source": "warning", "warning_id": elsewhere})
    assert_problem(response, 422, "another project")
    warning_id = await _warning(database, made.project["id"])
    response = await client.post("/monitoring-cases", headers=officer.headers,
                                 json={**base, "source": "warning", "warning_id": warning_id})
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["warning_id"] == warning_id
    assert_problem(await client.post(f"/monitoring-cases/{case['id']}/findings", headers=outsider.headers,
                                     json={"text": "x"}), 403, "jurisdiction")
    async with database.reader() as session:
        def types(stream: str) -> Any:
            return session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.stream == stream)
                                   .order_by(LedgerEntry.seq))
        assert (await types(f"case:{case['id']}")).all() == ["trading.case_opened"]
        assert (await types(f"oversight:{outsider.user.user_id}")).all() == ["trading.case_access_refused"] * 2


async def test_case_steps_follow_their_order(database) -> None:
    async with database.transaction() as session:
        made = await lot_in(session)
        officer = await regulator(session)
        case = await monitoring.open_case(session, officer, CaseOpen(
            project_id=made.project.id, source=CaseSource.RANDOM, subject="Random spot check."))  # type: ignore[arg-type]
        with pytest.raises(Conflict, match="open"):
            await monitoring.respond(session, made.tenderer, case.id, CaseResponse(response="early"))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="future"):
            await monitoring.request_response(session, officer, case.id, ResponseRequest(  # type: ignore[arg-type]
                request="x", due=datetime.now(timezone.utc) - timedelta(days=1)))
        other = await lot_in(session)
        with pytest.raises(InvalidInput, match="not a lot of project"):
            await monitoring.open_case(session, officer, CaseOpen(project_id=made.project.id, lot_id=other.lot.id,  # type: ignore[arg-type]
                                                                  source=CaseSource.MEDIA, subject="x"))
        with pytest.raises(PermissionDenied):
            await monitoring.get_case(session, other.tenderer, case.id)  # type: ignore[arg-type]
        await monitoring.record_finding(session, officer, case.id, FindingIn(text="Nothing irregular."))  # type: ignore[arg-type]
        closed = await monitoring.close_case(session, officer, case.id, CaseConclusion(conclusion="No breach."))  # type: ignore[arg-type]
        assert closed.status == CaseStatus.CLOSED and closed.closed_by == officer.user_id

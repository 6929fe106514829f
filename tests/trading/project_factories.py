"""Builders for projects made through the services (so their ledger stream is complete),
and a clock the tests can move to reach windows and deadlines.

Times: a construction timetable that satisfies every rule when published at "now":
documents from in one hour, for 10 days; bid deadline (and opening) in 30 days;
clarifications until 16 days, objections until 11 days before the deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.demo_pki import DemoCA, Usage
from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from tests.factories import actor_of, make_user
from trading import projects, publication
from trading.models import Lot, Notice, Project
from trading.notice_schemas import PublishTender
from trading.schemas import LotCreate, ProjectCreate

CLOCKED_MODULES = ("trading.projects", "trading.notices", "trading.publication", "trading.documents",
                   "trading.questions", "trading.objections")


class Clock:
    """The server's "now" for the trading modules, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@pytest.fixture(name="clock")
def clock_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Import ``clock_fixture`` into a test module to use the ``clock`` fixture."""
    import importlib

    fake = Clock()
    for name in CLOCKED_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "utcnow", fake)
    yield fake


def timetable(start: datetime, *, deadline_days: int = 30) -> dict[str, str]:
    deadline = start + timedelta(days=deadline_days)
    return {
        "documents_from": rfc3339(start + timedelta(hours=1)),
        "documents_until": rfc3339(start + timedelta(days=10)),
        "bid_deadline": rfc3339(deadline),
        "opening_at": rfc3339(deadline),
        "clarification_until": rfc3339(deadline - timedelta(days=16)),
        "objection_until": rfc3339(deadline - timedelta(days=11)),
    }


def project_payload(**overrides: Any) -> dict[str, Any]:
    return {"title": "Fuzhou No. 3 Middle School teaching building", "segment": "construction",
            "procedure": "open_tender", "region_code": "350102", "industry": "housing_construction", **overrides}


def lot_payload(start: datetime, **overrides: Any) -> dict[str, Any]:
    return {"title": "Construction works", "budget": "12500000.00", "ceiling_price": "12000000.00",
            "evaluation_method": "comprehensive_scoring",
            "evaluation_parameters": {"price_weight": "40", "factors": {"technical": "45", "credit": "15"}},
            "bid_bond_amount": "200000.00", "timetable": timetable(start), **overrides}


def custodian_certificates(count: int = 3) -> list[str]:
    ca = DemoCA.create("Custodian CA", "ecdsa")
    return [ca.issue(f"Custodian {i}", usage=Usage.ENCRYPTION).cert_pem.decode() for i in range(count)]


async def make_tenderer(session: AsyncSession, role: Role = Role.TENDERER) -> Actor:
    return actor_of(await make_user(session, role))


@dataclass
class PublishedLot:
    project: Project
    lot: Lot
    notice: Notice
    tenderer: Actor


async def draft_project(session: AsyncSession, tenderer: Actor, now: datetime, **lot_overrides: Any) -> tuple[Project, Lot]:
    project = await projects.create_project(session, tenderer, ProjectCreate.model_validate_json(
        _json(project_payload())))
    lot = await projects.add_lot(session, tenderer, project.id, LotCreate.model_validate_json(  # type: ignore[arg-type]
        _json(lot_payload(now, **lot_overrides))))
    return project, lot


async def published_lot(session: AsyncSession, now: datetime, **lot_overrides: Any) -> PublishedLot:
    tenderer = await make_tenderer(session)
    project, lot = await draft_project(session, tenderer, now, **lot_overrides)
    notice = await publication.publish_tender(session, tenderer, project.id, PublishTender())  # type: ignore[arg-type]
    return PublishedLot(project=project, lot=lot, notice=notice, tenderer=tenderer)


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)


# --- over HTTP ----------------------------------------------------------------------------------


PROBLEM = "application/problem+json"


@dataclass
class Caller:
    """A signed-in user and the headers its requests carry."""

    user: Any
    headers: dict[str, str]


async def caller(database: Any, *roles: Role) -> Caller:
    from tests.factories import signed_in

    async with database.transaction() as session:
        user, raw = await signed_in(session, *roles)
    return Caller(user=user, headers={"Authorization": f"Bearer {raw}"})


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """A problem document (RFC 9457) with ``status`` whose text names every one of ``words``."""
    import json

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    text = json.dumps(body, ensure_ascii=False)
    for word in words:
        assert word in text, f"{word!r} not in {text}"
    return body  # type: ignore[no-any-return]


@dataclass
class HttpLot:
    tenderer: Caller
    project: dict[str, Any]
    lot: dict[str, Any]
    notice: dict[str, Any] | None


async def http_lot(client: Any, database: Any, now: datetime, *, publish: bool = True,
                   project: dict[str, Any] | None = None, **lot_overrides: Any) -> HttpLot:
    """A project with one lot made through the API (published unless ``publish=False``)."""
    tenderer = await caller(database, Role.TENDERER)
    response = await client.post("/projects", json=project or project_payload(), headers=tenderer.headers)
    assert response.status_code == 201, response.text
    made = response.json()
    response = await client.post(f"/projects/{made['id']}/lots", json=lot_payload(now, **lot_overrides),
                                 headers=tenderer.headers)
    assert response.status_code == 201, response.text
    lot = response.json()
    notice = None
    if publish:
        response = await client.post(f"/projects/{made['id']}/publish", json={}, headers=tenderer.headers)
        assert response.status_code == 201, response.text
        notice = response.json()
        lot = (await client.get(f"/projects/{made['id']}")).json()["lots"][0]
    return HttpLot(tenderer=tenderer, project=made, lot=lot, notice=notice)

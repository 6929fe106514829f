"""Builders for the warnings' tests: a rule that finds what it is told, regulators by scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import SYSTEM, Actor, Role
from core.clock import utcnow
from identities import service as identities
from identities.schemas import UserCreate
from supervision.scopes import Scope
from supervision.warnings.engine import RunReport, run_rules
from supervision.warnings.rules import Finding, Subject, Window
from tests.factories import PASSWORD, actor_of


@dataclass
class ScriptedRule:
    """A rule that returns the findings it is given (and records the windows it saw)."""

    findings: list[Finding] = field(default_factory=list)
    code: str = "test.scripted"
    title: str = "Scripted"
    documentation: str = "Finds what the test tells it to."
    defaults: dict[str, Any] = field(default_factory=lambda: {"threshold": 3, "spread": "0.50", "skip": []})
    windows: list[Window] = field(default_factory=list)

    async def evaluate(self, session: AsyncSession, window: Window) -> list[Finding]:
        self.windows.append(window)
        return list(self.findings)


def finding(key: str = "lot:1", *, region: str = "350102", segment: str = "construction", project_id: int = 7,
            evidence: dict[str, Any] | None = None) -> Finding:
    return Finding(Subject("lot", key), f"something about {key}", evidence or {"bids": [1, 2], "value": "10.0.0.9"},
                   Scope(region, segment, project_id))


async def raise_warnings(session: AsyncSession, *findings: Finding, code: str = "test.scripted") -> RunReport:
    now = utcnow()
    return await run_rules(session, SYSTEM, since=now - timedelta(days=1), until=now,
                           rules=[ScriptedRule(list(findings), code=code)])


async def regulator(session: AsyncSession, jurisdiction: str = "350000", industries: tuple[str, ...] = ("construction",),
                    name: str | None = None) -> Actor:
    user = await identities.create_user(session, SYSTEM, UserCreate(
        username=name or f"regulator{jurisdiction}{'-'.join(industries)}", display_name="Regulator",
        password=PASSWORD, roles=[Role.REGULATOR], jurisdiction=jurisdiction, industries=list(industries)))
    return actor_of(user)

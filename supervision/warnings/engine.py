"""The runner: evaluate every registered rule over a window, store what they find once.

Deduplication is by (rule, subject key): a finding whose warning already exists updates the
evidence of that warning when it changed (a third bid from the same address joins the
first two) and is otherwise left alone; a closed warning stays closed, so a regulator who
dismissed a sign is not asked again about the same subject. New warnings start ``open``
and their first entry goes live to the regulators whose scope covers them.

A rule that fails does not stop the others: its error is reported with the run (a broken
blob must not hide a price cluster elsewhere).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.blobs import BlobStore
from core.clock import utcnow
from core.errors import FieldError, InvalidInput
from supervision.ledger.canonical import to_json_value
from supervision.warnings import events
from supervision.warnings.models import EarlyWarning
from supervision.warnings.rules import (
    Finding,
    Rule,
    Window,
    effective_parameters,
    registered_rules,
)

log = logging.getLogger("bidhall.warnings")

OPEN = "open"


@dataclass
class RunReport:
    since: datetime
    until: datetime
    rules: list[str] = field(default_factory=list)
    findings: int = 0
    raised: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return to_json_value({"since": self.since, "until": self.until, "rules": self.rules,  # type: ignore[return-value]
                              "findings": self.findings, "raised": self.raised, "updated": self.updated,
                              "failures": self.failures})


async def run_rules(session: AsyncSession, actor: Actor | None, *, since: datetime, until: datetime | None = None,
                    blobs: BlobStore | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                    rules: list[Rule] | None = None) -> RunReport:
    """Evaluate ``rules`` (default: every registered rule) over ``[since, until]``."""
    until = until or utcnow()
    if since > until:
        raise InvalidInput("since must not be after until", [FieldError("$.since", "after until")])
    chosen = rules if rules is not None else registered_rules()
    # Check every override before running anything: a bad file stores nothing.
    parameters = {rule.code: effective_parameters(rule, overrides) for rule in chosen}
    report = RunReport(since=since, until=until, rules=[rule.code for rule in chosen])
    window = Window(since, until, {}, blobs)
    for rule in chosen:
        try:
            async with session.begin_nested():
                findings = await rule.evaluate(session, window.with_parameters(parameters[rule.code]))
        except Exception as error:
            log.exception("warning rule %s failed", rule.code)
            report.failures[rule.code] = f"{type(error).__name__}: {error}"
            continue
        report.findings += len(findings)
        for finding in findings:
            await _store(session, actor, rule, finding, report)
    return report


async def _store(session: AsyncSession, actor: Actor | None, rule: Rule, finding: Finding, report: RunReport) -> None:
    evidence = to_json_value(finding.evidence)
    existing = await session.scalar(sa.select(EarlyWarning).where(
        EarlyWarning.rule_code == rule.code, EarlyWarning.subject_key == finding.subject.key))
    now = utcnow()
    if existing is None:
        row = EarlyWarning(rule_code=rule.code, subject_kind=finding.subject.kind, subject_key=finding.subject.key,
                           summary=finding.summary, evidence=evidence,  # type: ignore[arg-type]
                           project_id=finding.scope.project_id, region_code=finding.scope.region_code,
                           segment=finding.scope.segment, status=OPEN, raised_at=now, updated_at=now)
        session.add(row)
        await session.flush()
        await events.record(session, actor, row, events.RAISED, rule_title=rule.title)
        report.raised.append(row.id)  # type: ignore[arg-type]
        return
    if existing.status == "closed" or (existing.evidence == evidence and existing.summary == finding.summary):
        return
    existing.evidence, existing.summary, existing.updated_at = evidence, finding.summary, now  # type: ignore[assignment]
    await session.flush()
    await events.record(session, actor, existing, events.EVIDENCE_UPDATED)
    report.updated.append(existing.id)  # type: ignore[arg-type]

"""The warnings engine: one warning per (rule, subject), evidence kept current, live entries,
parameters checked before anything is stored, a failing rule reported without stopping others."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM
from core.clock import utcnow
from core.database import Database
from core.errors import InvalidInput
from supervision.ledger.models import LedgerEntry
from supervision.replay import StreamRegistry, check_stream
from supervision.scopes import scope_of
from supervision.warnings import events
from supervision.warnings.engine import run_rules
from supervision.warnings.models import EarlyWarning
from supervision.warnings.rules import (
    FunctionRule,
    effective_parameters,
    read_overrides,
)
from tests.supervision.warning_fixtures import ScriptedRule, finding, raise_warnings


async def _entries(session, stream: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    leaves = await session.scalars(sa.select(LedgerEntry.leaf).where(LedgerEntry.stream == stream)
                                   .order_by(LedgerEntry.seq))
    return [json.loads(leaf) for leaf in leaves]


async def test_a_finding_raises_one_open_warning_with_its_evidence_on_its_stream(database: Database) -> None:
    async with database.transaction() as session:
        report = await raise_warnings(session, finding("lot:1"))
    assert len(report.raised) == 1 and report.findings == 1
    async with database.transaction() as session:
        row = await session.get(EarlyWarning, report.raised[0])
        entries = await _entries(session, events.warning_stream(row.id))
        scope = await scope_of(session, events.warning_stream(row.id))
    assert (row.status, row.rule_code, row.subject_key, row.region_code, row.segment, row.project_id) == (
        "open", "test.scripted", "lot:1", "350102", "construction", 7)
    assert row.evidence == {"bids": [1, 2], "value": "10.0.0.9"}
    assert [e["type"] for e in entries] == [events.RAISED]
    assert entries[0]["payload"]["warning"]["evidence"] == row.evidence
    assert (scope.region_code, scope.segment, scope.project_id) == ("350102", "construction", 7)


async def test_the_same_subject_again_is_not_a_second_warning(database: Database) -> None:
    async with database.transaction() as session:
        first = await raise_warnings(session, finding("lot:1"), finding("lot:2"))
    async with database.transaction() as session:
        again = await raise_warnings(session, finding("lot:1"), finding("lot:2"))
        count = await session.scalar(sa.select(sa.func.count()).select_from(EarlyWarning))
    assert len(first.raised) == 2 and again.raised == [] and again.updated == [] and count == 2


async def test_new_evidence_updates_the_warning_and_is_recorded(database: Database) -> None:
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
    async with database.transaction() as session:
        report = await raise_warnings(session, finding("lot:1", evidence={"bids": [1, 2, 3]}))
        row = await session.get(EarlyWarning, warning_id)
        types = [e["type"] for e in await _entries(session, events.warning_stream(warning_id))]
    assert report.updated == [warning_id] and row.evidence == {"bids": [1, 2, 3]}
    assert types == [events.RAISED, events.EVIDENCE_UPDATED]


async def test_a_closed_warning_stays_closed_when_the_rule_finds_it_again(database: Database) -> None:
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
        row = await session.get(EarlyWarning, warning_id)
        row.status = "closed"
    async with database.transaction() as session:
        report = await raise_warnings(session, finding("lot:1", evidence={"other": True}))
        row = await session.get(EarlyWarning, warning_id)
    assert report.raised == [] and report.updated == [] and row.status == "closed"


async def test_a_failing_rule_is_reported_and_the_others_still_run(database: Database) -> None:
    async def broken(session, window):  # type: ignore[no-untyped-def]
        await session.execute(sa.text("SELECT * FROM no_such_table"))
        return []

    now = utcnow()
    rules = [FunctionRule("test.broken", "Broken", "Fails.", {}, broken), ScriptedRule([finding("lot:9")])]
    async with database.transaction() as session:
        report = await run_rules(session, SYSTEM, since=now - timedelta(hours=1), until=now, rules=rules)
    assert "test.broken" in report.failures and len(report.raised) == 1


async def test_parameters_default_from_data_and_overrides_are_checked_before_anything_runs(database: Database) -> None:
    rule = ScriptedRule([finding()])
    now = utcnow()
    async with database.transaction() as session:
        await run_rules(session, SYSTEM, since=now - timedelta(hours=1), until=now, rules=[rule],
                        overrides={"test.scripted": {"threshold": 5}})
    assert dict(rule.windows[0].parameters) == {"threshold": 5, "spread": "0.50", "skip": []}
    assert rule.windows[0].decimal("spread") == pytest.approx(0.5) and rule.windows[0].integer("threshold") == 5
    for bad in ({"nope": 1}, {"threshold": "5"}, {"threshold": -1}, {"spread": 0.5}, {"spread": "abc"},
                {"skip": "10.0.0.1"}, {"skip": [1]}):
        rule = ScriptedRule([finding()])
        async with database.transaction() as session:
            with pytest.raises(InvalidInput) as refused:
                await run_rules(session, SYSTEM, since=now - timedelta(hours=1), until=now, rules=[rule],
                                overrides={"test.scripted": bad})
        assert refused.value.errors[0].pointer.startswith("$.test.scripted.") and rule.windows == []
    async with database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(EarlyWarning)) == 1


def test_an_overrides_file_must_name_known_rules_with_objects() -> None:
    import trading.warning_rules  # noqa: F401 - registers the rule named below

    assert read_overrides('{"trading.too_few_bids": {"min_bids": 4}}', "f.json") == {
        "trading.too_few_bids": {"min_bids": 4}}
    for text, message in (("{", "not JSON"), ("[]", "must be an object"), ('{"x.y": {}}', "unknown rules")):
        with pytest.raises(InvalidInput, match=message):
            read_overrides(text, "f.json")
    assert effective_parameters(ScriptedRule(), None) == {"threshold": 3, "spread": "0.50", "skip": []}


async def test_a_window_that_ends_before_it_starts_is_refused(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as session:
        with pytest.raises(InvalidInput, match="since"):
            await run_rules(session, SYSTEM, since=now, until=now - timedelta(seconds=1), rules=[ScriptedRule()])


async def test_the_warning_stream_replays_to_the_stored_row(database: Database) -> None:
    registry = StreamRegistry()
    events.register(registry)
    async with database.transaction() as session:
        warning_id = (await raise_warnings(session, finding("lot:1"))).raised[0]
    async with database.transaction() as session:
        await raise_warnings(session, finding("lot:1", evidence={"bids": [1, 2, 3]}))
    async with database.transaction() as session:
        check = await check_stream(session, registry, events.warning_stream(warning_id))
        streams = await events.list_warning_streams(session)
    assert check.matches, (check.replayed, check.stored)
    assert streams == [events.warning_stream(warning_id)]


def test_every_registered_rule_and_parameter_is_documented() -> None:
    from pathlib import Path

    import web.runtime  # noqa: F401 - registers every domain's rules
    from supervision.warnings.rules import registered_rules

    text = (Path(__file__).parents[2] / "docs" / "warning-rules.md").read_text(encoding="utf-8")
    rules = registered_rules()
    assert len(rules) >= 15
    for rule in rules:
        section = text.split(f"### `{rule.code}`", 1)
        assert len(section) == 2, f"{rule.code} is not documented"
        body = section[1].split("\n### ", 1)[0]
        for name in rule.defaults:
            assert f"`{name}`" in body, f"{rule.code}: parameter {name} is not documented"
        assert rule.documentation and "Evidence" in rule.documentation


async def test_the_periodic_job_runs_every_rule_with_the_overrides_file(
        database: Database, settings, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from core.tasks import close_worker_loop, create_celery_app
    from supervision.warnings.tasks import RUN_EVERY_SECONDS, run_warning_rules_task

    overrides = tmp_path / "parameters.json"
    overrides.write_text('{"trading.too_few_bids": {"min_bids": 4}}')
    app = create_celery_app(settings.model_copy(update={"warning_parameters_file": overrides}))
    try:
        assert app.conf.beat_schedule["supervision.run_warning_rules"] == {
            "task": "supervision.run_warning_rules", "schedule": float(RUN_EVERY_SECONDS)}
        report = run_warning_rules_task()
        overrides.write_text('{"trading.too_few_bids": {"min_bids": "four"}}')
        with pytest.raises(InvalidInput, match="min_bids"):
            run_warning_rules_task()
    finally:
        close_worker_loop()
        app.close()
    assert report["failures"] == {} and "trading.too_few_bids" in report["rules"] and report["raised"] == []

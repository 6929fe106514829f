"""Replay for oversight: the state at a moment or sequence number, the timeline, the
jurisdiction (refusals recorded), sealed streams (reads recorded) and every bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.actors import SYSTEM, Role
from core.clock import rfc3339, travel, utcnow
from core.database import Database
from core.errors import InvalidInput, NotFound, PermissionDenied
from supervision import replay_access
from supervision.ledger.append import append
from supervision.replay import check_stream, state_changes
from supervision.replay_access import Refusal, StateView, TimelineView
from tests.factories import actor_of, make_user
from tests.supervision.walk_replay import (
    ledger_count,
    make_widget,
    oversight_entries,
    replay_registry,
)


async def _seqs(database: Database, stream: str) -> list[int]:
    async with database.reader() as session:
        return [entry.seq for entry in (await session.execute(
            sa.text("SELECT seq FROM ledger_entries WHERE stream = :s ORDER BY seq"), {"s": stream})).all()]


async def test_state_at_a_sequence_number_and_at_a_moment(database: Database) -> None:
    registry = replay_registry()
    start = utcnow() - timedelta(hours=3)
    with travel(start):
        async with database.transaction() as session:
            auditor = actor_of(await make_user(session, Role.AUDITOR))
            stream = await make_widget(session, paint=("red",))
    with travel(start + timedelta(hours=1)):
        async with database.transaction() as session:
            await append(session, stream=stream, event_type="widget.painted", actor=None, payload={"colour": "blue"})
    _, red, blue = await _seqs(database, stream)
    async with database.transaction() as session:
        by_seq = await replay_access.state_at(session, auditor, registry, stream, seq=red)
        by_time = await replay_access.state_at(session, auditor, registry, stream, at=start + timedelta(minutes=30))
        now = await replay_access.state_at(session, auditor, registry, stream)
    assert isinstance(by_seq, StateView) and by_seq.state["colour"] == "red" and by_seq.seq == red  # type: ignore[index]
    assert isinstance(by_time, StateView) and by_time.state["colour"] == "red" and by_time.seq == red  # type: ignore[index]
    assert isinstance(now, StateView) and now.state["colour"] == "blue" and now.seq == blue  # type: ignore[index]
    assert by_seq.to_dict()["began_at"] == rfc3339(by_seq.began_at)


async def test_timeline_shows_each_step_and_what_changed_page_by_page(database: Database) -> None:
    registry = replay_registry()
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.ADMIN))
        stream = await make_widget(session, paint=("red", "green"))
        await append(session, stream=stream, event_type="widget.part_added", actor=admin, payload={"part": "wheel"})
    async with database.transaction() as session:
        first = await replay_access.timeline_page(session, admin, registry, stream, limit=2)
        assert isinstance(first, TimelineView) and first.page.next_after is not None
        rest = await replay_access.timeline_page(session, admin, registry, stream, after=first.page.next_after)
    assert isinstance(rest, TimelineView) and rest.page.next_after is None
    steps = first.page.steps + rest.page.steps
    assert [step["type"] for step in steps] == ["widget.made", "widget.painted", "widget.painted", "widget.part_added"]
    assert steps[0]["changes"][0]["op"] == "add" and steps[0]["changes"][0]["path"] == "/"
    assert steps[2]["changes"] == [{"op": "replace", "path": "/colour", "old": "red", "value": "green"}]
    assert steps[3]["changes"] == [{"op": "replace", "path": "/parts", "old": [], "value": ["wheel"]}]
    assert steps[3]["actor"]["user_id"] == admin.user_id and steps[3]["time"]


def test_changes_name_nested_keys_and_removals() -> None:
    before = {"a": {"b": 1, "gone": True}, "x/y": 1}
    after = {"a": {"b": 2, "new": None}, "x/y": 1}
    assert state_changes(before, after) == [
        {"op": "replace", "path": "/a/b", "old": 1, "value": 2},
        {"op": "remove", "path": "/a/gone", "old": True},
        {"op": "add", "path": "/a/new", "value": None},
    ]
    assert state_changes({"k": 1}, None) == [{"op": "remove", "path": "/", "old": {"k": 1}}]


async def test_a_regulator_outside_its_jurisdiction_is_refused_and_the_attempt_recorded(database: Database) -> None:
    registry = replay_registry()
    async with database.transaction() as session:
        regulator = actor_of(await make_user(session, Role.REGULATOR))  # 350000, construction
        elsewhere = await make_widget(session, region="440100")
        other_industry = await make_widget(session, segment="government_procurement")
    for stream in (elsewhere, other_industry):
        async with database.transaction() as session:
            refused = await replay_access.state_at(session, regulator, registry, stream)
        assert isinstance(refused, Refusal) and "outside your jurisdiction" in refused.detail
        with pytest.raises(PermissionDenied, match="the attempt is recorded"):
            refused.refuse()
    async with database.transaction() as session:
        refused = await replay_access.timeline_page(session, regulator, registry, elsewhere)
    assert isinstance(refused, Refusal)
    async with database.reader() as session:
        records = await oversight_entries(session, regulator.user_id)
        check = await check_stream(session, registry, replay_access.oversight_stream(regulator.user_id))
    assert [r["payload"]["stream"] for r in records] == [elsewhere, other_industry, elsewhere]
    assert {r["type"] for r in records} == {replay_access.REPLAY_REFUSED}
    assert check.matches and check.replayed["refused"] == 3  # type: ignore[index]


async def test_a_regulator_inside_its_jurisdiction_reads_an_open_stream_without_a_record(database: Database) -> None:
    registry = replay_registry()
    async with database.transaction() as session:
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        stream = await make_widget(session, region="350102")
    async with database.transaction() as session:
        view = await replay_access.state_at(session, regulator, registry, stream)
        assert isinstance(view, StateView) and not view.sealed
    async with database.reader() as session:
        assert await oversight_entries(session, regulator.user_id) == []


async def test_every_regulator_read_of_a_sealed_stream_is_recorded(database: Database) -> None:
    registry = replay_registry()
    async with database.transaction() as session:
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        auditor = actor_of(await make_user(session, Role.AUDITOR))
        stream = await make_widget(session, sealed=True)
    async with database.transaction() as session:
        view = await replay_access.state_at(session, regulator, registry, stream)
        await replay_access.timeline_page(session, regulator, registry, stream)
        await replay_access.state_at(session, auditor, registry, stream)
    assert isinstance(view, StateView) and view.sealed
    async with database.transaction() as session:
        await append(session, stream=stream, event_type="widget.revealed", actor=None, payload={})
    async with database.transaction() as session:
        after = await replay_access.state_at(session, regulator, registry, stream)
    assert isinstance(after, StateView) and not after.sealed
    async with database.reader() as session:
        records = await oversight_entries(session, regulator.user_id)
        assert await oversight_entries(session, auditor.user_id) == []
    assert [(r["type"], r["payload"]["read"]) for r in records] == [
        (replay_access.SEALED_STREAM_READ, "state"), (replay_access.SEALED_STREAM_READ, "timeline")]


async def _refused_input(database: Database, **asked: object) -> str:
    registry = replay_registry()
    async with database.transaction() as session:
        auditor = actor_of(await make_user(session, Role.AUDITOR))
    stream = asked.pop("stream", None)
    if stream is None:
        async with database.transaction() as session:
            stream = await make_widget(session)
    async with database.reader() as session:
        before = await ledger_count(session)
    with pytest.raises((InvalidInput, NotFound)) as raised:
        async with database.transaction() as session:
            await replay_access.state_at(session, auditor, registry, stream, **asked)  # type: ignore[arg-type]
    async with database.reader() as session:
        assert await ledger_count(session) == before
    return raised.value.detail


async def test_a_moment_before_the_stream_began_names_when_it_began(database: Database) -> None:
    detail = await _refused_input(database, at=utcnow() - timedelta(days=1))
    assert "before stream widget:" in detail and "began, at 20" in detail


async def test_a_moment_in_the_future_is_refused(database: Database) -> None:
    assert "in the future" in await _refused_input(database, at=utcnow() + timedelta(hours=1))


async def test_a_sequence_number_past_the_head_is_refused(database: Database) -> None:
    assert "past the head of the ledger" in await _refused_input(database, seq=10_000)


async def test_a_sequence_number_before_the_stream_began_is_refused(database: Database) -> None:
    async with database.transaction() as session:
        await make_widget(session)  # entries 0 and 1 belong to another stream
    assert "before stream" in await _refused_input(database, seq=0)


async def test_both_a_moment_and_a_sequence_number_is_refused(database: Database) -> None:
    assert "not both" in await _refused_input(database, at=utcnow(), seq=0)


async def test_unknown_and_malformed_streams_are_named(database: Database) -> None:
    assert "has no entries" in await _refused_input(database, stream="widget:999999")
    assert "no domain registered streams of kind 'gadget'" in await _refused_input(database, stream="gadget:1")
    for malformed in ("widget", "Widget:1", "widget:", "widget:1/2", "x" * 300):
        assert "is not a stream name" in await _refused_input(database, stream=malformed)


async def test_a_draw_is_sealed_until_revealed(database: Database) -> None:
    from expert_pool import draws
    from tests.identities.test_permissions import _request_a_draw
    from web.replay_sealed import draw_sealed, evaluation_sealed

    async with database.transaction() as session:
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
        draw = await _request_a_draw(session, staff)
    stream = draws.draw_stream(draw.id)
    async with database.transaction() as session:
        assert await draw_sealed(session, stream)
        call = await draws.call_next(session, SYSTEM, draw.id)
        await draws.record_answer(session, SYSTEM, call.id, "accepted")  # type: ignore[union-attr]
        await draws.reveal_draw(session, SYSTEM, draw.id)
    async with database.reader() as session:
        assert not await draw_sealed(session, stream)
        assert not await draw_sealed(session, "draw:999999") and not await evaluation_sealed(session, "evaluation:x")

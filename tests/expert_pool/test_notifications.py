"""Notifying drawn experts over Celery: in sequence, once each, replacing decliners."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import utcnow
from core.database import Database
from core.settings import Settings, load_settings
from core.tasks import close_worker_loop, create_celery_app
from expert_pool import draws
from expert_pool.models import Draw, DrawCall
from expert_pool.schemas import DrawRequest
from tests.conftest import empty_all_tables
from tests.expert_pool.factories import admitted_expert
from tests.factories import actor_of, make_user

TOKEN = "callback-secret-0123456789"
DECLINER, SILENT = "13900000001", "13900000002"
REPO_ROOT = Path(__file__).resolve().parents[2]


def simulator_settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "var", database_url=database_url, notify_provider="simulator",
                         notify_settings={"behaviour": {DECLINER: "decline", SILENT: "no_answer"},
                                          "default": "accept", "callback_token": TOKEN},
                         answer_window_seconds=60)


@pytest.fixture
def as_worker(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    """This process acting as a worker with the simulator (tasks are called directly)."""
    from expert_pool import tasks

    settings = simulator_settings(tmp_path, database_url)
    app = create_celery_app(settings)
    tasks._provider.cache_clear()  # a fresh simulator, with nothing sent yet
    yield settings
    close_worker_loop()
    app.close()


async def experts_with_phones(database: Database, phones: list[str]) -> None:
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
        for phone in phones:
            await admitted_expert(session, admin, specialties=["A04"], phone=phone)


async def new_draw(database: Database, quota: int) -> int:
    async with database.transaction() as session:
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
        draw = await draws.request_draw(session, staff, DrawRequest(
            lot_reference="FJ-7/1", evaluation_at=utcnow() + timedelta(days=2), venue="Fuzhou centre, room 5",
            region_rule="remote_pool", quotas={"A04": quota}))
    return draw.id  # type: ignore[return-value]


async def test_tasks_call_in_sequence_once_each_and_replace_decliners(database: Database, as_worker: Settings) -> None:
    from expert_pool.tasks import answer_timeout, notify_next, provider, send_invitation

    await experts_with_phones(database, [DECLINER, SILENT, "13900000003", "13900000004", "13900000005"])
    draw_id = await new_draw(database, 2)
    for _ in range(10):  # what the worker would do with the tasks these tasks send
        for call_id in notify_next(draw_id):
            send_invitation(call_id)
            assert send_invitation(call_id) is None  # a retried task calls nobody twice
        async with database.reader() as session:
            silent = (await session.scalars(sa.select(DrawCall.id).where(
                DrawCall.draw_id == draw_id, DrawCall.answer.is_(None)))).all()
        for call_id in silent:  # the answer window passes
            answer_timeout(call_id)
        async with database.reader() as session:
            if (await session.get(Draw, draw_id)).status != "calling":  # type: ignore[union-attr]
                break
    async with database.reader() as session:
        draw = await session.get(Draw, draw_id)
        calls = list(await session.scalars(sa.select(DrawCall).where(DrawCall.draw_id == draw_id)
                                           .order_by(DrawCall.position)))
    assert draw is not None and draw.status == "filled"
    assert [c.answer for c in calls].count("accepted") == 2
    simulator = provider()
    called = [sent.invitation.phone for sent in simulator.placed_calls]
    assert len(called) == len(set(called)) == len(calls)  # each expert called once
    texts = " ".join(sent.text for sent in simulator.placed_calls + simulator.sent_sms)
    assert "Fuzhou centre, room 5" in texts and "FJ-7" not in texts  # time and place, never the project


async def test_the_tasks_of_a_draw_parse_its_stored_snapshot_once_per_process(
        database: Database, as_worker: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from expert_pool.tasks import notify_next, send_invitation

    parsed: list[int] = []
    read = draws.read_stored_snapshot

    def counting(stored, *, venues):  # type: ignore[no-untyped-def]
        parsed.append(1)
        return read(stored, venues=venues)

    monkeypatch.setattr(draws, "read_stored_snapshot", counting)
    draws.snapshot_cache.clear()
    await experts_with_phones(database, [DECLINER, "13900000003", "13900000004", "13900000005"])
    draw_id = await new_draw(database, 2)
    tasks_run = 0
    for _ in range(5):  # every notify_next and send_invitation (which records the answer) reads the draw
        for call_id in notify_next(draw_id):
            send_invitation(call_id)
            tasks_run += 1
        tasks_run += 1
    async with database.reader() as session:
        assert (await session.get(Draw, draw_id)).status == "filled"  # type: ignore[union-attr]
    assert tasks_run > 3 and parsed == [1]
    draws.snapshot_cache.clear()


async def test_callbacks_are_authenticated_and_applied_once(client: httpx.AsyncClient, database: Database,
                                                            runtime, as_worker: Settings) -> None:  # type: ignore[no-untyped-def]
    from expert_pool.notify.base import Invitation
    from expert_pool.notify.simulator import SimulatedProvider
    from expert_pool.tasks import notify_next

    runtime.settings = as_worker
    simulator = runtime.notification_provider
    assert isinstance(simulator, SimulatedProvider)
    await experts_with_phones(database, ["13900000007"])
    draw_id = await new_draw(database, 1)
    [call_id] = notify_next(draw_id)
    await simulator.place_call(Invitation(reference=str(call_id), phone="13900000007",
                                          evaluation_time=utcnow() + timedelta(days=2), place="Fuzhou",
                                          reply_deadline=utcnow() + timedelta(minutes=10)))
    push = next(p for p in simulator.pending_callbacks() if b"dtmf" in p.body)  # the keypress report
    forged = await client.post(push.path.replace(TOKEN, "not-the-secret-at-all"), content=push.body,
                               headers={k: v for k, v in push.headers.items() if k.lower() != "x-callback-token"})
    assert forged.status_code == 403
    for _ in range(2):  # the provider retries: the second push changes nothing
        accepted = await client.post(push.path, content=push.body, headers=dict(push.headers))
        assert accepted.status_code == 200, accepted.text
    async with database.reader() as session:
        call = await session.get(DrawCall, call_id)
        draw = await session.get(Draw, draw_id)
    assert call is not None and call.answer == "accepted" and draw is not None and draw.status == "filled"


@pytest.mark.postgres
async def test_a_real_worker_notifies_and_replaces(postgres_url: str, tmp_path: Path) -> None:
    database = Database(postgres_url)
    await empty_all_tables(database)
    settings = simulator_settings(tmp_path, postgres_url)
    app = create_celery_app(settings)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BIDHALL_")},
           "BIDHALL_DATABASE_URL": postgres_url, "BIDHALL_DATA_DIR": str(tmp_path / "var"),
           "BIDHALL_NOTIFY_SETTINGS": json.dumps(settings.notify_settings), "PYTHONPATH": str(REPO_ROOT)}
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--pool", "solo"], cwd=tmp_path,
                                  env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        await experts_with_phones(database, [DECLINER, "13900000003", "13900000004", "13900000005"])
        draw_id = await new_draw(database, 2)  # the draw's first task is sent after this commit
        deadline = time.monotonic() + 60
        status = "calling"
        while time.monotonic() < deadline and status == "calling":
            await asyncio.sleep(0.3)
            async with database.reader() as session:
                status = (await session.get(Draw, draw_id)).status  # type: ignore[union-attr]
        assert status == "filled", log.read_text()[-4000:]
        async with database.reader() as session:
            answers = (await session.scalars(sa.select(DrawCall.answer).where(DrawCall.draw_id == draw_id))).all()
        assert sorted(a for a in answers) in (["accepted", "accepted"], ["accepted", "accepted", "declined"])
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        app.close()
        await database.dispose()


async def test_a_callback_for_an_unknown_call_changes_nothing(client: httpx.AsyncClient, database: Database,
                                                              runtime, as_worker: Settings) -> None:  # type: ignore[no-untyped-def]
    from expert_pool.notify.base import Invitation

    runtime.settings = as_worker
    simulator = runtime.notification_provider
    await simulator.place_call(Invitation(reference="999999", phone="13900000008",
                                          evaluation_time=utcnow() + timedelta(days=2), place="Fuzhou",
                                          reply_deadline=utcnow() + timedelta(minutes=10)))
    push = next(p for p in simulator.pending_callbacks() if b"dtmf" in p.body)
    response = await client.post(push.path, content=push.body, headers=dict(push.headers))
    assert response.status_code == 200  # acknowledged, so the provider stops retrying
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(DrawCall)) == 0
    garbage = await client.post(push.path, content=b"{not json", headers=dict(push.headers))
    assert garbage.status_code == 403 and "Traceback" not in garbage.text


async def test_each_expert_of_a_venue_draw_hears_only_their_own_venue(database: Database,
                                                                     as_worker: Settings) -> None:
    from expert_pool.tasks import notify_next, provider, send_invitation

    main_place, second_place = "Fuzhou centre, room 5", "Xiamen branch, room 1"
    phones = {"350100": ["13900000011", "13900000012"], "350200": ["13900000021", "13900000022"]}
    async with database.transaction() as session:
        admin = actor_of(await make_user(session, Role.EXPERT_ADMIN))
        for region, numbers in phones.items():
            for phone in numbers:
                await admitted_expert(session, admin, specialties=["A04"], phone=phone, region_code=region)
        staff = actor_of(await make_user(session, Role.CENTER_STAFF))
        draw = await draws.request_draw(session, staff, DrawRequest.model_validate({
            "lot_reference": "FJ-8/1", "evaluation_at": utcnow() + timedelta(days=2), "region_rule": "venues",
            "main_venue": {"name": "Fuzhou", "place": main_place, "region_code": "350100", "quotas": {"A04": 1}},
            "secondary_venues": [{"name": "Xiamen", "place": second_place, "region_code": "350200",
                                  "quotas": {"A04": 1}}]}))
    for call_id in notify_next(draw.id):  # type: ignore[arg-type]
        send_invitation(call_id)
    async with database.reader() as session:
        assert (await session.get(Draw, draw.id)).status == "filled"  # type: ignore[union-attr]
    simulator = provider()
    sent = simulator.placed_calls + simulator.sent_sms
    region_of = {phone: region for region, numbers in phones.items() for phone in numbers}
    assert {region_of[s.invitation.phone] for s in sent} == {"350100", "350200"}  # an expert at each venue
    for message in sent:
        own, other = (main_place, second_place) if message.invitation.phone in phones["350100"] else (
            second_place, main_place)
        assert own in message.text and other not in message.text and "FJ-8" not in message.text

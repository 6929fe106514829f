"""The task queue: sending after commit, and real workers on the embedded broker, Redis and RabbitMQ.

The integration tests start ``bidhall worker --pool solo`` as a subprocess against the
test session's PostgreSQL database. Redis and RabbitMQ are reached at
``BIDHALL_TEST_REDIS_URL`` and ``BIDHALL_TEST_AMQP_URL`` (default: the local servers); when
one cannot be reached its test is skipped, unless ``BIDHALL_TEST_REQUIRE_SERVICES=1`` (CI),
which makes it fail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from core.actors import SYSTEM
from core.database import Database
from core.settings import Settings, load_settings
from core.tasks import close_worker_loop, create_celery_app, enqueue_after_commit
from supervision.ledger import append
from supervision.ledger.heads import head_signature_valid, latest_head
from supervision.ledger.models import LedgerTreeHead
from supervision.ledger.verify import verify_ledger
from supervision.tasks import sign_tree_head
from tests.conftest import empty_all_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BIDHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
AMQP_URL = os.environ.get("BIDHALL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REQUIRE_SERVICES = os.environ.get("BIDHALL_TEST_REQUIRE_SERVICES") == "1"
WORKER_TIMEOUT = 60.0


async def append_entries(session: Any, count: int) -> None:
    for number in range(count):
        await append(session, stream="test:1", event_type="test.happened", actor=SYSTEM, payload={"number": number})


# --- what lands in the embedded broker ----------------------------------------------------


@pytest.fixture
def file_app(settings: Settings) -> Iterator[Celery]:
    app = create_celery_app(settings)
    yield app
    app.close()


def queued_messages(settings: Settings) -> list[dict[str, Any]]:
    """The task messages waiting in the embedded broker, oldest first: name, args."""
    folder = settings.broker_dir / "queue"
    messages = []
    for path in sorted(folder.iterdir()):
        document = json.loads(path.read_bytes())
        assert document["properties"]["body_encoding"] == "base64"
        args, kwargs, _embed = json.loads(base64.b64decode(document["body"]))
        messages.append({"task": document["headers"]["task"], "args": args, "kwargs": kwargs})
    return messages


async def test_a_task_is_sent_once_and_only_after_the_commit(database: Database, settings: Settings,
                                                             file_app: Celery) -> None:
    async with database.transaction() as session:
        await append_entries(session, 1)
        enqueue_after_commit(session, "tests.record", 42, "project:7")
        await session.flush()
        assert queued_messages(settings) == []
    assert queued_messages(settings) == [{"task": "tests.record", "args": [42, "project:7"], "kwargs": {}}]


async def test_nothing_is_sent_when_the_transaction_rolls_back(database: Database, settings: Settings,
                                                               file_app: Celery) -> None:
    with pytest.raises(RuntimeError, match="the change failed"):
        async with database.transaction() as session:
            await append_entries(session, 1)
            enqueue_after_commit(session, "tests.record", 42)
            raise RuntimeError("the change failed")
    async with database.transaction() as session:
        await append_entries(session, 1)
    assert queued_messages(settings) == []


async def test_task_arguments_are_ids(database: Database, settings: Settings, file_app: Celery) -> None:
    with pytest.raises(TypeError, match="ids"):
        async with database.transaction() as session:
            enqueue_after_commit(session, "tests.record", {"id": 42})  # type: ignore[arg-type]
    assert queued_messages(settings) == []


async def test_a_send_failing_after_the_commit_is_logged_not_raised(
    database: Database, tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = load_settings(data_dir=tmp_path / "var", database_url=database_url,
                                broker_url="redis://127.0.0.1:1/0")
    app = create_celery_app(unreachable)
    try:
        with caplog.at_level(logging.ERROR, logger="bidhall.tasks"):
            async with database.transaction() as session:
                await append_entries(session, 1)
                enqueue_after_commit(session, "tests.record", 42)
    finally:
        app.close()
    assert "tests.record(42,) was not sent" in caplog.text
    async with database.reader() as session:
        assert await latest_head(session) is None
        report = await verify_ledger(session)
    assert report.ok and report.size == 1  # the change itself is stored


# --- tasks called directly, as tests and the threads pool do -------------------------------


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[Settings]:
    """This process acting as a worker for ``settings`` (loop and engine closed afterwards)."""
    app = create_celery_app(settings)
    yield settings
    close_worker_loop()
    app.close()


async def test_a_task_called_directly_signs_every_committed_entry(database: Database,
                                                                   worker_process: Settings) -> None:
    async with database.transaction() as session:
        await append_entries(session, 5)
    # From inside this test's running loop, and from several threads at once (the threads pool).
    assert sign_tree_head() == 5
    sizes = await asyncio.gather(*(asyncio.to_thread(sign_tree_head) for _ in range(4)))
    assert sizes == [5, 5, 5, 5]
    async with database.reader() as session:
        head = await latest_head(session)
    assert head is not None and head.tree_size == 5 and head_signature_valid(head)


# --- real workers -------------------------------------------------------------------------


def require_broker(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable"
        reason = f"broker unreachable at {url}: {type(error).__name__}: {error}"
        if REQUIRE_SERVICES:
            pytest.fail(f"BIDHALL_TEST_REQUIRE_SERVICES=1 but the {reason}")
        pytest.skip(reason)


@dataclass
class Broker:
    kind: str
    url: str | None  # None: the embedded file broker
    queue: str | None  # a queue of this test's own on a shared server


def delete_queue(broker: Broker) -> None:
    """Remove the test's queue, its exchange and their binding from the shared server."""
    from kombu import Connection, Exchange, Queue

    assert broker.url and broker.queue
    with Connection(broker.url, connect_timeout=3) as connection:
        # Declared as Celery declares it, so kombu knows the binding it is to remove.
        queue = Queue(broker.queue, Exchange(broker.queue), routing_key=broker.queue, channel=connection.channel())
        queue.declare()
        queue.delete()
        queue.exchange.delete()


@pytest.fixture(params=[
    pytest.param("redis", marks=pytest.mark.services),
    pytest.param("rabbitmq", marks=pytest.mark.services),
    "embedded",
])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "embedded":
        yield Broker("embedded", None, None)
        return
    url = REDIS_URL if request.param == "redis" else AMQP_URL
    require_broker(url)
    broker = Broker(request.param, url, f"bidhall-test-{uuid.uuid4().hex[:12]}")
    yield broker
    delete_queue(broker)


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url)
    await empty_all_tables(database)
    yield database
    await database.dispose()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[dict[str, str], list[str]], Worker]]:
    """Start ``bidhall worker`` as a subprocess; it is stopped (and its log shown) at teardown."""
    started: list[Worker] = []

    def start(environment: dict[str, str], module: list[str]) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        env = {**os.environ, **environment, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", *module, "worker", "--pool", "solo"],
                                       cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop(worker.process)
        print(f"--- worker log ({worker.log}) ---\n{worker.output()}")  # shown when a test fails


async def wait_for_head(database: Database, tree_size: int, worker: Worker) -> LedgerTreeHead:
    deadline = time.monotonic() + WORKER_TIMEOUT
    while time.monotonic() < deadline:
        async with database.reader() as session:
            head = await latest_head(session)
        if head is not None and head.tree_size == tree_size:
            return head
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited with {worker.process.returncode}:\n{worker.output()}")
        await asyncio.sleep(0.2)
    pytest.fail(f"no tree head of size {tree_size} after {WORKER_TIMEOUT:.0f} s:\n{worker.output()}")


@pytest.mark.postgres
async def test_a_real_worker_runs_a_task_sent_after_commit(
    broker: Broker, postgres: Database, postgres_url: str, tmp_path: Path,
    start_worker: Callable[[dict[str, str], list[str]], Worker],
) -> None:
    environment = {"BIDHALL_DATABASE_URL": postgres_url, "BIDHALL_DATA_DIR": str(tmp_path / "var")}
    if broker.url:
        environment["BIDHALL_BROKER_URL"] = broker.url
    if broker.queue:
        environment["BIDHALL_TASK_QUEUE"] = broker.queue
    settings = load_settings(data_dir=tmp_path / "var", database_url=postgres_url, broker_url=broker.url,
                             task_queue=broker.queue or "celery")
    app = create_celery_app(settings)
    worker = start_worker(environment, ["web.cli"])
    try:
        async with postgres.transaction() as session:
            await append_entries(session, 9)
            enqueue_after_commit(session, "supervision.sign_tree_head")
        head = await wait_for_head(postgres, 9, worker)
    finally:
        app.close()
    assert head_signature_valid(head)
    async with postgres.reader() as session:
        report = await verify_ledger(session)
    assert report.ok, report
    assert "supervision.sign_tree_head" in worker.output()


def test_each_domain_registers_its_periodic_jobs(tmp_path: Path) -> None:
    app = create_celery_app(load_settings(data_dir=tmp_path / "var"))
    try:
        assert app.conf.beat_schedule["supervision.sign_tree_head"] == {
            "task": "supervision.sign_tree_head", "schedule": 60.0}
        assert app.conf.beat_schedule_filename.startswith(str(tmp_path))
    finally:
        app.close()

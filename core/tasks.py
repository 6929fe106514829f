"""The Celery application and the only sanctioned way to send a task.

Tasks take ids, have dotted names (``supervision.sign_tree_head``) and are declared in each
domain's ``tasks.py`` with :func:`celery.shared_task`. They are sent with
:func:`enqueue_after_commit`, so a task is sent only once the transaction it belongs to has
committed, and never when it rolls back. The broker is Redis or RabbitMQ in production, and
in the embedded default a directory under the data directory (:class:`FileBrokerTransport`),
so a first run needs no server: ``bidhall serve`` starts a worker on it.

Task functions are synchronous; the async use cases they call run through
:func:`run_in_worker`, on one event loop per worker process.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from queue import Empty
from typing import Any, TypeVar

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutdown
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from sqlalchemy.ext.asyncio import AsyncSession

from core.database import Database, after_commit
from core.settings import Settings, load_settings

T = TypeVar("T")

logger = logging.getLogger("bidhall.tasks")

# Task modules of every domain; the worker imports them so their tasks are registered.
TASK_MODULES = ["supervision.tasks", "expert_pool.tasks", "trading.tasks", "evaluation.tasks",
                "supervision.warnings.tasks"]

_state: dict[str, Any] = {}
_state_lock = threading.Lock()


def create_celery_app(settings: Settings, task_modules: Sequence[str] = TASK_MODULES) -> Celery:
    """Build the Celery app for these settings and make it the current one.

    Called once at start-up by the web app and by ``bidhall worker``; the settings given here
    are also the ones :func:`worker_settings` hands to tasks in this process.
    """
    # The file broker has no host; naming one keeps kombu from warning that none was given.
    broker = "filesystem://localhost//" if settings.is_embedded_broker else settings.resolved_broker_url
    app = Celery("bidhall", broker=broker, include=list(task_modules))
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        task_default_queue=settings.task_queue,
        beat_schedule=periodic_schedule(task_modules),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    if settings.is_embedded_broker:
        app.conf.broker_transport = f"{__name__}:{FileBrokerTransport.__name__}"
        app.conf.broker_transport_options = file_broker_options(settings)
    app.conf.bidhall_settings = settings
    app.set_current()
    app.set_default()
    with _state_lock:
        _state["app"] = app
        _state["settings"] = settings
    return app


def periodic_schedule(task_modules: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each domain's periodic jobs, declared in its ``tasks.py`` as ``PERIODIC_TASKS``
    (task name -> seconds); `bidhall worker --beat` runs them."""
    schedule: dict[str, dict[str, Any]] = {}
    for module_name in task_modules:
        module = importlib.import_module(module_name)
        for task_name, seconds in getattr(module, "PERIODIC_TASKS", {}).items():
            schedule[task_name] = {"task": task_name, "schedule": float(seconds)}
    return schedule


def current_celery_app() -> Celery:
    app = _state.get("app")
    if app is None:
        raise RuntimeError("the Celery app is made at start-up by create_celery_app()")
    return app  # type: ignore[no-any-return]


def enqueue_after_commit(session: AsyncSession, task_name: str, *args: int | str) -> None:
    """Send ``task_name(*args)`` once the session's transaction has committed.

    Arguments are ids, never rows: the task reads the committed state itself. Nothing is
    sent when the transaction rolls back. A send that fails after the commit is logged, not
    raised: the change is stored by then, and an error would invite the caller to repeat it.
    """
    for argument in args:
        if isinstance(argument, bool) or not isinstance(argument, int | str):
            raise TypeError(f"task arguments are ids (int or str), not {type(argument).__name__}")

    async def send() -> None:
        try:
            app = current_celery_app()
            await asyncio.to_thread(app.send_task, task_name, args=list(args))
        except Exception:
            logger.exception("task %s%r was not sent after its transaction committed", task_name, args)

    after_commit(session, send)


# --- the embedded broker: a directory -----------------------------------------------------


def file_broker_options(settings: Settings) -> dict[str, Any]:
    """Transport options keeping every file of the embedded broker under DATA_DIR/broker."""
    folders = {
        "data_folder_in": settings.broker_dir / "queue",
        "processed_folder": settings.broker_dir / "claimed",
        "control_folder": settings.broker_dir / "control",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {name: str(folder) for name, folder in folders.items()}
    options["data_folder_out"] = options["data_folder_in"]
    return options


class FileBrokerChannel(filesystem.Channel):
    """kombu's filesystem channel, made safe for several processes on one machine.

    A message is written under a hidden name and renamed into the queue folder, so no
    consumer reads a half-written file. A consumer claims a message by renaming it into the
    broker's ``claimed`` folder (same file system, so exactly one consumer's rename wins) and
    deletes it once read. The stock channel writes in place and claims by moving into the
    system temp folder, which may be a copy. As with every virtual transport, a message a
    worker holds unacknowledged goes back to the queue when the worker stops, but is lost if
    the worker is killed outright.
    """

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        folder = Path(self.data_folder_out)
        # Names sort in sending order; the part before the first dot holds no dot, because
        # the queue is read back as everything after it.
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        hidden = folder / f".{name}.part"
        try:
            hidden.write_bytes(str_to_bytes(dumps(payload)))
            os.replace(hidden, folder / name)
        except OSError as error:
            hidden.unlink(missing_ok=True)
            raise ChannelError(f"cannot add {name} to {folder}") from error

    def _get(self, queue: str) -> Any:
        inbox = Path(self.data_folder_in)
        claimed_folder = Path(self.processed_folder)
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(inbox)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = claimed_folder / name
            try:
                os.rename(inbox / name, claimed)
            except OSError:
                continue  # another consumer took it first
            try:
                payload = claimed.read_bytes()
            except OSError as error:
                raise ChannelError(f"cannot read the claimed message {claimed}") from error
            finally:
                claimed.unlink(missing_ok=True)
            return loads(bytes_to_str(payload))
        raise Empty()


class FileBrokerTransport(filesystem.Transport):
    """The embedded broker's transport (``filesystem://`` with :class:`FileBrokerChannel`)."""

    Channel = FileBrokerChannel


def broker_reachable(settings: Settings) -> None:
    """Raise unless the broker accepts a connection (the readiness check)."""
    if settings.is_embedded_broker:
        queue = Path(file_broker_options(settings)["data_folder_in"])
        if not os.access(queue, os.W_OK | os.X_OK):
            raise RuntimeError(f"the broker folder {queue} is not writable")
        return
    from kombu import Connection

    with Connection(settings.resolved_broker_url, connect_timeout=3) as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


# --- running async use cases inside a (synchronous) Celery worker -------------------------


def worker_settings() -> Settings:
    """The settings of this process: those given to :func:`create_celery_app`, else the environment."""
    with _state_lock:
        if "settings" not in _state:
            _state["settings"] = load_settings()
        return _state["settings"]  # type: ignore[no-any-return]


class _WorkerLoop:
    """An event loop running in a daemon thread, and the process's :class:`Database` on it.

    asyncpg connections belong to the loop that made them, so the loop and the engine live
    as long as the process. Running the loop in its own thread serves every pool alike:
    solo and prefork call in from their one thread, the threads pool from several at once,
    and a test may call a task directly from inside its own running loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.pid = os.getpid()
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bidhall-worker-loop", daemon=True)
        self.thread.start()
        self.database = Database(settings.resolved_database_url)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            # E.g. a time limit interrupting the wait: stop the work too.
            future.cancel()
            raise

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.database.dispose(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if not self.thread.is_alive():
                self.loop.close()


def _worker_loop() -> _WorkerLoop:
    settings = worker_settings()
    stale = None
    with _state_lock:
        current: _WorkerLoop | None = _state.get("worker_loop")
        if current is not None and current.pid != os.getpid():
            current = None  # inherited through fork: its thread did not come along
        elif current is not None and current.settings is not settings:
            stale, current = current, None  # create_celery_app() was called again (tests)
        if current is None:
            current = _WorkerLoop(settings)
            _state["worker_loop"] = current
    if stale is not None:
        stale.close()
    return current


def run_in_worker(make_coroutine: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run ``make_coroutine(database)`` on this worker process's event loop and return its result."""
    worker_loop = _worker_loop()
    return worker_loop.run(make_coroutine(worker_loop.database))


@worker_shutdown.connect(dispatch_uid="bidhall.close_worker_loop")
@worker_process_shutdown.connect(dispatch_uid="bidhall.close_worker_loop.process")
def close_worker_loop(**_: object) -> None:
    """Close this process's database connections and stop its loop (the worker is stopping)."""
    with _state_lock:
        current: _WorkerLoop | None = _state.pop("worker_loop", None)
    if current is None or current.pid != os.getpid():
        return
    try:
        current.close()
    except Exception:
        logger.exception("the worker's database did not close cleanly")

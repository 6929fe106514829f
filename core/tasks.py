"""The Celery application and the only sanctioned way to send a task.

Tasks take ids, have dotted names (``supervision.sign_tree_head``) and are declared in each
domain's ``tasks.py`` with :func:`celery.shared_task`. They are sent with
:func:`enqueue_after_commit`, so a task runs only when the transaction it belongs to has
committed. The broker is Redis or RabbitMQ in production, and in the embedded default a
directory under the data directory, so a first run needs no server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy.ext.asyncio import AsyncSession

from core.database import Database, after_commit
from core.settings import Settings, load_settings

T = TypeVar("T")

# Task modules of every domain; the worker imports them so their tasks are registered.
TASK_MODULES = ["supervision.tasks"]

_state: dict[str, Any] = {}
_state_lock = threading.Lock()


def create_celery_app(settings: Settings, task_modules: Sequence[str] = TASK_MODULES) -> Celery:
    """Build the Celery app for these settings and make it the current one."""
    app = Celery("bidhall", broker=settings.resolved_broker_url, include=list(task_modules))
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
    )
    if settings.is_embedded_broker:
        app.conf.broker_transport_options = _file_broker_options(settings)
    app.conf.bidhall_settings = settings
    app.set_current()
    app.set_default()
    with _state_lock:
        _state["app"] = app
        _state["settings"] = settings
    return app


def _file_broker_options(settings: Settings) -> dict[str, str]:
    queue = settings.broker_dir / "queue"
    processed = settings.broker_dir / "processed"
    for folder in (queue, processed):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": "false",
    }


def current_celery_app() -> Celery:
    app = _state.get("app")
    if app is None:
        raise RuntimeError("the Celery app is made at start-up by create_celery_app()")
    return app  # type: ignore[no-any-return]


def enqueue_after_commit(session: AsyncSession, task_name: str, *args: int | str) -> None:
    """Send ``task_name(*args)`` once the session's transaction has committed."""

    async def send() -> None:
        app = current_celery_app()
        await asyncio.to_thread(app.send_task, task_name, args=list(args))

    after_commit(session, send)


# --- running async use cases inside a (synchronous) Celery worker -------------------------


def worker_settings() -> Settings:
    """The settings of this worker process, read once when the first task needs them."""
    with _state_lock:
        if "settings" not in _state:
            _state["settings"] = load_settings()
        return _state["settings"]  # type: ignore[no-any-return]


def run_in_worker(make_coroutine: Any) -> Any:
    """Run ``make_coroutine(database)`` on this worker process's own event loop.

    One loop and one engine per worker process: asyncpg connections belong to the loop that
    made them, so both must live as long as the process.
    """
    with _state_lock:
        loop = _state.get("loop")
        if loop is None:
            loop = asyncio.new_event_loop()
            _state["loop"] = loop
    database = _state.get("database")
    if database is None:
        database = Database(worker_settings().resolved_database_url)
        _state["database"] = database
    coroutine: Coroutine[Any, Any, Any] = make_coroutine(database)
    return loop.run_until_complete(coroutine)


def broker_reachable(settings: Settings) -> None:
    """Raise unless the broker accepts a connection (the readiness check)."""
    if settings.is_embedded_broker:
        folder = settings.broker_dir / "queue"
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise RuntimeError(f"broker folder {folder} is missing")
        return
    from kombu import Connection

    with Connection(settings.resolved_broker_url, connect_timeout=3) as connection:
        connection.ensure_connection(max_retries=1, timeout=3)

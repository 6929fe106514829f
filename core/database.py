"""Database engines and sessions: one session per request, websocket message or task.

Services never commit; the boundary that opened the session does (see
:meth:`Database.transaction`). Works on SQLite (aiosqlite, the embedded default) and on
PostgreSQL (asyncpg).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from core.clock import ensure_utc

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite returns naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use core.clock.utcnow()")
        return ensure_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else ensure_utc(value)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside the writer.
    # The driver's own transaction handling is switched off so that _begin_immediate
    # decides how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "bidhall_read_only"
"""Execution option of the connections of :meth:`Database.reader` sessions."""


def _begin_immediate(connection: Any) -> None:
    # SQLite allows one writer. A transaction that reads first and writes later can fail
    # with "database is locked" when another writer went in between; taking the write lock
    # at BEGIN makes transactions queue (busy_timeout) instead. The embedded default is
    # for one machine, where this serialisation costs nothing that matters. Readers begin
    # deferred: in WAL mode they never need the write lock, so live followers polling the
    # ledger (or one cancelled mid-read) never hold writers up.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; the SQLite file's directory is created if needed."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **options)


RELAXED_POOL_SIZE = 5  # connections (and as many more under load) for relaxed_driver_connection
T = TypeVar("T")

AFTER_COMMIT_KEY = "bidhall.after_commit"
AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the boundary has committed this session's transaction.

    Tasks are sent and live subscribers woken only after the commit, so a worker never
    looks for a row that is not there yet and a rolled-back change wakes nobody.
    """
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(AFTER_COMMIT_KEY, []):
        await callback()


class ConnectionDropped(Exception):
    """The database server dropped a connection of the relaxed pool (see
    :meth:`Database.retry_dropped`)."""


class Database:
    """An engine and its session factory, made once per process from the settings."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_options)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._relaxed: AsyncEngine | None = None  # see relaxed_driver_connection

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block ends and rolls back on any error.

        This is the boundary: only request handlers, websocket handlers, tasks and
        commands use it; services receive the session and never commit.
        """
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                session.info.pop(AFTER_COMMIT_KEY, None)
                await session.rollback()
                raise
            await run_after_commit(session)

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncSession]:
        """A session for work that is one statement, committed as it runs: on PostgreSQL
        without the BEGIN and COMMIT round trips a transaction costs (hot paths such as an
        upload's progress); elsewhere an ordinary :meth:`transaction`."""
        if not self.is_postgres:
            async with self.transaction() as session:
                yield session
            return
        async with self.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=connection, expire_on_commit=False) as session:
                yield session

    @asynccontextmanager
    async def relaxed_driver_connection(self) -> AsyncIterator[Any]:
        """PostgreSQL's driver connection (asyncpg) itself, each statement committed as it
        runs without waiting for the log flush (``synchronous_commit = off``), from a pool
        of its own that does not ping a connection before use.

        For the one statement of a hot path whose ORM session costs more than the statement
        (an upload's progress, once per chunk), and only for what a caller can rebuild if
        the database server crashes: such a commit is never torn or reordered, only possibly
        lost with the last fraction of a second's others. A connection the server dropped
        raises :class:`ConnectionDropped` (see :meth:`retry_dropped`)."""
        async with self.relaxed_engine().connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            try:
                yield driver
            except Exception as error:
                if not driver.is_closed():
                    raise
                await connection.invalidate()
                raise ConnectionDropped(f"the database dropped the connection: {error}") from error

    def relaxed_engine(self) -> AsyncEngine:
        """The engine behind :meth:`relaxed_driver_connection` (PostgreSQL)."""
        if self._relaxed is None:
            self._relaxed = create_async_engine(
                self.url, isolation_level="AUTOCOMMIT", pool_size=RELAXED_POOL_SIZE, max_overflow=RELAXED_POOL_SIZE,
                connect_args={"server_settings": {"synchronous_commit": "off"}})
        return self._relaxed

    @staticmethod
    async def retry_dropped(statement: Callable[[], Awaitable[T]]) -> T:
        """Run ``statement`` (a whole connection block), once more if the first try met a
        connection the database had dropped (it restarted, say): the relaxed pool does not
        ping before use. Only for a statement that is safe to run twice, e.g. one
        conditional on the state it changes."""
        try:
            return await statement()
        except ConnectionDropped:
            pass
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return await statement()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; anything it changed is discarded.

        Closing (rather than rolling back) keeps what was loaded readable afterwards.
        """
        async with self.sessions() as session:
            try:
                await session.connection(execution_options={READ_ONLY: True})
                yield session
            finally:
                session.expunge_all()
                await session.close()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._relaxed is not None:
            await self._relaxed.dispose()

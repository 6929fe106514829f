"""Test fixtures: real databases (SQLite and PostgreSQL) built by the Alembic migrations.

Every test that takes ``database`` runs once per backend. PostgreSQL is reached at
``BIDHALL_TEST_POSTGRES_URL`` (default: the local server); each test session makes its own
database there and drops it at the end. When PostgreSQL cannot be reached its tests are
skipped, unless ``BIDHALL_TEST_REQUIRE_POSTGRES=1`` (CI), which turns any such skip into a
failed run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.database import Database
from core.settings import Settings, load_settings
from migrations import runner
from migrations.metadata import metadata
from web import cli
from web.runtime import Runtime

POSTGRES_ADMIN_URL = os.environ.get(
    "BIDHALL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("BIDHALL_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SINGLE_ROW_RESETS = {"ledger_counter": "size", "ledger_tree_state": "built_size"}

_skipped_postgres: list[str] = []
_passed_postgres: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" not in report.keywords:
        return
    if report.skipped:
        _skipped_postgres.append(report.nodeid)
    elif report.when == "call" and report.passed:
        _passed_postgres.append(report.nodeid)


def _postgres_requirement_broken() -> str | None:
    if not REQUIRE_POSTGRES:
        return None
    if _skipped_postgres:
        return f"{len(_skipped_postgres)} PostgreSQL tests were skipped but PostgreSQL is required"
    if not _passed_postgres:
        return "no PostgreSQL test ran but PostgreSQL is required"
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _postgres_requirement_broken():
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: object) -> None:
    problem = _postgres_requirement_broken()
    if problem:
        terminalreporter.write_line(f"FAILED: {problem}")  # type: ignore[attr-defined]


# --- PostgreSQL database for the session --------------------------------------------------


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_ADMIN_URL)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database,
        timeout=5,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    name = f"bidhall_test_{uuid.uuid4().hex[:12]}"
    try:
        await _postgres_admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncio.TimeoutError) as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {error}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(runner.upgrade, url)
    yield url
    await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "bidhall.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(runner.upgrade, url)
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
async def shared_database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def empty_all_tables(database: Database) -> None:
    """Back to the freshly migrated state (the single-row tables at zero)."""
    tables = [table for table in reversed(metadata().sorted_tables) if table.name not in SINGLE_ROW_RESETS]
    async with database.transaction() as session:
        if database.is_postgres:
            names = ", ".join(f'"{table.name}"' for table in tables)
            await session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await session.execute(table.delete())
        for table_name, column in SINGLE_ROW_RESETS.items():
            await session.execute(sa.text(f"UPDATE {table_name} SET {column} = 0"))


@pytest.fixture
async def database(shared_database: Database) -> AsyncIterator[Database]:
    """A migrated, empty database; every test that takes it runs on SQLite and PostgreSQL."""
    await empty_all_tables(shared_database)
    yield shared_database


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    """The PostgreSQL database alone, for what only PostgreSQL can show (several processes)."""
    database = Database(postgres_url)
    await empty_all_tables(database)
    yield database
    await database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "var", database_url=database_url)


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> Runtime:
    return Runtime(settings=settings, database=database)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    from web.app import create_app

    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def bidhall(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``bidhall ARGS`` in this process (the console script is exercised by
    test_the_console_script below); returns what a subprocess would."""
    monkeypatch.setenv("BIDHALL_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BIDHALL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BIDHALL_DEMO_POOL_SIZE", "12")  # the demo's 3,000 experts take a while
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            # The command runs its own event loop, so it gets a thread of its own.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                code = pool.submit(cli.main, list(args)).result(timeout=120)
        return subprocess.CompletedProcess(list(args), code, stdout.getvalue(), stderr.getvalue())

    return run


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Cheap argon2 parameters for the suite's many throwaway users; the production
    parameters have their own test in tests/identities/test_passwords.py."""
    from argon2 import PasswordHasher

    from identities import passwords

    production = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._HASHER = production


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Tests build their settings explicitly; a developer's BIDHALL_* must not leak in.
    for name in list(os.environ):
        if name.startswith("BIDHALL_") and not name.startswith("BIDHALL_TEST_"):
            monkeypatch.delenv(name)
    yield

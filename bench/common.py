"""What every benchmark shares: the JSON line format, targets, timing and a scratch database.

Each figure is printed as one JSON object on its own line (stdout), with at least::

    {"bench", "figure", "value", "unit", "baseline", "ratio", "target", "met"}

- ``value`` is what was measured, ``baseline`` what it is compared with, measured in the
  same run on the same machine (same unit unless ``baseline_unit`` says otherwise);
- ``ratio`` is always ``value / baseline``. For a rate (per second) higher is better; for
  a duration it says how many baselines the measured thing costs;
- ``target`` is ``{"of": "ratio" | "value", "op": ">=" | "<=" | ">" | "<", "threshold": x}``
  or ``null`` for a figure reported for information only; ``met`` says whether it holds.

Extra fields (``note``, ``detail``...) may follow. Progress goes to stderr, so stdout holds
nothing but the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "BIDHALL_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)

_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True)
class Target:
    """A goal on the figure's ``ratio`` or on its ``value``."""

    of: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.of not in ("ratio", "value") or self.op not in _OPS:
            raise ValueError(f"bad target {self!r}")

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = ratio if self.of == "ratio" else value
        return None if subject is None else bool(_OPS[self.op](subject, self.threshold))

    def as_json(self) -> dict[str, Any]:
        return {"of": self.of, "op": self.op, "threshold": self.threshold}


def ratio(value: float, baseline: float | None) -> float | None:
    if baseline is None or baseline == 0:
        return None
    return value / baseline


def _rounded(number: float | None) -> float | None:
    if number is None:
        return None
    if number == 0 or abs(number) >= 100:
        return round(number, 1)
    return float(f"{number:.4g}")


def figure(
    bench: str,
    name: str,
    *,
    value: float,
    unit: str,
    baseline: float | None,
    target: Target | None,
    **extra: Any,
) -> dict[str, Any]:
    """One figure as its JSON object (see the module docstring)."""
    figure_ratio = ratio(value, baseline)
    record: dict[str, Any] = {
        "bench": bench,
        "figure": name,
        "value": _rounded(value),
        "unit": unit,
        "baseline": _rounded(baseline),
        "ratio": _rounded(figure_ratio),
        "target": target.as_json() if target else None,
        "met": target.met(value, figure_ratio) if target else None,
    }
    record.update(extra)
    return record


def emit(record: dict[str, Any]) -> None:
    """Print one figure as a JSON line, at once."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


_START = time.perf_counter()


def progress(message: str) -> None:
    """A timestamped line on stderr, for whoever watches the run."""
    sys.stderr.write(f"[{time.perf_counter() - _START:7.1f}s] {message}\n")
    sys.stderr.flush()


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class StatementCounter:
    """Counts the SQL statements an engine sends (not BEGIN/COMMIT), while attached."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        self._event = event
        self._engine = engine.sync_engine if hasattr(engine, "sync_engine") else engine

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        self._event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._event.remove(self._engine, "before_cursor_execute", self._seen)


# --- a scratch PostgreSQL database -------------------------------------------------------


async def _admin(admin_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(admin_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database, timeout=10,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def temporary_postgres(admin_url: str = POSTGRES_ADMIN_URL, prefix: str = "bench") -> AsyncIterator[str]:
    """A new database migrated to head; dropped when the block ends, whatever happened.

    The migrations run in a thread: Alembic's env starts its own event loop.
    """
    from migrations import runner

    name = f"bidhall_{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    progress(f"created database {name}")
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(runner.upgrade, url)
        yield url
    finally:
        # Shielded, so an interrupted run still cleans up after itself.
        await asyncio.shield(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        progress(f"dropped database {name}")


async def settle(url: str) -> None:
    """Flush what earlier work left dirty (a CHECKPOINT, then the OS page cache), so its
    write-back does not land in the middle of the next measurement. Best effort."""
    try:
        await _admin(url, "CHECKPOINT")
    except Exception as error:  # noqa: BLE001 - needs superuser or pg_checkpoint; optional
        progress(f"CHECKPOINT skipped: {error}")
    await asyncio.to_thread(os.sync)


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` form of a SQLAlchemy asyncpg URL, for raw asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- servers in their own processes (the live-channel benchmarks) -------------------------

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def server_process(command: list[str], env: dict[str, str], port: int) -> AsyncIterator[tuple[str, int]]:
    """Run ``command`` (a server listening on ``port``) until the block ends; yields its
    ``http://`` base URL and its process id (for CPU figures)."""
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited with {process.returncode}") from None
                await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def app_server(database_url: str, data_dir: Path) -> Any:
    """bidhall itself under uvicorn, as production runs it, on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "web.app:app_from_environment", "--factory", "--port", str(port),
               "--log-level", "warning", "--no-access-log", "--ws", "websockets-sansio"]
    env = {"BIDHALL_DATABASE_URL": database_url, "BIDHALL_DATA_DIR": str(data_dir), "BIDHALL_LOG_LEVEL": "WARNING"}
    return server_process(command, env, port)


def bare_server(module: str) -> Any:
    """A benchmark's baseline server: ``module.serve_bare(port)`` in its own process."""
    port = free_port()
    return server_process([sys.executable, "-c", f"from {module} import serve_bare; serve_bare({port})"], {}, port)

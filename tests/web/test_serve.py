"""The first-run promise: ``bidhall serve`` alone, with nothing but a data directory.

In the embedded default the server uses SQLite and the file broker under the data
directory, and starts its own worker: a task sent to that broker is done with no other
process started by hand, and the worker stops with the server.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import load_settings
from core.tasks import create_celery_app

STARTUP_TIMEOUT = 60.0
TASK_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces; the parent pid follows the state.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    def __init__(self, work: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--port", str(self.port)],
                cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers: list[int] = []

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"bidhall serve exited with {self.process.returncode}:\n{self.output()}")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"/healthz did not answer within {STARTUP_TIMEOUT:.0f} s:\n{self.output()}")

    def embedded_worker(self) -> int:
        """The pid of the worker child ``bidhall serve`` started (remembered for clean-up)."""
        workers = [pid for pid in children_of(self.process.pid) if " worker " in command_line(pid)]
        assert len(workers) == 1, f"expected one embedded worker, found {workers}:\n{self.output()}"
        self.workers.extend(workers)
        return workers[0]

    def stop(self, how: signal.Signals = signal.SIGTERM, timeout: float = 45) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"bidhall serve did not stop within {timeout:.0f} s:\n{self.output()}")
        return self.process.returncode

    def kill_leftovers(self) -> None:
        """Stop a worker that outlived the server, so a failed test leaves no process behind."""
        for pid in self.workers:
            if is_running(pid) and " worker " in command_line(pid):
                os.kill(pid, signal.SIGKILL)


def wait_until_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not is_running(pid)


def run_cli(work: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=work, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"bidhall {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def first_run(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh working directory with only BIDHALL_DATA_DIR set (and a small demo pool)."""
    work = tmp_path / "work"
    work.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("BIDHALL_")}
    env["BIDHALL_DATA_DIR"] = str(work / "var")
    env["BIDHALL_DEMO_POOL_SIZE"] = "12"
    return work, env


@pytest.fixture
def start_server(first_run: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Callable[[], Server]]:
    work, env = first_run
    started: list[Server] = []

    def start() -> Server:
        server = Server(work, tmp_path / "serve.log", env)
        started.append(server)
        server.wait_until_up()
        return server

    yield start
    for server in started:
        server.stop()
        server.kill_leftovers()
        print(f"--- bidhall serve log ---\n{server.output()}")  # shown when the test fails


def ledger_counts(database: Path) -> tuple[int, list[int]]:
    with sqlite3.connect(database, timeout=30) as connection:
        entries = connection.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        heads = [row[0] for row in connection.execute("SELECT tree_size FROM ledger_tree_heads ORDER BY id")]
    connection.close()
    return int(entries), heads


def test_serve_alone_answers_and_its_own_worker_does_the_tasks(
    start_server: Callable[[], Server], first_run: tuple[Path, dict[str, str]]
) -> None:
    work, env = first_run
    run_cli(work, env, "db", "upgrade")
    run_cli(work, env, "seed")
    server = start_server()

    ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    worker = server.embedded_worker()
    assert "--pool solo" in command_line(worker)

    database = work / "var" / "bidhall.db"
    entries, heads = ledger_counts(database)
    assert entries > 0 and heads == []  # the seed wrote the ledger; nobody signed a head yet

    app = create_celery_app(load_settings(data_dir=work / "var"))
    try:
        app.send_task("supervision.sign_tree_head")
    finally:
        app.close()
    deadline = time.monotonic() + TASK_TIMEOUT
    while entries not in heads:
        server.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"the embedded worker signed no head within {TASK_TIMEOUT:.0f} s:\n{server.output()}")
        time.sleep(0.2)
        heads = ledger_counts(database)[1]
    run_cli(work, env, "ledger", "verify")  # the head's signature and the tree check out

    # Ctrl+C, as on a first run in a terminal.
    assert server.stop(signal.SIGINT) in (0, 130), server.output()
    assert wait_until_gone(worker), f"the worker {worker} outlived the server: {command_line(worker)}"
    # Everything the first run made lives in the data directory.
    assert sorted(path.name for path in work.iterdir()) == ["var"]


def test_the_worker_stops_when_the_server_is_terminated(start_server: Callable[[], Server]) -> None:
    # SIGTERM is how systemd, Docker and supervisors stop a service.
    server = start_server()
    worker = server.embedded_worker()
    server.stop(signal.SIGTERM)
    assert wait_until_gone(worker, timeout=3), f"the worker {worker} outlived the server: {command_line(worker)}"

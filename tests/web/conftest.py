"""Fixtures for the web and command-line tests."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import subprocess
from pathlib import Path

import pytest

from core.database import Database
from web import cli


@pytest.fixture
def bidhall(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``bidhall ARGS`` in this process (the console script is exercised by
    test_the_console_script below); returns what a subprocess would."""
    monkeypatch.setenv("BIDHALL_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BIDHALL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            # The command runs its own event loop, so it gets a thread of its own.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                code = pool.submit(cli.main, list(args)).result(timeout=120)
        return subprocess.CompletedProcess(list(args), code, stdout.getvalue(), stderr.getvalue())

    return run

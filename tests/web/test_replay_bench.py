"""``python -m bench supervision --only replay --quick`` runs end to end and prints its
figures (a smoke run: the figures' values are the benchmark's business, not the test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_the_quick_replay_run_prints_its_figures(postgres_url: str) -> None:
    environment = {**os.environ, "BIDHALL_BENCH_POSTGRES_URL": os.environ.get(
        "BIDHALL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")}
    done = subprocess.run([sys.executable, "-m", "bench", "supervision", "--only", "replay", "--quick"], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [record["figure"] for record in records] == ["replay_2000_entries", "replay_2000_entries_vs_raw_rows"]
    assert records[0]["target"] == {"of": "ratio", "op": ">=", "threshold": 0.3}
    assert all(record["value"] and record["baseline"] for record in records)
    assert records[0]["detail"]["entries"] == 2000

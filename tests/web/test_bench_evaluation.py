"""``python -m bench evaluation --quick`` runs end to end and prints its figures (a smoke
run: the figures' values are the benchmark's business, not the test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIGURES = {"score_latency_p50", "score_latency_p99", "fanout_messages_per_second", "fanout_reads_per_score",
           "fanout_ceiling_messages_per_second", "replay_10k_events"}


@pytest.mark.postgres
def test_the_quick_run_prints_every_figure(postgres_url: str) -> None:
    environment = {**os.environ, "BIDHALL_BENCH_POSTGRES_URL": os.environ.get(
        "BIDHALL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")}
    done = subprocess.run([sys.executable, "-m", "bench", "evaluation", "--quick"], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert {record["figure"] for record in records} == FIGURES
    for record in records:
        assert record["bench"] == "evaluation" and record["value"] is not None, record
    assert "detailed_scoring" in next(r for r in records if r["figure"] == "score_latency_p99")["detail"]["seeded"]

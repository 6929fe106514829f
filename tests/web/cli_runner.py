"""Reading what a ``bidhall`` command printed (the command runs through the ``bidhall`` fixture)."""

from __future__ import annotations

import json
import subprocess


def output(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)

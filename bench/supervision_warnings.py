"""Part of ``python -m bench supervision``: warning rules over a day of 1,000 projects."""

from __future__ import annotations

import argparse
from typing import Any


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The figures of this part, one JSON-ready dict each (none yet)."""
    return []

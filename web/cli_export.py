"""``bidhall export ocds ...`` and the national data reporting."""

from __future__ import annotations

from typing import Any


def add_parsers(commands: Any) -> None:
    """Add this module's commands to ``bidhall`` (none yet); each sets its ``handler``."""


"""``bidhall warnings ...``: run the rules, list warnings."""

from __future__ import annotations

from typing import Any


def add_parsers(commands: Any) -> None:
    """Add this module's commands to ``bidhall`` (none yet); each sets its ``handler``."""


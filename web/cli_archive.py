"""Commands of this trading concern."""

from __future__ import annotations

import argparse


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this concern's subcommands to ``bidhall``."""

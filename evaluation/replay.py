"""Replay of the session streams ``evaluation:<session_id>`` (filled in by the session work)."""

from __future__ import annotations

from supervision.replay import StreamRegistry


def register(registry: StreamRegistry) -> None:
    """Register the evaluation stream kind (none yet)."""

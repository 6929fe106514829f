"""Events and replay of this trading concern."""

from __future__ import annotations

from supervision.replay import StreamRegistry


def register(registry: StreamRegistry) -> None:
    """Register this concern's stream kinds with the replay registry."""

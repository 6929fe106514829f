"""The region and segment of the trading streams, for regulators (``supervision.scopes``)."""

from __future__ import annotations


def install() -> None:
    """Register the resolvers of the trading stream kinds."""

"""The region and segment of the evaluation streams, for regulators (``supervision.scopes``)."""

from __future__ import annotations


def install() -> None:
    """Register the resolvers of the evaluation stream kinds."""

"""Early-warning rules over the trading data (registered with ``supervision.warnings`` on import)."""

from __future__ import annotations

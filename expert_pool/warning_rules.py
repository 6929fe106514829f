"""Early-warning rules over the expert pool data (registered with ``supervision.warnings`` on import)."""

from __future__ import annotations

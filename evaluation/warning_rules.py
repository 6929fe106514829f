"""Early-warning rules over the evaluation data (registered with ``supervision.warnings`` on import)."""

from __future__ import annotations

"""Published signed tree heads (filled in by the integrity work)."""

from __future__ import annotations

"""Tables of early warnings (filled in by the warnings work)."""

from __future__ import annotations

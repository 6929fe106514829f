"""Tables of complaints and monitoring cases (filled in by the complaints work)."""

from __future__ import annotations

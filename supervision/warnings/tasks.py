"""The warnings' periodic jobs (filled in by the warnings work)."""

from __future__ import annotations

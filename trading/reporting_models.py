"""Tables of data reporting batches (filled in by the reporting work)."""

from __future__ import annotations

"""Tables of this trading concern (see the package's other model modules)."""

from __future__ import annotations

"""HTTP endpoints of this trading concern."""

from __future__ import annotations

from web.api import Api

api = Api()
UPLOAD_PREFIXES: tuple[str, ...] = ()  # paths that stream large bodies with limits of their own

"""Open Contracting (OCDS 1.1.5) releases and records, and the national data reporting."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from web.api import Api

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []

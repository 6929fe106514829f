"""Replay and timelines of any stream, published tree heads."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from web.api import Api

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []

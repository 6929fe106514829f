"""HTTP endpoints and the live channel of price competitions (listing, auction, online bidding)."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from web.api import Api

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []

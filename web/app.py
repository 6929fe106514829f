"""The Starlette application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from core.settings import Settings, load_settings
from core.tasks import create_celery_app
from supervision import live
from trading import upload_lines
from web import (
    routes_award,
    routes_bids,
    routes_ca,
    routes_certificate_login,
    routes_complaints,
    routes_evaluation,
    routes_experts,
    routes_health,
    routes_identities,
    routes_ledger,
    routes_monitor,
    routes_notify,
    routes_ocds,
    routes_opening,
    routes_price_bidding,
    routes_replay,
    routes_trading,
    routes_warnings,
)
from web.api import Api
from web.middleware import AccessLogMiddleware, RequestSizeLimitMiddleware
from web.openapi import build_openapi
from web.problems import EXCEPTION_HANDLERS
from web.runtime import Runtime

VERSION = "0.1.0"
TRADING_ROUTES = (routes_trading, routes_bids, routes_opening, routes_award, routes_price_bidding)
EVALUATION_ROUTES = (routes_evaluation,)
SUPERVISION_ROUTES = (routes_monitor, routes_replay, routes_warnings, routes_complaints, routes_ocds)
LIVE_ROUTES = (*TRADING_ROUTES, *EVALUATION_ROUTES, *SUPERVISION_ROUTES)
UPLOAD_PATHS = ("/experts/import", *(pattern for module in LIVE_ROUTES for pattern in module.UPLOAD_PATHS))


def all_operations() -> Api:
    combined = Api()
    for module in (routes_health, routes_identities, routes_certificate_login, routes_ledger, routes_ca,
                   routes_experts, routes_notify, *LIVE_ROUTES):
        combined.operations.extend(module.api.operations)
    return combined


def websocket_routes() -> list[WebSocketRoute]:
    """The live channels (openings, later evaluation sessions and the regulators' feed)."""
    return [route for module in LIVE_ROUTES for route in getattr(module, "WEBSOCKET_ROUTES", [])]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    """Build the app; settings are read now (not at import) unless given."""
    settings = settings or (runtime.settings if runtime else load_settings())
    runtime = runtime or Runtime.from_settings(settings)
    configure_logging(settings.log_level)
    create_celery_app(settings)
    api = all_operations()
    document = build_openapi(api, title="bidhall", version=VERSION)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await upload_lines.quiet()  # answered chunks still being recorded and written
        await live.stop_listening()
        await runtime.close()

    app = Starlette(
        routes=[*api.routes(), *websocket_routes(), Route("/openapi.json", openapi, methods=["GET"])],
        middleware=[
            Middleware(AccessLogMiddleware),
            # Uploads (expert imports, bids, documents) stream with limits of their own.
            Middleware(RequestSizeLimitMiddleware, max_bytes=settings.max_request_bytes,
                       exempt_paths=UPLOAD_PATHS),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.api = api
    return app


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(message)s")
    logging.getLogger("bidhall").setLevel(level)


def app_from_environment() -> Starlette:
    """Entry point for ``uvicorn --factory web.app:app_from_environment``."""
    app = create_app()
    # What start-up built lives as long as the process: moved out of the collector's
    # generations, it no longer lengthens the collection pauses that make the tail of
    # the live channels' latency.
    gc.collect()
    gc.freeze()
    # A young collection every 20,000 net new objects rather than 700: a thousand open
    # connections keep enough alive that the default promotes work into full collections
    # (a third of a second each with 1,000 live-channel connections) every half minute.
    gc.set_threshold(20_000, 20, 10)
    return app

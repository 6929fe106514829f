"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.tasks import broker_reachable
from web.api import Api

api = Api()


@api.operation("GET", "/healthz", "Liveness: the process answers", authenticated=False, tag="operations")
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@api.operation("GET", "/readyz", "Readiness: the database and the task broker answer", authenticated=False,
               tag="operations", errors=(503,))
async def readyz(request: Request) -> Response:
    """503 with the failing check named when the database or the broker does not answer."""
    runtime = request.app.state.runtime
    checks = {"database": await _check(runtime.database.ping()), "broker": await _check(
        asyncio.to_thread(broker_reachable, runtime.settings))}
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


async def _check(awaitable: object) -> str:
    try:
        await asyncio.wait_for(awaitable, timeout=5)  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", named below
        return f"failed: {type(error).__name__}: {error}"[:300]
    return "ok"

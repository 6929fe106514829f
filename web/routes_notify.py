"""Provider callbacks: delivery reports, keypresses and SMS replies of drawn experts.

Providers authenticate with the shared secret of the deployment (see
``expert_pool/notify/README.md``); a rejected callback gets 403 and changes nothing, a
repeated one changes nothing either (an answer is recorded once).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.errors import NotFound
from core.tasks import enqueue_after_commit
from expert_pool import notifications
from expert_pool.notify.base import CallbackRejected
from web.api import Api
from web.auth import client_address
from web.problems import problem

api = Api()


@api.operation("POST", "/notify/callbacks/{provider}", "Callbacks of the SMS and voice provider "
               "(the deployment's secret as ?token=)", authenticated=False, tag="experts", errors=(403, 404))
async def provider_callback(request: Request) -> Response:
    return await _callback(request)


@api.operation("POST", "/notify/callbacks/{provider}/{token}", "Callbacks of the SMS and voice provider "
               "(the deployment's secret as the last path segment)", authenticated=False, tag="experts",
               errors=(403, 404))
async def provider_callback_with_path_token(request: Request) -> Response:
    return await _callback(request)


async def _callback(request: Request) -> Response:
    runtime = request.app.state.runtime
    provider = runtime.notification_provider
    if request.path_params["provider"] != provider.name:
        raise NotFound(f"no callbacks are expected from {request.path_params['provider']!r}")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        events = provider.parse_callback(dict(request.headers), body, path=path, remote_addr=client_address(request))
    except CallbackRejected as error:
        return problem(403, "Callback refused", str(error))
    async with runtime.database.transaction() as session:
        for draw_id in sorted(set(await notifications.apply_events(session, events))):
            enqueue_after_commit(session, "expert_pool.notify_next", draw_id)
    status, headers, reply = provider.callback_ack(events)
    return Response(reply, status_code=status, headers=headers)

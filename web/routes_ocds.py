"""Open Contracting (OCDS 1.1.5) releases and records: the public open-data API.

``GET /ocds/releases?page=&since=`` pages every public release (oldest first) as a release
package; ``GET /ocds/records/{ocid}`` is one process's record package (its releases and the
compiled release). No sign-in: everything here was published already by notices, opening
records and award notices. Paging follows the ``links`` of the package (``next``, ``prev``,
as OCDS 1.2 spells them; 1.1.5 lets a package carry them) and the ``Link`` header. A first
page with nothing in it (nothing published yet, or nothing since ``since``) is a package with
no release, which the schema's one-release minimum makes invalid: a harvester checks
``X-Total-Count`` first; any later page past the end is a 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from trading.ocds_publish import PAGE_SIZE, record_package_of, releases_page
from trading.ocds_record import to_json
from web.api import Api, QueryParam, query_int
from web.trading_http import query_time

api = Api()
UPLOAD_PATHS: tuple[str, ...] = ()
WEBSOCKET_ROUTES: list[WebSocketRoute] = []
TAG = "open data"
MEDIA_TYPE = "application/json"


def _page_url(request: Request, page: int) -> str:
    query = {key: value for key, value in request.query_params.items() if key != "page"}
    query["page"] = str(page)
    return f"{str(request.url).split('?')[0]}?{urlencode(query)}"


@api.operation("GET", "/ocds/releases", f"Every public OCDS release, {PAGE_SIZE} a page (release package)",
               authenticated=False, tag=TAG, errors=(404, 422), query=(
                   QueryParam("page", {"type": "integer", "minimum": 1}, "Page number, from 1."),
                   QueryParam("since", {"type": "string", "format": "date-time"}, "Releases dated at or after.")))
async def list_releases(request: Request) -> Response:
    page = query_int(request, "page", 1, minimum=1, maximum=10**9)
    since = query_time(request, "since")
    async with request.app.state.runtime.database.reader() as session:
        found = await releases_page(session, page=page, since=since, uri=str(request.url))
    links = {}
    if found.page < found.pages:
        links["next"] = _page_url(request, found.page + 1)
    if found.page > 1:
        links["prev"] = _page_url(request, found.page - 1)
    body = {**found.package, "links": links} if links else found.package
    headers = {"X-Total-Count": str(found.total), "X-Page-Count": str(found.pages)}
    if links:
        headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return Response(to_json(body), media_type=MEDIA_TYPE, headers=headers)


@api.operation("GET", "/ocds/records/{ocid}", "The OCDS record of one contracting process (record package)",
               authenticated=False, tag=TAG, errors=(404,))
async def read_record(request: Request) -> Response:
    ocid = str(request.path_params["ocid"])[:200]
    async with request.app.state.runtime.database.reader() as session:
        package = await record_package_of(session, ocid, str(request.url))
    return Response(to_json(package), media_type=MEDIA_TYPE)

"""The public notices feed: JSON pages and an Atom 1.0 feed (RFC 4287), no sign-in.

Both take the same filters: segment, kind, region (code prefix), project, published
since/until (RFC 3339) and ``q`` (part of the title).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.requests import Request
from starlette.responses import Response

from core.clock import rfc3339, utcnow
from trading.models import Notice
from trading.notice_schemas import NoticeOut, NoticePage
from trading.notices import NoticeFilter, get_notice, search_notices
from trading.states import NoticeKind, Segment
from web.api import QueryParam, json_response, path_int, query_int
from web.trading_http import api, query_enum, query_id, query_text, query_time

ATOM = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
FEED_ID = "urn:bidhall:notices"
TAG = "notices"
FILTERS = (
    QueryParam("segment", {"type": "string", "enum": [s.value for s in Segment]}),
    QueryParam("kind", {"type": "string", "enum": [k.value for k in NoticeKind]}),
    QueryParam("region", {"type": "string", "pattern": r"^\d{2,6}$"}, "Region code or its prefix (35: Fujian)."),
    QueryParam("project", {"type": "integer", "minimum": 1}),
    QueryParam("since", {"type": "string", "format": "date-time"}, "Published at or after."),
    QueryParam("until", {"type": "string", "format": "date-time"}, "Published before."),
    QueryParam("q", {"type": "string", "maxLength": 100}, "Part of the title."),
    QueryParam("offset", {"type": "integer", "minimum": 0}),
    QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
)


def _filter(request: Request) -> NoticeFilter:
    segment, kind = query_enum(request, "segment", Segment), query_enum(request, "kind", NoticeKind)
    return NoticeFilter(
        segment=segment.value if segment else None, kind=kind.value if kind else None,
        region=query_text(request, "region", max_length=6, pattern=r"\d{2,6}"),
        project_id=query_id(request, "project"), since=query_time(request, "since"),
        until=query_time(request, "until"), text=query_text(request, "q", max_length=100))


def _page(request: Request) -> tuple[int, int]:
    return (query_int(request, "offset", 0, minimum=0, maximum=10**9),
            query_int(request, "limit", 50, minimum=1, maximum=200))


@api.operation("GET", "/notices", "Notices, newest first (public)", response=NoticePage, authenticated=False,
               tag=TAG, query=FILTERS)
async def list_notices(request: Request) -> Response:
    where, (offset, limit) = _filter(request), _page(request)
    async with request.app.state.runtime.database.reader() as session:
        notices, total = await search_notices(session, where, offset=offset, limit=limit)
        items = [NoticeOut.model_validate(notice) for notice in notices]
    return json_response(NoticePage(items=items, total=total, offset=offset, limit=limit))


@api.operation("GET", "/notices.atom", "Notices as an Atom 1.0 feed (public)", authenticated=False, tag=TAG,
               query=FILTERS)
async def notices_atom(request: Request) -> Response:
    where, (offset, limit) = _filter(request), _page(request)
    async with request.app.state.runtime.database.reader() as session:
        notices, _ = await search_notices(session, where, offset=offset, limit=limit)
    base = str(request.base_url).rstrip("/")
    return Response(atom_feed(notices, base, str(request.url)), media_type=ATOM_MEDIA_TYPE)


@api.operation("GET", "/notices/{notice_id}", "One notice (public)", response=NoticeOut, authenticated=False,
               tag=TAG, errors=(404,))
async def read_notice(request: Request) -> Response:
    notice_id = path_int(request, "notice_id")
    async with request.app.state.runtime.database.reader() as session:
        notice = await get_notice(session, notice_id)
        return json_response(NoticeOut.model_validate(notice))


def atom_feed(notices: list[Notice], base: str, self_url: str) -> bytes:
    """The feed document: its id is stable, ``updated`` is the newest notice's time."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", FEED_ID)
    _text(feed, "title", "bidhall: public-resource trading notices")
    _text(feed, "updated", rfc3339(max((n.published_at for n in notices), default=utcnow())))
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "bidhall trading platform")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url, type="application/atom+xml")
    for notice in notices:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", f"{FEED_ID}:{notice.id}")
        _text(entry, "title", notice.title)
        _text(entry, "updated", rfc3339(notice.published_at))
        _text(entry, "published", rfc3339(notice.published_at))
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/notices/{notice.id}",
                      type="application/json")
        ET.SubElement(entry, f"{{{ATOM}}}category", term=notice.kind)
        ET.SubElement(entry, f"{{{ATOM}}}category", term=notice.segment)
        _text(entry, "summary", _summary(notice.body))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = value
    return element


def _summary(body: str, length: int = 500) -> str:
    return body if len(body) <= length else body[: length - 1] + "…"

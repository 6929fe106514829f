"""HTTP endpoints of projects, lots, publication and the rule tables.

Notices (JSON and Atom), documents, questions and objections are declared in
``routes_trading_notices`` and ``routes_trading_documents`` on the same ``api``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from core.actors import Actor
from supervision.ledger.canonical import to_json_value
from trading import projects, publication, rules
from trading.documents import visible_lot, visible_project
from trading.evaluation_methods import CATALOGUE
from trading.models import Lot, Project
from trading.notice_schemas import ClarificationCreate, NoticeOut, PublishTender
from trading.schemas import (
    CancelLot,
    LotCreate,
    LotEdit,
    LotOut,
    ProjectCreate,
    ProjectOut,
    ProjectPage,
)
from trading.states import PROCEDURES_BY_SEGMENT, ProjectStatus, Segment
from web import routes_trading_documents, routes_trading_notices  # noqa: F401 - they declare on ``api``
from web.api import QueryParam, json_response, parse_body, path_int, query_int
from web.auth import with_actor
from web.trading_http import api, query_enum, query_text, with_optional_actor

UPLOAD_PATHS: tuple[str, ...] = (r"/projects/\d+/documents",)  # streams its body with a limit of its own
TAG = "projects"


def lot_out(lot: Lot) -> LotOut:
    certificate = (lot.opening_key or {}).get("certificate")
    return LotOut.model_validate({**lot.model_dump(), "opening_certificate_pem": certificate})


async def project_out(session: AsyncSession, project: Project) -> ProjectOut:
    lots = await projects.lots_of(session, project.id)  # type: ignore[arg-type]
    return ProjectOut.model_validate({**project.model_dump(), "lots": [lot_out(lot) for lot in lots]})


# --- projects and lots --------------------------------------------------------------------


@api.operation("POST", "/projects", "Create a draft project (tenderer or agency)", request=ProjectCreate,
               response=ProjectOut, status=201, tag=TAG, errors=(403, 422))
async def create_project(request: Request) -> Response:
    data = await parse_body(request, ProjectCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        project = await projects.create_project(session, actor, data)
        return json_response(await project_out(session, project), 201)

    return await with_actor(request, work)


@api.operation("GET", "/projects", "Published projects (public)", response=ProjectPage, authenticated=False,
               tag=TAG, query=(QueryParam("segment", {"type": "string", "enum": [s.value for s in Segment]}),
                               QueryParam("status", {"type": "string", "enum": [s.value for s in ProjectStatus]}),
                               QueryParam("region", {"type": "string", "pattern": r"^\d{2,6}$"}),
                               QueryParam("offset", {"type": "integer", "minimum": 0}),
                               QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 200})))
async def list_projects(request: Request) -> Response:
    segment = query_enum(request, "segment", Segment)
    status = query_enum(request, "status", ProjectStatus)
    region = query_text(request, "region", max_length=6, pattern=r"\d{2,6}")
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**9)
    limit = query_int(request, "limit", 50, minimum=1, maximum=200)

    async def work(session: AsyncSession, actor: Actor | None) -> Response:
        conditions = [Project.status != ProjectStatus.DRAFT]
        if segment:
            conditions.append(Project.segment == segment)
        if status:
            conditions.append(Project.status == status)
        if region:
            conditions.append(Project.region_code.startswith(region, autoescape=True))  # type: ignore[attr-defined]
        total = await session.scalar(sa.select(sa.func.count()).select_from(Project).where(*conditions))
        rows = (await session.scalars(sa.select(Project).where(*conditions).order_by(Project.id.desc())  # type: ignore[union-attr]
                                      .offset(offset).limit(limit))).all()
        items = [await project_out(session, project) for project in rows]
        return json_response(ProjectPage(items=items, total=int(total or 0), offset=offset, limit=limit))

    return await with_optional_actor(request, work)


@api.operation("GET", "/projects/{project_id}", "A project and its lots (public once published)",
               response=ProjectOut, authenticated=False, tag=TAG, errors=(404,))
async def get_project(request: Request) -> Response:
    project_id = path_int(request, "project_id")

    async def work(session: AsyncSession, actor: Actor | None) -> Response:
        return json_response(await project_out(session, await visible_project(session, actor, project_id)))

    return await with_optional_actor(request, work)


@api.operation("GET", "/lots/{lot_id}", "A lot (public once its project is published)",
               response=LotOut, authenticated=False, tag=TAG, errors=(404,))
async def get_lot(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")

    async def work(session: AsyncSession, actor: Actor | None) -> Response:
        return json_response(lot_out(await visible_lot(session, actor, lot_id)))

    return await with_optional_actor(request, work)


@api.operation("POST", "/projects/{project_id}/lots", "Add a lot to a draft project", request=LotCreate,
               response=LotOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def add_lot(request: Request) -> Response:
    project_id = path_int(request, "project_id")
    data = await parse_body(request, LotCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(lot_out(await projects.add_lot(session, actor, project_id, data)), 201)

    return await with_actor(request, work)


@api.operation("PATCH", "/lots/{lot_id}", "Edit a draft lot (only the fields given)", request=LotEdit,
               response=LotOut, tag=TAG, errors=(403, 404, 409, 422))
async def edit_lot(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, LotEdit)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(lot_out(await projects.edit_lot(session, actor, lot_id, data)))

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/cancel", "Cancel a lot before its bid deadline", request=CancelLot,
               response=LotOut, tag=TAG, errors=(403, 404, 409, 422))
async def cancel_lot(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, CancelLot)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        return json_response(lot_out(await projects.cancel_lot(session, actor, lot_id, data.reason)))

    return await with_actor(request, work)


# --- publication ------------------------------------------------------------------------------


@api.operation("POST", "/projects/{project_id}/publish", "Publish the tender notice (timetables checked)",
               request=PublishTender, response=NoticeOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def publish_tender(request: Request) -> Response:
    project_id = path_int(request, "project_id")
    data = await parse_body(request, PublishTender)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        notice = await publication.publish_tender(session, actor, project_id, data)
        return json_response(NoticeOut.model_validate(notice), 201)

    return await with_actor(request, work)


@api.operation("POST", "/lots/{lot_id}/clarifications", "Publish a clarification (moves a too-close deadline)",
               request=ClarificationCreate, response=NoticeOut, status=201, tag=TAG, errors=(403, 404, 409, 422))
async def publish_clarification(request: Request) -> Response:
    lot_id = path_int(request, "lot_id")
    data = await parse_body(request, ClarificationCreate)

    async def work(session: AsyncSession, actor: Actor) -> Response:
        notice = await publication.publish_clarification(session, actor, lot_id, data)
        return json_response(NoticeOut.model_validate(notice), 201)

    return await with_actor(request, work)


# --- the rule tables (public) -----------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return to_json_value(value)


@api.operation("GET", "/rules/time", "The legal time rules per segment and procedure", authenticated=False,
               tag="rules")
async def time_rules(request: Request) -> Response:
    return json_response({"rules": [_plain(rule) for rule in rules.rule_table()],
                          "bid_bond_caps": [_plain(cap) for cap in rules.bid_bond_caps()]})


@api.operation("GET", "/rules/procedures", "The procedures of each segment", authenticated=False, tag="rules")
async def procedures(request: Request) -> Response:
    return json_response({segment.value: [p.value for p in allowed] for segment, allowed in PROCEDURES_BY_SEGMENT.items()})


@api.operation("GET", "/rules/evaluation-methods", "The catalogue of evaluation methods", authenticated=False,
               tag="rules")
async def evaluation_methods(request: Request) -> Response:
    return json_response({"methods": [_plain(method) for method in CATALOGUE.values()]})

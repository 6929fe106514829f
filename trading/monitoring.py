"""Monitoring cases (监督检查): a regulator's own inquiry into a project or one of its lots.

A regulator opens a case on its own initiative: from an early warning (named by its id), a
tip, a media report or a random spot check. It records findings, asks the tenderer (or its
agency) to respond by a date, reads the response and closes the case with a conclusion.
Only regulators covering the project's region and segment act on a case; an attempt from
outside is recorded (``refused_outside_jurisdiction``) so the boundary can commit it before
answering 403. The tenderer's side reads its own cases and answers them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from core.states import check_transition
from core.usecases import use_case
from supervision.scopes import covers
from supervision.warnings.models import EarlyWarning
from trading import complaint_events as events
from trading.complaint_models import CaseFinding, MonitoringCase
from trading.complaint_schemas import (
    CaseConclusion,
    CaseOpen,
    CaseResponse,
    FindingIn,
    ResponseRequest,
)
from trading.events import project_stream
from trading.models import Project
from trading.projects import (
    MANAGERS,
    get_lot_row,
    get_project_row,
    is_manager,
    require_manager,
)
from trading.states import ALLOWED_CASE_TRANSITIONS, CaseSource, CaseStatus

REGULATORS = frozenset({Role.REGULATOR})
READERS = MANAGERS | REGULATORS | {Role.AUDITOR, Role.ADMIN}


@use_case("trading.open_monitoring_case", REGULATORS)
async def open_case(session: AsyncSession, actor: Actor, data: CaseOpen) -> MonitoringCase:
    project = await get_project_row(session, data.project_id)
    _require_covering(actor, project)
    if data.lot_id is not None and (await get_lot_row(session, data.lot_id)).project_id != project.id:
        raise InvalidInput(f"lot {data.lot_id} is not a lot of project {project.code}",
                           [FieldError("$.lot_id", "not a lot of this project")])
    if (data.source == CaseSource.WARNING) != (data.warning_id is not None):
        raise InvalidInput("a case from a warning names the warning (warning_id); other sources name none",
                           [FieldError("$.warning_id", "required with source warning, else absent")])
    if data.warning_id is not None:
        await _check_warning(session, data.warning_id, project)
    case = MonitoringCase(project_id=project.id, lot_id=data.lot_id, source=data.source,  # type: ignore[arg-type]
                          warning_id=data.warning_id, subject=data.subject, status=CaseStatus.OPEN,
                          opened_by=actor.user_id, opened_at=utcnow())  # type: ignore[arg-type]
    session.add(case)
    await session.flush()
    await events.record(session, actor, events.case_stream(case.id), events.CASE_OPENED, row=case)
    return case


async def _check_warning(session: AsyncSession, warning_id: int, project: Project) -> None:
    warning = await session.get(EarlyWarning, warning_id)
    if warning is None:
        raise InvalidInput(f"no warning {warning_id}", [FieldError("$.warning_id", "not a warning")])
    if warning.project_id is not None and warning.project_id != project.id:
        raise InvalidInput(f"warning {warning_id} is about project {warning.project_id}, not {project.code}",
                           [FieldError("$.warning_id", "a warning about another project")])


@use_case("trading.record_case_finding", REGULATORS)
async def record_finding(session: AsyncSession, actor: Actor, case_id: int, data: FindingIn) -> CaseFinding:
    case = await _for_regulator(session, actor, case_id)
    if case.status == CaseStatus.CLOSED:
        raise Conflict(f"case {case_id} is closed ({rfc3339(case.closed_at)}); findings are recorded while it is open")  # type: ignore[arg-type]
    finding = CaseFinding(case_id=case.id, text=data.text, recorded_at=utcnow(), recorded_by=actor.user_id)  # type: ignore[arg-type]
    session.add(finding)
    await session.flush()
    await events.record(session, actor, events.case_stream(case.id), events.CASE_FINDING_RECORDED, child=finding)
    return finding


@use_case("trading.request_case_response", REGULATORS)
async def request_response(session: AsyncSession, actor: Actor, case_id: int, data: ResponseRequest) -> MonitoringCase:
    case = await _for_regulator(session, actor, case_id)
    if data.due <= utcnow():
        raise InvalidInput("the response is due in the future", [FieldError("$.due", "not after now")])
    _move(case, CaseStatus.AWAITING_RESPONSE)
    case.response_request, case.response_due = data.request, data.due
    case.response, case.responded_at, case.responded_by = None, None, None
    return await _recorded(session, actor, case, events.CASE_RESPONSE_REQUESTED)


@use_case("trading.respond_to_case", MANAGERS)
async def respond(session: AsyncSession, actor: Actor, case_id: int, data: CaseResponse) -> MonitoringCase:
    """The tenderer's (or agency's) response to what the regulator asked; late is allowed and shown."""
    case = await _case_row(session, case_id, for_update=True)
    require_manager(actor, await get_project_row(session, case.project_id))
    _move(case, CaseStatus.RESPONDED)
    case.response, case.responded_at, case.responded_by = data.response, utcnow(), actor.user_id
    return await _recorded(session, actor, case, events.CASE_RESPONDED)


@use_case("trading.close_monitoring_case", REGULATORS)
async def close_case(session: AsyncSession, actor: Actor, case_id: int, data: CaseConclusion) -> MonitoringCase:
    case = await _for_regulator(session, actor, case_id)
    _move(case, CaseStatus.CLOSED)
    case.conclusion, case.closed_at, case.closed_by = data.conclusion, utcnow(), actor.user_id
    return await _recorded(session, actor, case, events.CASE_CLOSED)


@use_case("trading.get_monitoring_case", READERS)
async def get_case(session: AsyncSession, actor: Actor, case_id: int) -> tuple[MonitoringCase, list[CaseFinding]]:
    """A case with its findings: for the regulators covering it, auditors, and the project's side."""
    case = await _case_row(session, case_id)
    project = await get_project_row(session, case.project_id)
    if not (is_manager(actor, project) or covers(actor, events.project_scope(project))):
        raise PermissionDenied(f"case {case_id} is read by the regulators of its jurisdiction and the project's "
                               "tenderer or agency")
    rows = await session.scalars(sa.select(CaseFinding).where(CaseFinding.case_id == case.id).order_by(CaseFinding.id))
    return case, list(rows.all())


async def refused_outside_jurisdiction(session: AsyncSession, actor: Actor | None, case_id: int,
                                       action: str) -> str | None:
    """For a regulator outside the case's region or segment: record the attempt and return
    the refusal to answer after the commit. ``None`` for anyone else."""
    case = await _case_row(session, case_id)
    return await _refusal(session, actor, case.project_id, events.case_stream(case.id), action)


async def refused_to_open(session: AsyncSession, actor: Actor | None, project_id: int) -> str | None:
    """As :func:`refused_outside_jurisdiction`, for opening a case about project ``project_id``."""
    return await _refusal(session, actor, project_id, project_stream(project_id), "open case")


async def _refusal(session: AsyncSession, actor: Actor | None, project_id: int, target: str,
                   action: str) -> str | None:
    if actor is None or not actor.has_any(REGULATORS) or actor.has_any({Role.AUDITOR, Role.ADMIN}):
        return None
    project = await get_project_row(session, project_id)
    if covers(actor, events.project_scope(project)):
        return None
    await events.record_refusal(session, actor, events.CASE_ACCESS_REFUSED, target=target, action=action)
    return events.outside_jurisdiction(actor, project)


def _require_covering(actor: Actor, project: Project) -> None:
    if not covers(actor, events.project_scope(project)):
        raise PermissionDenied(events.outside_jurisdiction(actor, project))


def _move(case: MonitoringCase, target: CaseStatus) -> None:
    check_transition(f"case {case.id}", CaseStatus(case.status), target, ALLOWED_CASE_TRANSITIONS)
    case.status = target


async def _recorded(session: AsyncSession, actor: Actor, case: MonitoringCase, event_type: str) -> MonitoringCase:
    session.add(case)
    await session.flush()
    await events.record(session, actor, events.case_stream(case.id), event_type, row=case)
    return case


async def _for_regulator(session: AsyncSession, actor: Actor, case_id: int) -> MonitoringCase:
    case = await _case_row(session, case_id, for_update=True)
    _require_covering(actor, await get_project_row(session, case.project_id))
    return case


async def _case_row(session: AsyncSession, case_id: int, *, for_update: bool = False) -> MonitoringCase:
    query = sa.select(MonitoringCase).where(MonitoringCase.id == case_id)
    case = (await session.scalars(query.with_for_update() if for_update else query)).first()
    if case is None:
        raise NotFound(f"no monitoring case {case_id}")
    return case

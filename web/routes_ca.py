"""HTTP endpoints of the trust list and certificate validation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ca_interop.validation import Usage
from core.schemas import Input, Output
from identities import trust_service
from identities.trust_schemas import StatusChange, TrustedCACreate, TrustedCAOut
from identities.trust_states import CAStatus
from web.api import Api, json_response, parse_body, path_int
from web.auth import current_actor

api = Api()


class CertificateCheck(Input):
    certificate_pem: Annotated[str, StringConstraints(min_length=1, max_length=256 * 1024)] = Field(
        description="The certificate, PEM; intermediates may follow it in the same text.")
    at: datetime | None = Field(default=None, description="Validate at this moment (default: now).")
    usage: Usage = Usage.SIGNING


class ValidationReportOut(Output):
    """ETSI EN 319 102-1 style: indication, subindication and the evidence behind them."""

    indication: str
    subindication: str | None
    detail: str
    checked_at: str
    chain: list[dict[str, Any]]
    identity: dict[str, Any] | None
    ca: str | None
    revocation: dict[str, Any]
    warnings: list[str]


class TrustedCAList(Output):
    items: list[TrustedCAOut]


def runtime(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime


@api.operation("GET", "/ca/trust", "The trust list: recognised CAs", response=TrustedCAList, tag="ca")
async def list_trusted(request: Request) -> Response:
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        cas = await trust_service.list_trusted_cas(session, actor)
        return json_response(TrustedCAList(items=[TrustedCAOut.model_validate(ca) for ca in cas]))


@api.operation("POST", "/ca/trust", "Recognise a CA (admin)", request=TrustedCACreate, response=TrustedCAOut,
               status=201, tag="ca", errors=(409,))
async def add_trusted(request: Request) -> Response:
    data = await parse_body(request, TrustedCACreate)
    async with runtime(request).database.transaction() as session:
        actor = await current_actor(request, session)
        ca = await trust_service.add_trusted_ca(session, actor, data)
    return json_response(TrustedCAOut.model_validate(ca), 201)


def _status_endpoint(target: CAStatus):  # type: ignore[no-untyped-def]
    async def change_status(request: Request) -> Response:
        ca_id = path_int(request, "ca_id")
        data = await parse_body(request, StatusChange)
        async with runtime(request).database.transaction() as session:
            actor = await current_actor(request, session)
            ca = await trust_service.change_trusted_ca_status(session, actor, ca_id, target, data)
        return json_response(TrustedCAOut.model_validate(ca))

    change_status.__name__ = f"ca_{target}"
    return change_status


for _action, _target in (("suspend", CAStatus.SUSPENDED), ("reinstate", CAStatus.ACTIVE),
                         ("retire", CAStatus.RETIRED)):
    api.operation("POST", f"/ca/trust/{{ca_id}}/{_action}", f"{_action.capitalize()} a CA (admin)",
                  request=StatusChange, response=TrustedCAOut, tag="ca", errors=(404, 409))(_status_endpoint(_target))


@api.operation("POST", "/ca/verify", "Validate a certificate against the trust list",
               request=CertificateCheck, response=ValidationReportOut, tag="ca")
async def verify_certificate(request: Request) -> Response:
    """Always 200 with the report; the indication says whether the certificate passed."""
    data = await parse_body(request, CertificateCheck)
    rt = runtime(request)
    async with rt.database.transaction() as session:
        actor = await current_actor(request, session)
        report = await trust_service.verify_certificate(
            session, actor, data.certificate_pem.encode("utf-8"), rt.revocation, at=data.at, usage=data.usage)
    return JSONResponse(report.to_dict())

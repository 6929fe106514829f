"""Trust-list use cases: recognising, suspending, reinstating and retiring CAs.

Only admins change the list; every change is a ledger entry on the stream ``ca:<id>``.
Certificates of every recognised CA are accepted alike, whatever their algorithm.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.certificates import (
    CertificateFormatError,
    load_certificate,
    load_certificates,
    summarize,
)
from ca_interop.revocation import RevocationSource
from ca_interop.validation import (
    CertificateValidator,
    TrustAnchor,
    Usage,
    ValidationReport,
)
from core.actors import Actor, Role
from core.clock import utcnow
from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.states import check_transition
from core.usecases import ANY_ROLE, use_case
from identities import trust_events as events
from identities.trust_models import TrustedCA
from identities.trust_schemas import StatusChange, TrustedCACreate
from identities.trust_states import ALLOWED_CA_TRANSITIONS, CAStatus
from supervision.ledger.append import append

TRUST_READERS = frozenset({Role.ADMIN, Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR})


@use_case("identities.add_trusted_ca", {Role.ADMIN})
async def add_trusted_ca(session: AsyncSession, actor: Actor, data: TrustedCACreate) -> TrustedCA:
    try:
        certificate = load_certificate(data.certificate_pem.encode("utf-8"))
    except CertificateFormatError as error:
        raise InvalidInput(str(error), [FieldError("$.certificate_pem", str(error))]) from None
    summary = summarize(certificate)
    if not summary.is_ca:
        raise InvalidInput("the certificate is not a CA certificate (basicConstraints cA is not set)",
                           [FieldError("$.certificate_pem", "not a CA certificate")])
    await _refuse_duplicates(session, data.name, summary.fingerprint)
    now = utcnow()
    ca = TrustedCA(
        name=data.name, region=data.region, kind="root" if summary.self_signed else "intermediate",
        algorithm=summary.algorithm, subject=summary.subject, fingerprint=summary.fingerprint,
        certificate_der=certificate.dump(), not_after=summary.not_after,
        revocation_policy=data.revocation_policy, identity_rule=data.identity_rule.model_dump(mode="json"),
        status=CAStatus.ACTIVE, created_at=now, updated_at=now,
    )
    session.add(ca)
    await session.flush()
    await append(session, stream=events.ca_stream(ca.id), event_type=events.CA_ADDED, actor=actor,
                 payload=events.ca_snapshot(ca))
    return ca


@use_case("identities.list_trusted_cas", TRUST_READERS)
async def list_trusted_cas(session: AsyncSession, actor: Actor) -> list[TrustedCA]:
    return list(await session.scalars(sa.select(TrustedCA).order_by(TrustedCA.id)))


@use_case("identities.change_trusted_ca_status", {Role.ADMIN})
async def change_trusted_ca_status(
    session: AsyncSession, actor: Actor, ca_ref: int | str, target: CAStatus, change: StatusChange
) -> TrustedCA:
    """Suspend, reinstate or retire a CA, named by id (HTTP) or by name (command line)."""
    column = TrustedCA.id if isinstance(ca_ref, int) else TrustedCA.name
    ca = await session.scalar(sa.select(TrustedCA).where(column == ca_ref))
    if ca is None:
        raise NotFound(f"no recognised CA is {'numbered' if isinstance(ca_ref, int) else 'named'} {ca_ref!r}")
    check_transition(f"CA {ca.name!r}", CAStatus(ca.status), target, ALLOWED_CA_TRANSITIONS)
    ca.status = target
    ca.status_reason = change.reason
    ca.updated_at = utcnow()
    await session.flush()
    await append(session, stream=events.ca_stream(ca.id), event_type=events.CA_STATUS_CHANGED, actor=actor,
                 payload={"status": ca.status, "status_reason": ca.status_reason, "updated_at": ca.updated_at})
    return ca


@use_case("identities.verify_certificate", ANY_ROLE)
async def verify_certificate(
    session: AsyncSession, actor: Actor, certificate_pem: bytes, revocation: RevocationSource,
    *, at: datetime | None = None, usage: Usage = Usage.SIGNING,
) -> ValidationReport:
    """Anyone signed in may ask whether a certificate is valid (bidders check theirs)."""
    try:
        certificates = load_certificates(certificate_pem)
    except CertificateFormatError as error:
        raise InvalidInput(str(error), [FieldError("$.certificate_pem", str(error))]) from None
    validator = await certificate_validator(session, revocation)
    return await validator.validate(certificates[0], at=at, usage=usage, extra_certs=certificates[1:])


async def certificate_validator(session: AsyncSession, revocation: RevocationSource) -> CertificateValidator:
    """A validator over the trust list as it stands now (every CA, whatever its status:
    the validator refuses chains through a suspended or retired CA, naming it)."""
    rows = await session.scalars(sa.select(TrustedCA).order_by(TrustedCA.id))
    anchors = [
        TrustAnchor(
            name=ca.name, certificate=load_certificate(ca.certificate_der), status=ca.status,
            revocation_policy=ca.revocation_policy, identity_rule=ca.identity_rule, status_reason=ca.status_reason,
        )
        for ca in rows
    ]
    return CertificateValidator(anchors, revocation)


async def _refuse_duplicates(session: AsyncSession, name: str, fingerprint: str) -> None:
    same_name = await session.scalar(sa.select(TrustedCA.id).where(TrustedCA.name == name))
    if same_name is not None:
        raise Conflict(f"a CA named {name!r} is already on the trust list")
    same_cert = await session.scalar(sa.select(TrustedCA.name).where(TrustedCA.fingerprint == fingerprint))
    if same_cert is not None:
        raise Conflict(f"this certificate is already on the trust list as {same_cert!r}")

"""A detached CMS signature over some content, by a certificate the trust list accepts.

Bidders confirm the opening record, answer clarifications and sign contracts; experts sign
in to a session and sign its report: each time the platform verifies the signature over
the exact bytes, then validates the signer's certificate for signing against the trust
list (``identities.trust_service.certificate_validator``). Who the certificate must name
(an organisation's credit code, a person's ID number) is the caller's to compare, with
the identity returned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.certificates import as_asn1, summarize
from ca_interop.revocation import RevocationSource
from ca_interop.signatures import SignatureFormatError, verify_detached
from ca_interop.validation import Usage
from core.errors import FieldError, InvalidInput
from identities.trust_service import certificate_validator


@dataclass(frozen=True)
class Signer:
    """The accepted signer: certificate fingerprint, subject (at most 300 characters) and
    identity (``uscc`` or ``person_id``, ``name``) from the validation report."""

    fingerprint: str
    subject: str
    identity: dict[str, Any]


async def check_signature(session: AsyncSession, revocation: RevocationSource, content: Any, signature: bytes,
                          *, what: str, pointer: str = "$.signature", mismatch: str | None = None) -> Signer:
    """The signer of ``signature`` over ``content``, or InvalidInput naming why not.

    ``what`` names the content in the refusal ("the opening record"); ``mismatch``
    replaces the whole detail of a signature that does not verify over it."""
    try:
        check = verify_detached(content, signature)
    except SignatureFormatError as error:
        raise InvalidInput(f"the signature is not a detached CMS signature: {error}",
                           [FieldError(pointer, str(error))]) from None
    if not check.valid:
        raise InvalidInput(mismatch or f"the signature does not verify over {what}: {check.reason}",
                           [FieldError(pointer, str(check.reason))])
    certificate = as_asn1(check.signer_cert)
    validator = await certificate_validator(session, revocation)
    report = await validator.validate(certificate, usage=Usage.SIGNING,
                                      extra_certs=[as_asn1(c) for c in check.other_certs])
    if not report.passed:
        raise InvalidInput(f"the signing certificate is not accepted ({report.subindication}): {report.detail}",
                           [FieldError(pointer, "certificate not accepted")])
    summary = summarize(certificate)
    return Signer(fingerprint=summary.fingerprint, subject=summary.subject[:300], identity=dict(report.identity or {}))

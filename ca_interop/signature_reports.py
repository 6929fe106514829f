"""A detached signature and its signer's certificate, judged together in one report.

The signature check (:mod:`ca_interop.signatures`) says whether the bytes were signed by
the key in the certificate; the certificate validation says whether that certificate is
one the platform recognises, unrevoked and fit for signing. The report's indication is
the worse of the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ca_interop.certificates import as_asn1
from ca_interop.signatures import Content, SignatureFormatError, verify_detached
from ca_interop.validation import CertificateValidator, Indication, Usage
from core.clock import rfc3339, utcnow


async def validate_detached_signature(
    content: Content, signature_der: bytes, validator: CertificateValidator, *, at: datetime | None = None
) -> dict[str, Any]:
    """Validate the signature over ``content`` and its signer's certificate at ``at`` (now).

    The signingTime attribute is the signer's own claim, so by default the certificate is
    judged now; a trusted timestamp (proof of existence) lets the caller pass ``at``.
    """
    try:
        check = verify_detached(content, signature_der)
    except SignatureFormatError as error:
        return _report(Indication.INDETERMINATE, "FORMAT_FAILURE", str(error), at)
    signature = {
        "valid": check.valid,
        "reason": check.reason,
        "digest_algorithm": check.digest_algorithm,
        "signature_algorithm": check.signature_algorithm,
        "claimed_signing_time": rfc3339(check.signing_time) if check.signing_time else None,
    }
    if not check.valid:
        content_problem = check.reason is not None and "content" in check.reason
        subindication = "HASH_FAILURE" if content_problem else "SIG_CRYPTO_FAILURE"
        return _report(Indication.TOTAL_FAILED, subindication, check.reason or "invalid signature", at,
                       signature=signature)
    chain = [as_asn1(c) for c in check.other_certs]
    certificate = await validator.validate(as_asn1(check.signer_cert), at=at, usage=Usage.SIGNING, extra_certs=chain)
    return _report(certificate.indication, certificate.subindication, certificate.detail, at,
                   signature=signature, certificate=certificate.to_dict())


def _report(indication: Indication, subindication: str | None, detail: str, at: datetime | None,
            **parts: Any) -> dict[str, Any]:
    return {
        "indication": str(indication),
        "subindication": subindication,
        "detail": detail,
        "checked_at": rfc3339(at or utcnow()),
        "signature": parts.get("signature"),
        "certificate": parts.get("certificate"),
    }

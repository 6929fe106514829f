"""Reading X.509 certificates of any recognised algorithm (RSA, ECDSA, SM2) safely.

asn1crypto parses what pyca/cryptography refuses (SM2 keys), so it is the common reader.
Every parse failure becomes a :class:`CertificateFormatError` naming the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import pem, x509

MAX_CERTIFICATE_BYTES = 64 * 1024
SM2_CURVE_OID = "1.2.156.10197.1.301"


class CertificateFormatError(ValueError):
    """The bytes are not a usable X.509 certificate."""


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate from PEM or DER bytes."""
    if not data:
        raise CertificateFormatError("the certificate is empty")
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise CertificateFormatError(f"a certificate is at most {MAX_CERTIFICATE_BYTES} bytes; got {len(data)}")
    der = data
    if pem.detect(data):
        try:
            kind, _, der = pem.unarmor(data)
        except (ValueError, TypeError) as error:
            raise CertificateFormatError(f"the PEM armour is broken: {error}") from None
        if kind != "CERTIFICATE":
            raise CertificateFormatError(f"expected a CERTIFICATE, got a PEM {kind!r}")
    return _parse_der(der)


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (or a single DER certificate)."""
    if not pem.detect(data):
        return [load_certificate(data)]
    certificates = []
    try:
        for kind, _, der in pem.unarmor(data, multiple=True):
            if kind != "CERTIFICATE":
                raise CertificateFormatError(f"expected CERTIFICATE blocks, got a PEM {kind!r}")
            certificates.append(_parse_der(der))
    except (ValueError, TypeError) as error:
        if isinstance(error, CertificateFormatError):
            raise
        raise CertificateFormatError(f"the PEM armour is broken: {error}") from None
    if not certificates:
        raise CertificateFormatError("no certificate found in the PEM text")
    return certificates


def _parse_der(der: bytes) -> x509.Certificate:
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise CertificateFormatError(f"a certificate is at most {MAX_CERTIFICATE_BYTES} bytes; got {len(der)}")
    try:
        certificate = x509.Certificate.load(der, strict=True)
        # Touch the parts we rely on, so a malformed inner structure fails here, not later.
        _ = certificate.subject.human_friendly, certificate.public_key.algorithm, certificate.not_valid_after
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise CertificateFormatError(f"not a DER X.509 certificate: {error}") from None
    return certificate


@dataclass(frozen=True)
class CertificateSummary:
    subject: str
    issuer: str
    serial: int
    fingerprint: str
    algorithm: str
    is_ca: bool
    self_signed: bool
    not_before: datetime
    not_after: datetime


def key_algorithm(certificate: x509.Certificate) -> str:
    """``rsa``, ``ecdsa`` or ``sm2`` (SM2 keys are EC keys on the SM2 curve)."""
    info = certificate.public_key
    if info.algorithm == "rsa" or info.algorithm == "rsassa_pss":
        return "rsa"
    if info.algorithm == "ec":
        curve = info["algorithm"]["parameters"]
        if curve.name == "named" and curve.chosen.dotted == SM2_CURVE_OID:
            return "sm2"
        return "ecdsa"
    return str(info.algorithm)


def summarize(certificate: x509.Certificate) -> CertificateSummary:
    return CertificateSummary(
        subject=certificate.subject.human_friendly,
        issuer=certificate.issuer.human_friendly,
        serial=certificate.serial_number,
        fingerprint=hashlib.sha256(certificate.dump()).hexdigest(),
        algorithm=key_algorithm(certificate),
        is_ca=bool(certificate.ca),
        self_signed=certificate.self_signed in ("maybe", "yes"),
        not_before=certificate.not_valid_before,
        not_after=certificate.not_valid_after,
    )


def public_key_sha256(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's SubjectPublicKeyInfo: the same for every certificate
    issued on one key pair (by any CA)."""
    return hashlib.sha256(certificate.public_key.dump()).hexdigest()


def as_asn1(certificate: object) -> x509.Certificate:
    """A pyca/cryptography certificate (what signatures and timestamps hand back) as the
    asn1crypto one validation reads; an asn1crypto certificate is returned as it is."""
    if isinstance(certificate, x509.Certificate):
        return certificate
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.Certificate.load(certificate.public_bytes(Encoding.DER))  # type: ignore[attr-defined]

"""Certificates and keys as the envelope code needs them: the exact DER of the issuer name
and serial number (recipient identifiers must match byte for byte), the key algorithm
read from the SubjectPublicKeyInfo (so an SM2 certificate, whose key ``cryptography``
cannot load, can still be dispatched), the subject key identifier and the key usage."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ca_interop import gm

from . import _der
from ._der import CONTEXT, UNIVERSAL, DerError, Element
from ._errors import EnvelopeError

CertificateLike = x509.Certificate | asn1_x509.Certificate | bytes | str | os.PathLike[str]
"""A certificate object (pyca/cryptography or asn1crypto, as the SM2 demo CA makes), PEM or
DER bytes, or the path of a PEM/DER file."""

_NAME_LABELS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.97": "organizationIdentifier",
    "2.5.4.9": "street", "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.12": "title",
    "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


@dataclass(frozen=True)
class CertView:
    certificate: x509.Certificate
    issuer_der: bytes
    subject_der: bytes
    serial_der: bytes  # the whole INTEGER element, as in the certificate
    serial: int
    spki_der: bytes
    key_algorithm: str  # dotted OID of the SubjectPublicKeyInfo algorithm
    key_parameters: Element | None  # e.g. the named curve
    subject_key_identifier: bytes | None
    key_usage: x509.KeyUsage | None

    @property
    def issuer(self) -> str:
        return format_name(self.issuer_der)

    @property
    def subject(self) -> str:
        return format_name(self.subject_der)

    @property
    def named_curve(self) -> str | None:
        if self.key_parameters is not None and self.key_parameters.is_(UNIVERSAL, _der.OID):
            return self.key_parameters.as_oid()
        return None

    def describe(self) -> str:
        return f"certificate {self.subject!r} (issuer {self.issuer!r}, serial {self.serial:#x})"


def load_certificate(value: CertificateLike) -> x509.Certificate:
    if isinstance(value, x509.Certificate):
        return value
    if isinstance(value, asn1_x509.Certificate):
        value = bytes(value.dump())
    data = Path(value).read_bytes() if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(data, bytes):
        raise TypeError(f"expected a certificate, PEM/DER bytes or a path, not {type(value).__name__}")
    try:
        if b"-----BEGIN" in data[:100] or data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise EnvelopeError(f"not a readable X.509 certificate: {error}") from None


def load_private_key(value: Any) -> Any:
    """A ``cryptography`` private key or :class:`gm.Sm2PrivateKey` as is; PEM/DER bytes or
    a path loaded (unencrypted): by ``cryptography``, else as an SM2 key (PKCS#8 or SEC1,
    which ``cryptography`` cannot load)."""
    if hasattr(value, "public_key") and not isinstance(value, (bytes, str, os.PathLike)):
        return value
    data = Path(value).read_bytes() if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(data, bytes):
        raise TypeError(f"expected a private key, PEM/DER bytes or a path, not {type(value).__name__}")
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        failure: Exception = error
    try:
        return gm.load_sm2_private_key(data)
    except (ValueError, TypeError) as error:  # GmError is a ValueError
        # Report the SM2 reading's reason only for what cryptography recognised as an
        # unsupported key (the SM2 curve) or a PEM label it does not know.
        if isinstance(failure, UnsupportedAlgorithm) or b"SM2 PRIVATE KEY" in data[:200]:
            failure = error
    raise EnvelopeError(f"not a readable unencrypted private key: {failure}") from None


def view(value: CertificateLike) -> CertView:
    certificate = load_certificate(value)
    try:
        tbs = _der.parse(certificate.tbs_certificate_bytes, "certificate").children("TBSCertificate")
        if tbs and tbs[0].is_(CONTEXT, 0):
            tbs = tbs[1:]  # explicit version
        serial_element, _signature, issuer, _validity, subject, spki = tbs[:6]
        algorithm = spki.children("SubjectPublicKeyInfo")[0].children("key algorithm")
    except (DerError, ValueError) as error:
        raise EnvelopeError(f"the certificate's TBSCertificate cannot be read: {error}") from None
    try:
        extensions = certificate.extensions
    except ValueError as error:
        raise EnvelopeError(f"the certificate's extensions cannot be read: {error}") from None
    try:
        ski: bytes | None = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = None
    try:
        key_usage: x509.KeyUsage | None = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    return CertView(
        certificate=certificate,
        issuer_der=issuer.encoded,
        subject_der=subject.encoded,
        serial_der=serial_element.encoded,
        serial=serial_element.as_int("serial number"),
        spki_der=spki.encoded,
        key_algorithm=algorithm[0].as_oid("key algorithm"),
        key_parameters=algorithm[1] if len(algorithm) > 1 else None,
        subject_key_identifier=ski,
        key_usage=key_usage,
    )


def issuer_and_serial(cert: CertView) -> bytes:
    """IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }"""
    return _der.sequence(cert.issuer_der, cert.serial_der)


def format_name(name_der: bytes) -> str:
    """A distinguished name as ``C=CN, O=..., CN=...`` in the certificate's order."""
    try:
        parts = []
        for rdn in _der.parse(name_der, "name").children("name"):
            values = []
            for attribute in rdn.children("relative distinguished name"):
                kind, value = attribute.children("attribute")[:2]
                dotted = kind.as_oid("attribute type")
                values.append(f"{_NAME_LABELS.get(dotted, dotted)}={_string_value(value)}")
            parts.append("+".join(values))
        return ", ".join(parts)
    except (DerError, ValueError):
        return "<unreadable name 0x" + name_der[:32].hex() + ">"


def _string_value(value: Element) -> str:
    if value.tag_class != UNIVERSAL or value.constructed:
        return "#" + value.encoded.hex()
    if value.number == 30:  # BMPString
        text = value.content.decode("utf-16-be", "replace")
    elif value.number == 20:  # TeletexString: treat as Latin-1
        text = value.content.decode("latin-1")
    elif value.number in (12, 19, 22, 26, 18):
        text = value.content.decode("utf-8", "replace")
    else:
        return "#" + value.encoded.hex()
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("+", "\\+")

"""An SM2 demo certificate authority, the SM2 twin of :mod:`ca_interop.demo_pki`.

Chinese CAs issue SM2 certificates signed with SM2-with-SM3 (1.2.156.10197.1.501) under
the default signer ID "1234567812345678" (GM/T 0015), and pyca/cryptography cannot build
them, so the TBSCertificate and TBSCertList are built with asn1crypto and signed with
:mod:`ca_interop.gm`. Subjects, extensions and method names follow ``DemoCA``: the
credit code in organizationIdentifier (2.5.4.97), the person's ID number in
serialNumber, signing and encryption certificates split by key usage, SKI/AKI, a CRL
distribution point and an OCSP address on the CA's fake web site.

:func:`verify_sm2_certificate_signature` and :func:`verify_sm2_crl_signature` are the
checks the path validator plugs in for SM2-signed certificates and CRLs.

OpenSSL 3.0 needs ``openssl verify -vfyopt distid:1234567812345678`` to accept a leaf
from this CA; it checks CRL signatures (``openssl crl -CAfile``) and self-signatures
(``-check_ss_sig``) with an empty ID only, so it rejects standard SM2 CRLs and roots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import core, crl, keys, pem, x509

from ca_interop import gm
from ca_interop.demo_pki import CaWebSite, Usage
from core.clock import utcnow

SM2_WITH_SM3 = {"algorithm": gm.OID_SM2_WITH_SM3}
"""AlgorithmIdentifier without parameters, as OpenSSL and GmSSL encode it."""

_UTC_TIME_LIMIT = dt.datetime(2050, 1, 1, tzinfo=dt.UTC)


@dataclass
class Sm2Issued:
    """An end-entity key and certificate, as ``demo_pki.Issued`` but for SM2."""

    key: gm.Sm2PrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.to_pkcs8_pem()

    @property
    def cert_der(self) -> bytes:
        return bytes(self.cert.dump())

    @property
    def cert_pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.cert.dump()))


@dataclass
class Sm2DemoCA(CaWebSite):
    """A self-signed SM2 root CA with its key, issuing certificates and CRLs."""

    name: str
    key: gm.Sm2PrivateKey
    cert: x509.Certificate
    base_url: str
    revoked: dict[int, dt.datetime] = field(default_factory=dict)
    algorithm: str = "sm2"

    @classmethod
    def create(cls, name: str, *, host: str | None = None,
               not_before: dt.datetime | None = None, years: int = 10) -> Sm2DemoCA:
        key = gm.generate_sm2_key()
        subject = _name([("country_name", "CN"), ("organization_name", name),
                         ("common_name", f"{name} Root CA")])
        start = not_before or utcnow() - dt.timedelta(days=1)
        extensions = [
            _extension("basic_constraints", {"ca": True}, critical=True),
            _extension("key_usage", _key_usage(ca=True), critical=True),
            _extension("key_identifier", key_identifier(key.public_key)),
        ]
        cert = _sign_certificate(key, _tbs_certificate(
            subject, subject, key.public_key, start, start + dt.timedelta(days=365 * years), extensions))
        return cls(name=name, key=key, cert=cert, base_url=cls.site_for(name, host))

    @property
    def cert_der(self) -> bytes:
        return bytes(self.cert.dump())

    @property
    def cert_pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.cert.dump()))

    def issue(
        self,
        common_name: str,
        *,
        usage: Usage = Usage.SIGNING,
        uscc: str | None = None,
        person_id: str | None = None,
        organization: str | None = None,
        not_before: dt.datetime | None = None,
        days: int = 365,
    ) -> Sm2Issued:
        """An end-entity certificate for a party (``uscc``) or a person (``person_id``)."""
        key = gm.generate_sm2_key()
        start = not_before or utcnow() - dt.timedelta(hours=1)
        subject = _subject(common_name, uscc=uscc, person_id=person_id, organization=organization)
        tbs = _tbs_certificate(self.cert.subject, subject, key.public_key, start,
                               start + dt.timedelta(days=days), self._leaf_extensions(key, usage))
        return Sm2Issued(key=key, cert=_sign_certificate(self.key, tbs))

    def _leaf_extensions(self, key: gm.Sm2PrivateKey, usage: Usage) -> list[x509.Extension]:
        extensions = [
            _extension("basic_constraints", {"ca": False}, critical=True),
            _extension("key_usage", _key_usage(usage=usage), critical=True),
            _extension("key_identifier", key_identifier(key.public_key)),
            _extension("authority_key_identifier", {"key_identifier": key_identifier(self.key.public_key)}),
            _extension("crl_distribution_points", [
                {"distribution_point": {"full_name": [_uri(self.crl_url)]}}]),
            _extension("authority_information_access", [
                {"access_method": "ocsp", "access_location": _uri(self.ocsp_url)}]),
        ]
        if usage is Usage.TIMESTAMPING:
            extensions.append(_extension("extended_key_usage", ["time_stamping"], critical=True))
        return extensions

    def revoke(self, cert: x509.Certificate | Sm2Issued, when: dt.datetime | None = None) -> None:
        certificate = cert.cert if isinstance(cert, Sm2Issued) else cert
        self.revoked[int(certificate.serial_number)] = when or utcnow()

    def crl(self, *, this_update: dt.datetime | None = None, days: int = 7) -> crl.CertificateList:
        """A CRL signed under the default SM2 ID; ``.dump()`` gives the DER."""
        start = this_update or utcnow() - dt.timedelta(minutes=5)
        tbs: dict[str, Any] = {
            "version": "v2",
            "signature": SM2_WITH_SM3,
            "issuer": self.cert.subject,
            "this_update": _time(start),
            "next_update": _time(start + dt.timedelta(days=days)),
            "crl_extensions": [
                _extension("crl_number", int(start.timestamp()), spec=crl.TBSCertListExtension),
                _extension("authority_key_identifier", {"key_identifier": key_identifier(self.key.public_key)},
                           spec=crl.TBSCertListExtension),
            ],
        }
        if self.revoked:  # an empty list must be left out, not encoded as SEQUENCE {}
            tbs["revoked_certificates"] = [
                {"user_certificate": serial, "revocation_date": _time(when)}
                for serial, when in sorted(self.revoked.items())
            ]
        tbs_cert_list = crl.TbsCertList(tbs)
        signature = gm.sm2_sign(self.key, tbs_cert_list.dump())
        signed = crl.CertificateList({
            "tbs_cert_list": tbs_cert_list, "signature_algorithm": SM2_WITH_SM3, "signature": signature})
        return crl.CertificateList.load(signed.dump())


def crl_pem(certificate_list: crl.CertificateList) -> bytes:
    return bytes(pem.armor("X509 CRL", certificate_list.dump()))


def key_identifier(public_key: gm.Sm2PublicKey) -> bytes:
    """RFC 5280 method 1 (SHA-1 of the public key point), as OpenSSL's ``hash`` does,
    so AKI/SKI match certificates OpenSSL makes for the same key."""
    return hashlib.sha1(public_key.to_point(), usedforsecurity=False).digest()


# ------------------------------------------------------------------ verification


def verify_sm2_certificate_signature(
    cert: bytes | x509.Certificate,
    issuer_public_key: gm.Sm2PublicKey | keys.PublicKeyInfo | x509.Certificate,
    *,
    user_id: bytes = gm.SM2_DEFAULT_USER_ID,
) -> bool:
    """Whether ``cert`` (DER or asn1crypto) carries a valid SM2-with-SM3 signature by the
    issuer's key. Any malformed certificate, other algorithm or mismatched inner/outer
    algorithm gives False; an issuer key that is not SM2 raises :class:`gm.GmError`."""
    key = _sm2_key(issuer_public_key)
    try:
        certificate = cert if isinstance(cert, x509.Certificate) else x509.Certificate.load(cert, strict=True)
        tbs = certificate["tbs_certificate"]
        return _verify_signed(key, tbs, tbs["signature"], certificate["signature_algorithm"],
                              certificate["signature_value"], user_id)
    except Exception:  # noqa: BLE001 - a certificate that cannot be read is not validly signed
        return False


def verify_sm2_crl_signature(
    certificate_list: bytes | crl.CertificateList,
    issuer_public_key: gm.Sm2PublicKey | keys.PublicKeyInfo | x509.Certificate,
    *,
    user_id: bytes = gm.SM2_DEFAULT_USER_ID,
) -> bool:
    """As :func:`verify_sm2_certificate_signature`, for a CRL (DER or asn1crypto)."""
    key = _sm2_key(issuer_public_key)
    try:
        parsed = (certificate_list if isinstance(certificate_list, crl.CertificateList)
                  else crl.CertificateList.load(certificate_list, strict=True))
        tbs = parsed["tbs_cert_list"]
        return _verify_signed(key, tbs, tbs["signature"], parsed["signature_algorithm"],
                              parsed["signature"], user_id)
    except Exception:  # noqa: BLE001
        return False


def _verify_signed(key: gm.Sm2PublicKey, tbs: core.Asn1Value, inner_algorithm: core.Asn1Value,
                   outer_algorithm: core.Asn1Value, signature: core.Asn1Value, user_id: bytes) -> bool:
    """The TBS bytes are hashed exactly as received (``dump()`` of a parsed value)."""
    if outer_algorithm.dump() != inner_algorithm.dump():
        return False
    if outer_algorithm["algorithm"].dotted != gm.OID_SM2_WITH_SM3:
        return False
    return gm.sm2_verify(key, bytes(tbs.dump()), bytes(signature.native), user_id)


def _sm2_key(issuer: gm.Sm2PublicKey | keys.PublicKeyInfo | x509.Certificate) -> gm.Sm2PublicKey:
    if isinstance(issuer, gm.Sm2PublicKey):
        return issuer
    if isinstance(issuer, x509.Certificate):
        return gm.sm2_public_key_from_spki(issuer.public_key)
    return gm.sm2_public_key_from_spki(issuer)


# ------------------------------------------------------------------ construction


def _tbs_certificate(issuer: x509.Name, subject: x509.Name, public_key: gm.Sm2PublicKey,
                     start: dt.datetime, end: dt.datetime,
                     extensions: list[x509.Extension]) -> x509.TbsCertificate:
    return x509.TbsCertificate({
        "version": "v3",
        "serial_number": _random_serial(),
        "signature": SM2_WITH_SM3,
        "issuer": issuer,
        "validity": {"not_before": _time(start), "not_after": _time(end)},
        "subject": subject,
        "subject_public_key_info": keys.PublicKeyInfo.load(public_key.to_spki_der()),
        "extensions": extensions,
    })


def _sign_certificate(key: gm.Sm2PrivateKey, tbs: x509.TbsCertificate) -> x509.Certificate:
    signature = gm.sm2_sign(key, tbs.dump())
    cert = x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": SM2_WITH_SM3, "signature_value": signature})
    return x509.Certificate.load(cert.dump())


def _random_serial() -> int:
    """Positive, at most 20 octets (RFC 5280), like cryptography's random_serial_number."""
    return int.from_bytes(os.urandom(20), "big") >> 1


def _time(moment: dt.datetime) -> x509.Time:
    """UTCTime before 2050, GeneralizedTime after (RFC 5280 4.1.2.5), whole seconds."""
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    return x509.Time({"utc_time" if moment < _UTC_TIME_LIMIT else "general_time": moment})


def _extension(extn_id: str, value: object, *, critical: bool = False,
               spec: type[core.Sequence] = x509.Extension) -> Any:
    return spec({"extn_id": extn_id, "critical": critical, "extn_value": value})


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


_PRINTABLE_TYPES = {"country_name", "serial_number"}  # PrintableString in X.520, as cryptography writes them


def _name(attributes: list[tuple[str, str]]) -> x509.Name:
    """A Name in the given order (asn1crypto's Name.build would reorder it)."""
    rdns = []
    for attribute_type, value in attributes:
        kind = "printable_string" if attribute_type in _PRINTABLE_TYPES else "utf8_string"
        rdns.append(x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": attribute_type, "value": x509.DirectoryString(name=kind, value=value)})]))
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def _subject(common_name: str, *, uscc: str | None, person_id: str | None, organization: str | None) -> x509.Name:
    attributes = [("country_name", "CN")]
    if organization:
        attributes.append(("organization_name", organization))
    if uscc:
        attributes.append(("organization_identifier", uscc))
    if person_id:
        attributes.append(("serial_number", person_id))
    attributes.append(("common_name", common_name))
    return _name(attributes)


def _key_usage(*, ca: bool = False, usage: Usage = Usage.SIGNING) -> set[str]:
    """Signing and encryption certificates are separate, as Chinese CAs issue them in
    pairs. An SM2 encryption key both takes content keys by SM2 encryption (key
    transport: keyEncipherment) and does SM2 key exchange (keyAgreement)."""
    if ca:
        return {"key_cert_sign", "crl_sign"}
    if usage is Usage.ENCRYPTION:
        return {"key_encipherment", "key_agreement"}
    if usage is Usage.TIMESTAMPING:
        return {"digital_signature"}
    return {"digital_signature", "non_repudiation"}

"""Demo certificate authorities and certificates, for the demo and the tests.

Each :class:`DemoCA` is a self-signed root that issues end-entity certificates the way
Chinese CAs do: the organisation's unified social credit code in the subject's
organizationIdentifier (2.5.4.97) or the person's ID number in serialNumber, a CRL
distribution point and an OCSP address on the CA's (fake) web site, and key usage split
between signing and encryption certificates. Production loads real CA material instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.clock import utcnow

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


class Usage(StrEnum):
    SIGNING = "signing"
    ENCRYPTION = "encryption"
    TIMESTAMPING = "timestamping"


@dataclass
class Issued:
    key: PrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown algorithm {algorithm!r}: rsa or ecdsa (SM2 has its own module)")


class CaWebSite:
    """Where a demo CA publishes its CRL and answers OCSP (a fictional host)."""

    base_url: str

    @staticmethod
    def site_for(name: str, host: str | None) -> str:
        return f"http://{host or name.lower().replace(' ', '-') + '.ca.test'}"

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/root.crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"


@dataclass
class DemoCA(CaWebSite):
    """A root CA with its key, issuing certificates and CRLs."""

    name: str
    algorithm: str
    key: PrivateKey
    cert: x509.Certificate
    base_url: str
    revoked: dict[int, dt.datetime] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str, algorithm: str, *, host: str | None = None,
               not_before: dt.datetime | None = None, years: int = 10) -> DemoCA:
        key = new_key(algorithm)
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA"),
        ])
        start = not_before or utcnow() - dt.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(name=name, algorithm=algorithm, key=key, cert=cert, base_url=cls.site_for(name, host))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def crl_der(self, **options: object) -> bytes:
        return self.crl(**options).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]

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
        algorithm: str | None = None,
    ) -> Issued:
        """An end-entity certificate for a party (``uscc``) or a person (``person_id``)."""
        key = new_key(algorithm or self.algorithm)
        start = not_before or utcnow() - dt.timedelta(hours=1)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_subject(common_name, uscc=uscc, person_id=person_id, organization=organization))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(usage=usage, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .add_extension(
                x509.CRLDistributionPoints([x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(self.crl_url)], None, None, None)]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess([x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url))]),
                critical=False,
            )
        )
        if usage is Usage.TIMESTAMPING:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return Issued(key=key, cert=builder.sign(self.key, hashes.SHA256()))

    def revoke(self, cert: x509.Certificate, when: dt.datetime | None = None) -> None:
        self.revoked[cert.serial_number] = when or utcnow()

    def crl(self, *, this_update: dt.datetime | None = None, days: int = 7) -> x509.CertificateRevocationList:
        start = this_update or utcnow() - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(start)
            .next_update(start + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        for serial, when in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.key, hashes.SHA256())


    def ocsp_respond(self, request_der: bytes, *, now: dt.datetime | None = None) -> bytes:
        """An RFC 6960 response to an OCSP request, signed by the CA itself."""
        from asn1crypto import ocsp

        request = ocsp.OCSPRequest.load(request_der)
        moment = (now or utcnow()).replace(microsecond=0)
        responses = [self._single_response(item["req_cert"], moment) for item in request["tbs_request"]["request_list"]]
        data = ocsp.ResponseData({
            "responder_id": {"by_key": _key_hash(self.cert)},
            "produced_at": moment,
            "responses": responses,
        })
        basic = ocsp.BasicOCSPResponse({
            "tbs_response_data": data,
            "signature_algorithm": {"algorithm": _signature_algorithm(self.key)},
            "signature": _sign(self.key, data.dump()),
        })
        return ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }).dump()

    def _single_response(self, cert_id: object, moment: dt.datetime) -> object:
        from asn1crypto import ocsp

        serial = cert_id["serial_number"].native  # type: ignore[index]
        if serial in self.revoked:
            status = ocsp.CertStatus(name="revoked", value={
                "revocation_time": self.revoked[serial].replace(microsecond=0), "revocation_reason": "key_compromise"})
        else:
            status = ocsp.CertStatus(name="good", value=None)
        return ocsp.SingleResponse({
            "cert_id": cert_id, "cert_status": status, "this_update": moment,
            "next_update": moment + dt.timedelta(hours=1),
        })


def _key_hash(cert: x509.Certificate) -> bytes:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).public_key.sha1


def _signature_algorithm(key: PrivateKey) -> str:
    return "sha256_rsa" if isinstance(key, rsa.RSAPrivateKey) else "sha256_ecdsa"


def _sign(key: PrivateKey, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding

    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _subject(common_name: str, *, uscc: str | None, person_id: str | None, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if uscc:
        attributes.append(x509.NameAttribute(ORGANIZATION_IDENTIFIER, uscc))
    if person_id:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, person_id))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(*, ca: bool = False, usage: Usage = Usage.SIGNING, rsa_key: bool = True) -> x509.KeyUsage:
    """Signing and encryption certificates are separate, as Chinese CAs issue them in pairs;
    RSA keys encrypt by key transport, EC keys by key agreement."""
    signing = not ca and usage in (Usage.SIGNING, Usage.TIMESTAMPING)
    encryption = not ca and usage is Usage.ENCRYPTION
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=usage is Usage.SIGNING and not ca,
        key_encipherment=encryption and rsa_key,
        data_encipherment=False,
        key_agreement=encryption and not rsa_key,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )

"""RFC 3161 time stamps: the platform's time-stamp authority, and a verifier for any TSA's tokens.

A time-stamp token is a CMS SignedData (RFC 5652) whose encapsulated content is a DER
``TSTInfo`` (eContentType id-ct-TSTInfo) naming the hash of the stamped data (the *message
imprint*), the time (``genTime``), a serial number unique to the TSA and the TSA's policy.
The signer info carries the signed attributes contentType, messageDigest and
signingCertificateV2 (an ESSCertIDv2, RFC 5816) that binds the signature to the TSA's
certificate; that certificate must carry the extended key usage id-kp-timeStamping, critical
and alone (RFC 3161 section 2.3).

* :class:`TimestampAuthority` stamps digests (:meth:`~TimestampAuthority.stamp_digest`,
  :meth:`~TimestampAuthority.stamp_file`) and answers DER ``TimeStampReq`` messages with DER
  ``TimeStampResp`` messages (:meth:`~TimestampAuthority.respond`), RSA (PKCS#1 v1.5 or PSS)
  or ECDSA.
* :func:`make_request` builds a ``TimeStampReq`` for any TSA; :func:`parse_response` reads a
  ``TimeStampResp``.
* :func:`verify_token` checks a token (or a whole response) against the data or its digest
  and returns a :class:`TimestampCheck`. It does not validate the TSA certificate's path to
  a trusted root, nor its revocation: hand ``check.tsa_cert`` and ``check.certificates`` to
  the certificate validator for that.

Anything that is not a well-formed DER token or response raises :class:`TimestampFormatError`
(a ``ValueError``); a well-formed token that fails a check gives ``valid=False`` and a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

from asn1crypto import cms, parser, tsp
from asn1crypto import core as asn1
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.clock import ensure_utc, utcnow

logger = logging.getLogger(__name__)

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
DataSource = Union[bytes, bytearray, memoryview, BinaryIO, os.PathLike]

#: The default TSA policy. 1.3.6.1.4.1.32473 is the IANA private enterprise number reserved
#: for documentation (RFC 5612); ``.3161.1`` below it is our own choice. It is a placeholder:
#: a production TSA must stamp under an OID from the operator's own registered arc, named in
#: its published TSA policy.
DEFAULT_POLICY_OID = "1.3.6.1.4.1.32473.3161.1"

#: Hash algorithms accepted for message imprints, by asn1crypto name -> digest size in bytes.
#: SHA-1 and MD5 are refused (badAlg when stamping, ``valid=False`` when verifying).
IMPRINT_ALGORITHMS: dict[str, int] = {
    "sha224": 28,
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
}

#: The largest DER token, response or request accepted (a token with a long chain is a few KiB).
MAX_DER_SIZE = 1 << 20

_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,  # only for ESSCertID (v1) certificate hashes, never for signatures
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}
_SIGNATURE_HASHES = {name for name in _CRYPTO_HASHES if name != "sha1"}

# signature algorithm (asn1crypto name or dotted OID) -> (scheme, hash or None = the signer
# info's digest algorithm)
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "rsassa_pkcs1v15": ("pkcs1v15", None),
    "sha224_rsa": ("pkcs1v15", "sha224"),
    "sha256_rsa": ("pkcs1v15", "sha256"),
    "sha384_rsa": ("pkcs1v15", "sha384"),
    "sha512_rsa": ("pkcs1v15", "sha512"),
    "rsassa_pss": ("pss", None),
    "ecdsa": ("ecdsa", None),
    "1.2.840.10045.2.1": ("ecdsa", None),  # id-ecPublicKey, used by some CMS producers
    "sha224_ecdsa": ("ecdsa", "sha224"),
    "sha256_ecdsa": ("ecdsa", "sha256"),
    "sha384_ecdsa": ("ecdsa", "sha384"),
    "sha512_ecdsa": ("ecdsa", "sha512"),
    "sha3_256_ecdsa": ("ecdsa", "sha3_256"),
    "sha3_384_ecdsa": ("ecdsa", "sha3_384"),
    "sha3_512_ecdsa": ("ecdsa", "sha3_512"),
}


# What asn1crypto raises on bytes it cannot make sense of (its parsing is lazy, so these come
# from field access too, not only from load()).
_ASN1_ERRORS = (
    ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError,
    NotImplementedError,
)


class TimestampFormatError(ValueError):
    """The bytes are not a well-formed DER time-stamp token, response or request."""


class _TimeStampResp(asn1.Sequence):
    """``TimeStampResp`` with the token OPTIONAL, as RFC 3161 has it (asn1crypto requires it)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TimestampCheck:
    """What :func:`verify_token` found. ``valid`` is the verdict; ``reason`` says why not
    (or ``"ok"``). The other fields are read from the token whenever it could be parsed, even
    when it is not valid; they are only trustworthy when ``valid`` is true."""

    valid: bool
    reason: str
    gen_time: dt.datetime | None = None
    serial: int | None = None
    policy: str | None = None
    hash_algorithm: str | None = None
    message_imprint: bytes | None = None
    tsa_cert: x509.Certificate | None = None
    nonce: int | None = None
    accuracy: dt.timedelta | None = None
    #: the TSA certificate first (when found), then the others the token carries, for the
    #: path validator
    certificates: tuple[x509.Certificate, ...] = ()
    #: the DER token itself (useful when a whole response was verified)
    token: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TimestampReply:
    """A parsed ``TimeStampResp``: ``status`` is ``granted``, ``granted_with_mods``,
    ``rejection``, ``waiting``, ...; ``failure`` holds the PKIFailureInfo bit names
    (``bad_alg``, ``bad_data_format``, ...); ``token`` is the DER token when there is one."""

    status: str
    failure: frozenset[str]
    status_text: str
    token: bytes | None

    @property
    def granted(self) -> bool:
        return self.status in ("granted", "granted_with_mods")


# --------------------------------------------------------------------------------------------
# Helpers


def normalize_hash_name(name: str) -> str:
    """``"SHA-256"``, ``"sha256"``, ``"sha3-256"`` -> the asn1crypto names (``sha256``,
    ``sha3_256``). Unknown names come back lower-cased, for the caller to refuse."""
    compact = name.strip().lower().replace("-", "").replace("_", "")
    if compact in ("sha3224", "sha3256", "sha3384", "sha3512"):
        return "sha3_" + compact[4:]
    return compact


def _digest_source(source: DataSource, algorithm: str, chunk_size: int = 1 << 20) -> bytes:
    """Hash bytes, a binary stream (read to its end, in chunks) or a path."""
    hasher = hashlib.new(algorithm)
    if isinstance(source, (bytes, bytearray, memoryview)):
        hasher.update(source)
        return hasher.digest()
    if isinstance(source, os.PathLike):
        with open(source, "rb") as handle:
            return _digest_source(handle, algorithm, chunk_size)
    if isinstance(source, str):
        raise TypeError("pass a path as pathlib.Path (a str is ambiguous with data) or the data as bytes")
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError(f"cannot hash {type(source).__name__}: bytes, a binary stream or a path")
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        if isinstance(chunk, str):
            raise TypeError("the stream must be opened in binary mode")
        hasher.update(chunk)
    return hasher.digest()


def _check_imprint_algorithm(algorithm: str) -> str:
    name = normalize_hash_name(algorithm)
    if name not in IMPRINT_ALGORITHMS:
        raise ValueError(
            f"hash algorithm {algorithm!r} is not accepted; use one of {', '.join(IMPRINT_ALGORITHMS)}"
        )
    return name


def _check_digest(digest: bytes, algorithm: str) -> bytes:
    if not isinstance(digest, (bytes, bytearray, memoryview)):
        raise TypeError("the digest must be bytes (the raw hash, not hex)")
    digest = bytes(digest)
    if len(digest) != IMPRINT_ALGORITHMS[algorithm]:
        raise ValueError(
            f"a {algorithm} digest has {IMPRINT_ALGORITHMS[algorithm]} bytes, not {len(digest)}"
        )
    return digest


def new_nonce() -> int:
    """A random 64-bit nonce (positive), as OpenSSL's ``ts -query`` makes them."""
    return secrets.randbits(63) | (1 << 62)


def make_request(
    digest: bytes,
    algorithm: str = "sha256",
    nonce: int | None = None,
    cert_req: bool = True,
    *,
    policy_oid: str | None = None,
) -> bytes:
    """A DER ``TimeStampReq`` for ``digest`` (the raw hash of the data under ``algorithm``).

    Pass ``nonce=new_nonce()`` and check it back with ``verify_token(..., nonce=...)`` when the
    request goes over the network."""
    name = _check_imprint_algorithm(algorithm)
    digest = _check_digest(digest, name)
    request: dict = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": name}, "hashed_message": digest},
        "cert_req": bool(cert_req),
    }
    if policy_oid is not None:
        request["req_policy"] = policy_oid
    if nonce is not None:
        request["nonce"] = int(nonce)
    return tsp.TimeStampReq(request).dump()


def _random_serial() -> int:
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


def _require_der(data: object, what: str) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TimestampFormatError(f"{what} must be DER bytes, not {type(data).__name__}")
    if not data:
        raise TimestampFormatError(f"{what} is empty")
    if len(data) > MAX_DER_SIZE:
        raise TimestampFormatError(f"{what} is {len(data)} bytes, more than the {MAX_DER_SIZE} accepted")
    if data.lstrip().startswith(b"-----BEGIN"):
        raise TimestampFormatError(f"{what} is PEM text; pass the DER bytes (base64-decode the PEM body)")
    if data[0] != 0x30:
        raise TimestampFormatError(f"{what} is not DER: it does not start with a SEQUENCE")
    try:
        parser.parse(data, strict=True)  # the outer length must match the bytes exactly
    except _ASN1_ERRORS as error:
        raise TimestampFormatError(f"{what} is not valid DER: {_short(error)}") from None
    return data


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _eku_problem(cert: x509.Certificate) -> str | None:
    """Why ``cert`` may not sign time stamps, or None (RFC 3161 section 2.3)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the TSA certificate has no extended key usage (it needs timeStamping, critical)"
    except ValueError as error:  # duplicate or malformed extensions
        return f"the TSA certificate's extensions are malformed: {_short(error)}"
    usages = list(eku.value)
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        return "the TSA certificate's extended key usage does not include timeStamping"
    if len(usages) != 1:
        return "the TSA certificate's extended key usage has other purposes besides timeStamping"
    if not eku.critical:
        return "the TSA certificate's timeStamping extended key usage is not marked critical"
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not (key_usage.digital_signature or key_usage.content_commitment):
        return "the TSA certificate's key usage allows neither digitalSignature nor nonRepudiation"
    return None


# --------------------------------------------------------------------------------------------
# The authority


class TimestampAuthority:
    """An RFC 3161 time-stamp authority signing with ``key`` under ``cert``.

    ``chain`` holds the intermediate (and, if wanted, root) certificates sent along with the
    TSA certificate when a request asks for certificates (``certReq``). ``clock`` gives the
    time (timezone-aware; naive is taken as UTC); ``serial_source`` gives the serial numbers,
    which must be unique for this TSA (default: random 128-bit integers; pass a database
    sequence's ``next`` for a counter). ``accuracy`` (a timedelta) is written into every
    token when given; ``include_tsa_name`` puts the TSA certificate's subject in the ``tsa``
    field. ``rsa_padding`` is ``"pkcs1v15"`` (default, what everyone verifies) or ``"pss"``
    (``openssl ts -verify`` 3.0 cannot check PSS; ``openssl cms -verify`` can);
    ``signature_hash`` defaults to SHA-256 (SHA-384/512 for P-384/P-521 keys).

    The TSA refuses to stamp (``ValueError``; ``systemFailure`` from :meth:`respond`) when the
    clock is outside its certificate's validity.
    """

    def __init__(
        self,
        key: PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        policy_oid: str = DEFAULT_POLICY_OID,
        clock: Callable[[], dt.datetime] = utcnow,
        serial_source: Callable[[], int] | None = None,
        accuracy: dt.timedelta | None = None,
        include_tsa_name: bool = False,
        rsa_padding: str = "pkcs1v15",
        signature_hash: str | None = None,
        imprint_algorithms: Iterable[str] = tuple(IMPRINT_ALGORITHMS),
    ) -> None:
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("the TSA key must be an RSA or EC private key")
        key_spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        cert_spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if key_spki != cert_spki:
            raise ValueError("the TSA key does not belong to the TSA certificate")
        problem = _eku_problem(cert)
        if problem:
            raise ValueError(problem)
        if rsa_padding not in ("pkcs1v15", "pss"):
            raise ValueError("rsa_padding is 'pkcs1v15' or 'pss'")
        asn1.ObjectIdentifier(policy_oid).dump()  # refuse a malformed OID now, not per stamp
        if accuracy is not None and accuracy <= dt.timedelta(0):
            raise ValueError("accuracy must be a positive timedelta")

        self.key = key
        self.cert = cert
        self.chain = tuple(chain)
        self.policy_oid = policy_oid
        self.clock = clock
        self.serial_source = serial_source or _random_serial
        self.accuracy = accuracy
        self.include_tsa_name = include_tsa_name
        self.rsa_padding = rsa_padding
        self.signature_hash = normalize_hash_name(signature_hash) if signature_hash else self._default_hash()
        if self.signature_hash not in _SIGNATURE_HASHES:
            raise ValueError(f"signature hash {signature_hash!r} is not supported")
        self.imprint_algorithms = frozenset(_check_imprint_algorithm(name) for name in imprint_algorithms)

        cert_der = cert.public_bytes(serialization.Encoding.DER)
        self._cert_asn1 = asn1_x509.Certificate.load(cert_der)
        self._chain_asn1 = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in self.chain
        ]
        # The parts that are the same in every token, encoded once: asn1crypto re-encodes
        # structures built from Python values on every dump, loaded ones it passes through.
        ess_cert_id = tsp.ESSCertIDv2({
            # sha256 is the DEFAULT, so asn1crypto leaves hashAlgorithm out, as DER requires
            "hash_algorithm": {"algorithm": "sha256"},
            "cert_hash": hashlib.sha256(cert_der).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName(name="directory_name", value=self._cert_asn1.issuer)],
                "serial_number": self._cert_asn1.serial_number,
            },
        })
        self._ess_attribute_der = cms.CMSAttribute({
            "type": "signing_certificate_v2",
            "values": [tsp.SigningCertificateV2({"certs": [ess_cert_id]})],
        }).dump()
        self._sid_der = cms.IssuerAndSerialNumber({
            "issuer": self._cert_asn1.issuer, "serial_number": self._cert_asn1.serial_number,
        }).dump()
        self._certificates_der = cms.CertificateSet([
            cms.CertificateChoices(name="certificate", value=c) for c in [self._cert_asn1, *self._chain_asn1]
        ]).dump()

    def _default_hash(self) -> str:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return {384: "sha384", 521: "sha512"}.get(self.key.curve.key_size, "sha256")
        return "sha256"

    # ---- stamping

    def stamp_digest(
        self, digest: bytes, algorithm: str = "sha256", *, nonce: int | None = None, cert_req: bool = True
    ) -> bytes:
        """A DER TimeStampToken for ``digest``, the raw hash of the data under ``algorithm``."""
        name = _check_imprint_algorithm(algorithm)
        if name not in self.imprint_algorithms:
            raise ValueError(f"this TSA does not stamp {name} digests")
        digest = _check_digest(digest, name)
        return self._token(name, digest, nonce=nonce, cert_req=cert_req)

    def stamp_data(
        self, data: bytes, algorithm: str = "sha256", *, nonce: int | None = None, cert_req: bool = True
    ) -> bytes:
        """Hash ``data`` and stamp the digest."""
        name = _check_imprint_algorithm(algorithm)
        return self.stamp_digest(_digest_source(bytes(data), name), name, nonce=nonce, cert_req=cert_req)

    def stamp_file(
        self,
        path_or_stream: os.PathLike | str | BinaryIO,
        algorithm: str = "sha256",
        *,
        nonce: int | None = None,
        cert_req: bool = True,
    ) -> bytes:
        """Hash a file (a path, or a binary stream read to its end in 1 MiB chunks) and stamp it."""
        name = _check_imprint_algorithm(algorithm)
        if isinstance(path_or_stream, str):
            path_or_stream = Path(path_or_stream)
        return self.stamp_digest(_digest_source(path_or_stream, name), name, nonce=nonce, cert_req=cert_req)

    def _token(self, algorithm: str, digest: bytes, *, nonce: int | None, cert_req: bool) -> bytes:
        serial = self.serial_source()
        if not isinstance(serial, int) or isinstance(serial, bool) or not 0 < serial < (1 << 160):
            raise ValueError("the serial source must give positive integers of at most 160 bits")
        gen_time = ensure_utc(self.clock())
        if not self.cert.not_valid_before_utc <= gen_time <= self.cert.not_valid_after_utc:
            raise ValueError(f"the TSA certificate is not valid at {gen_time.isoformat()}")
        tst: dict = {
            "version": "v1",
            "policy": self.policy_oid,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
            "serial_number": serial,
            "gen_time": gen_time,
        }
        if self.accuracy is not None:
            tst["accuracy"] = _accuracy_value(self.accuracy)
        if nonce is not None:
            tst["nonce"] = int(nonce)
        if self.include_tsa_name:
            tst["tsa"] = asn1_x509.GeneralName(name="directory_name", value=self._cert_asn1.subject)
        tst_info = tsp.TSTInfo(tst)
        tst_der = tst_info.dump()

        signed_attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({
                "type": "message_digest",
                "values": [hashlib.new(self.signature_hash, tst_der).digest()],
            }),
            cms.CMSAttribute.load(self._ess_attribute_der),
        ])
        # The signature covers the DER SET OF (tag 0x31) that asn1crypto sorts, not the [0] form.
        signature, signature_algorithm = self._sign(signed_attrs.dump())

        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number", value=cms.IssuerAndSerialNumber.load(self._sid_der)
            ),
            "digest_algorithm": {"algorithm": self.signature_hash},
            "signed_attrs": signed_attrs,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        })
        signed_data: dict = {
            "version": "v3",
            "digest_algorithms": [{"algorithm": self.signature_hash}],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info},
            "signer_infos": [signer_info],
        }
        if cert_req:
            signed_data["certificates"] = cms.CertificateSet.load(self._certificates_der)
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)}).dump()

    def _sign(self, data: bytes) -> tuple[bytes, dict]:
        chosen = _CRYPTO_HASHES[self.signature_hash]()
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(chosen)), {"algorithm": f"{self.signature_hash}_ecdsa"}
        if self.rsa_padding == "pss":
            signature = self.key.sign(
                data, padding.PSS(mgf=padding.MGF1(chosen), salt_length=chosen.digest_size), chosen
            )
            return signature, {
                "algorithm": "rsassa_pss",
                "parameters": {
                    "hash_algorithm": {"algorithm": self.signature_hash},
                    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": self.signature_hash}},
                    "salt_length": chosen.digest_size,
                },
            }
        # rsaEncryption with NULL parameters, as OpenSSL writes PKCS#1 v1.5 signer infos
        return self.key.sign(data, padding.PKCS1v15(), chosen), {"algorithm": "rsassa_pkcs1v15", "parameters": None}

    # ---- the protocol

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp``: granted with a token, or
        a rejection naming the PKIFailureInfo (badAlg, badDataFormat, unacceptedPolicy,
        unacceptedExtension, systemFailure). Never raises for a bad request."""
        try:
            request = _parse_request(request_der)
        except TimestampFormatError as error:
            return _rejection("bad_data_format", str(error))
        try:
            name = request["message_imprint"]["hash_algorithm"]["algorithm"].native
            parameters = request["message_imprint"]["hash_algorithm"]["parameters"]
            digest = request["message_imprint"]["hashed_message"].native
            version = request["version"].native
            req_policy = request["req_policy"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            extensions = request["extensions"]
            has_extensions = extensions.native is not None and len(extensions) > 0
        except _ASN1_ERRORS as error:
            return _rejection("bad_data_format", f"the request cannot be read: {_short(error)}")
        if version != "v1":
            return _rejection("bad_data_format", f"request version {version} is not v1")
        name = normalize_hash_name(str(name))
        if name not in IMPRINT_ALGORITHMS or name not in self.imprint_algorithms:
            return _rejection("bad_alg", f"hash algorithm {name} is not accepted")
        if parameters.native is not None:
            return _rejection("bad_alg", "the hash algorithm has parameters")
        if len(digest) != IMPRINT_ALGORITHMS[name]:
            return _rejection(
                "bad_data_format", f"a {name} imprint has {IMPRINT_ALGORITHMS[name]} bytes, not {len(digest)}"
            )
        if req_policy is not None and req_policy != self.policy_oid:
            return _rejection("unaccepted_policy", f"policy {req_policy} is not this TSA's ({self.policy_oid})")
        if has_extensions:
            return _rejection("unaccepted_extensions", "this TSA supports no request extensions")
        try:
            token = self._token(name, digest, nonce=nonce, cert_req=cert_req)
        except Exception:  # the protocol answers systemFailure; the log keeps the cause
            logger.exception("time-stamp signing failed")
            return _rejection("system_failure", "the time stamp could not be made; see the TSA log")
        status = tsp.PKIStatusInfo({"status": "granted"})
        return _TimeStampResp({"status": status, "time_stamp_token": cms.ContentInfo.load(token)}).dump()


def _accuracy_value(accuracy: dt.timedelta) -> dict:
    total_micros = accuracy // dt.timedelta(microseconds=1)
    seconds, rest = divmod(total_micros, 1_000_000)
    millis, micros = divmod(rest, 1000)
    value: dict = {}
    if seconds:
        value["seconds"] = seconds
    if millis:
        value["millis"] = millis
    if micros:
        value["micros"] = micros
    return value


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo({
        "status": "rejection",
        "status_string": [text],
        "fail_info": {failure},
    })
    return _TimeStampResp({"status": status}).dump()


def _parse_request(request_der: bytes) -> tsp.TimeStampReq:
    der = _require_der(request_der, "the time-stamp request")
    try:
        request = tsp.TimeStampReq.load(der, strict=True)
        _ = request.native  # parse everything now, so that errors surface here
    except _ASN1_ERRORS as error:
        raise TimestampFormatError(f"not a TimeStampReq: {_short(error)}") from None
    return request


def parse_request(request_der: bytes) -> dict:
    """The fields of a DER ``TimeStampReq`` (``algorithm``, ``digest``, ``nonce``,
    ``cert_req``, ``policy``), for logging and tests; :class:`TimestampFormatError` if garbage."""
    request = _parse_request(request_der)
    imprint = request["message_imprint"]
    return {
        "algorithm": imprint["hash_algorithm"]["algorithm"].native,
        "digest": imprint["hashed_message"].native,
        "nonce": request["nonce"].native,
        "cert_req": bool(request["cert_req"].native),
        "policy": request["req_policy"].native,
    }


def parse_response(response_der: bytes) -> TimestampReply:
    """Read a DER ``TimeStampResp``; :class:`TimestampFormatError` if it is not one."""
    der = _require_der(response_der, "the time-stamp response")
    try:
        response = _TimeStampResp.load(der, strict=True)
        status = response["status"]
        status_name = status["status"].native
        fail_info = status["fail_info"].native
        texts = status["status_string"].native or []
        token = response["time_stamp_token"]
        token_der = None if isinstance(token, asn1.Void) else token.dump()
    except _ASN1_ERRORS as error:
        raise TimestampFormatError(f"not a TimeStampResp: {_short(error)}") from None
    if isinstance(status_name, int):
        raise TimestampFormatError(f"unknown PKIStatus {status_name}")
    return TimestampReply(
        status=status_name,
        failure=frozenset(name if isinstance(name, str) else f"bit{name}" for name in fail_info or ()),
        status_text="; ".join(texts),
        token=token_der,
    )


# --------------------------------------------------------------------------------------------
# Verification


@dataclass
class _Token:
    """A token taken apart (structure only, nothing verified)."""

    der: bytes
    tst_der: bytes
    tst: dict
    signer_info: cms.SignerInfo
    #: the signed attributes exactly as received (with their [0] tag): the signature covers
    #: these bytes, so they are taken before anything is parsed (asn1crypto may re-encode a
    #: structure once its fields have been read)
    signed_attrs_der: bytes | None
    certificates: list[tuple[x509.Certificate, asn1_x509.Certificate]]


def _parse_token(der: bytes) -> _Token:
    try:
        content_info = cms.ContentInfo.load(der, strict=True)
        if content_info["content_type"].native != "signed_data":
            raise TimestampFormatError(
                f"the token is CMS {content_info['content_type'].native}, not SignedData"
            )
        signed_data = content_info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampFormatError(
                f"the signed content is {encap['content_type'].native}, not id-ct-TSTInfo"
            )
        content = encap["content"]
        if isinstance(content, asn1.Void):
            raise TimestampFormatError("the token has no encapsulated TSTInfo")
        tst_der = bytes(content)
        tst_info = tsp.TSTInfo.load(tst_der, strict=True)
        tst = tst_info.native
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise TimestampFormatError(f"a time-stamp token has one signer, this one {len(signer_infos)}")
        signer_info = signer_infos[0]
        signed_attrs = signer_info["signed_attrs"]
        signed_attrs_der = None if isinstance(signed_attrs, asn1.Void) else signed_attrs.dump()
        certificates = []
        choices = signed_data["certificates"]
        for choice in [] if isinstance(choices, asn1.Void) else choices:
            if choice.name != "certificate":
                continue  # attribute certificates and other formats play no part here
            cert_der = choice.chosen.dump()
            certificates.append((x509.load_der_x509_certificate(cert_der), asn1_x509.Certificate.load(cert_der)))
    except TimestampFormatError:
        raise
    except (*_ASN1_ERRORS, x509.InvalidVersion, UnsupportedAlgorithm) as error:
        raise TimestampFormatError(f"not a time-stamp token: {_short(error)}") from None
    if tst["version"] != "v1":
        raise TimestampFormatError(f"TSTInfo version {tst['version']} is not v1")
    return _Token(der=der, tst_der=tst_der, tst=tst, signer_info=signer_info,
                  signed_attrs_der=signed_attrs_der, certificates=certificates)


def _attribute(signed_attrs: cms.CMSAttributes, name: str) -> list | None:
    """The values of the signed attribute ``name``; None when absent. A type present twice is
    refused (RFC 5652 section 5.3)."""
    found = [attr for attr in signed_attrs if attr["type"].native == name]
    if not found:
        return None
    if len(found) > 1:
        raise _Invalid(f"the signed attribute {name} appears more than once")
    return list(found[0]["values"])


class _Invalid(Exception):
    """A check failed; the message is the reason."""


def _find_signer(token: _Token, extra: Sequence[x509.Certificate]) -> tuple[x509.Certificate, asn1_x509.Certificate]:
    sid = token.signer_info["sid"]
    # the pinned certificates first: a look-alike in the token must not shadow them
    candidates = [
        (c, asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))) for c in extra
    ] + list(token.certificates)
    for cert, cert_asn1 in candidates:
        if sid.name == "issuer_and_serial_number":
            if (
                cert_asn1.serial_number == sid.chosen["serial_number"].native
                and cert_asn1.issuer == sid.chosen["issuer"]
            ):
                return cert, cert_asn1
        elif sid.name == "subject_key_identifier":
            if cert_asn1.key_identifier is not None and cert_asn1.key_identifier == sid.chosen.native:
                return cert, cert_asn1
    raise _Invalid(
        "the TSA certificate is neither in the token nor among the given certificates"
        " (ask for certReq, or pass trusted_tsa_certs)"
    )


def _verify_signature(cert: x509.Certificate, signer_info: cms.SignerInfo, signed_bytes: bytes) -> None:
    algorithm = signer_info["signature_algorithm"]
    name = algorithm["algorithm"].native
    if name not in _SIGNATURE_ALGORITHMS:
        raise _Invalid(f"signature algorithm {name} is not supported")
    scheme, hash_name = _SIGNATURE_ALGORITHMS[name]
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if scheme == "pss":
        params = algorithm["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise _Invalid(f"PSS mask generation {mgf['algorithm'].native} is not supported")
        mgf_hash = mgf["parameters"]["algorithm"].native
        salt_length = params["salt_length"].native
        if params["trailer_field"].native != "trailer_field_bc":
            raise _Invalid("PSS trailer field is not 1")
        if mgf_hash not in _SIGNATURE_HASHES:
            raise _Invalid(f"PSS MGF1 hash {mgf_hash} is not supported")
    hash_name = hash_name or digest_name
    if hash_name not in _SIGNATURE_HASHES:
        raise _Invalid(f"signature hash {hash_name} is not accepted")
    chosen = _CRYPTO_HASHES[hash_name]()
    signature = signer_info["signature"].native
    try:
        public_key = cert.public_key()
        if scheme in ("pkcs1v15", "pss"):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise _Invalid(f"the signature is RSA but the TSA certificate's key is {type(public_key).__name__}")
            if scheme == "pss":
                pad = padding.PSS(mgf=padding.MGF1(_CRYPTO_HASHES[mgf_hash]()), salt_length=salt_length)
            else:
                pad = padding.PKCS1v15()
            public_key.verify(signature, signed_bytes, pad, chosen)
        else:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise _Invalid(f"the signature is ECDSA but the TSA certificate's key is {type(public_key).__name__}")
            public_key.verify(signature, signed_bytes, ec.ECDSA(chosen))
    except InvalidSignature:
        raise _Invalid("the TSA's signature over the signed attributes does not verify") from None
    except (UnsupportedAlgorithm, ValueError) as error:
        raise _Invalid(f"the signature cannot be checked with the TSA certificate: {_short(error)}") from None


def _check_ess(signed_attrs: cms.CMSAttributes, cert_der: bytes, cert_asn1: asn1_x509.Certificate) -> None:
    """The signing-certificate attribute (ESSCertIDv2, or the SHA-1 ESSCertID) must name the
    certificate that verified the signature: its first certificate identifier is the signer's."""
    v2 = _attribute(signed_attrs, "signing_certificate_v2")
    v1 = _attribute(signed_attrs, "signing_certificate")
    if v2 is None and v1 is None:
        raise _Invalid("the token has no signingCertificate(V2) attribute binding it to the TSA certificate")
    for values, label in ((v2, "ESSCertIDv2"), (v1, "ESSCertID")):
        if values is None:
            continue
        if len(values) != 1 or len(values[0]["certs"]) == 0:
            raise _Invalid(f"the {label} attribute is malformed")
        cert_id = values[0]["certs"][0]
        hash_name = cert_id["hash_algorithm"]["algorithm"].native if label == "ESSCertIDv2" else "sha1"
        if hash_name not in _CRYPTO_HASHES:
            raise _Invalid(f"the {label} hash algorithm {hash_name} is not supported")
        if hashlib.new(hash_name, cert_der).digest() != cert_id["cert_hash"].native:
            raise _Invalid(f"the {label} certificate hash does not match the TSA certificate")
        issuer_serial = cert_id["issuer_serial"]
        if not isinstance(issuer_serial, asn1.Void):
            if issuer_serial["serial_number"].native != cert_asn1.serial_number:
                raise _Invalid(f"the {label} serial number does not match the TSA certificate")
            names = [n.chosen for n in issuer_serial["issuer"] if n.name == "directory_name"]
            if not any(n == cert_asn1.issuer for n in names):
                raise _Invalid(f"the {label} issuer does not match the TSA certificate")


def verify_token(
    token_or_response: bytes,
    *,
    data: DataSource | None = None,
    digest: bytes | None = None,
    algorithm: str | None = None,
    nonce: int | None = None,
    trusted_tsa_certs: Sequence[x509.Certificate] | None = None,
) -> TimestampCheck:
    """Check a DER TimeStampToken, or a DER TimeStampResp holding one.

    Give the stamped ``data`` (bytes, a binary stream or a ``pathlib.Path``; it is hashed
    with the token's imprint algorithm) or its ``digest`` (raw bytes; pass ``algorithm`` too
    to insist on the hash algorithm). ``nonce`` is the nonce sent in the request, if any.
    ``trusted_tsa_certs``, when given, pins the TSA: the signing certificate must be one of
    them (they are also where the signer is looked for when the token carries no
    certificates). Without it any certificate that verifies the signature is accepted, so
    validate ``check.tsa_cert`` (with ``check.certificates``) against the trusted roots.

    Checked: the structure (:class:`TimestampFormatError` when it is not a token at all), the
    signed attributes (contentType, messageDigest over the encapsulated TSTInfo), the signature
    with the TSA certificate (RSA PKCS#1 v1.5 or PSS, ECDSA), the ESSCertID(v2) binding, the
    certificate's sole critical timeStamping EKU and its validity at genTime, the message
    imprint and the nonce.
    """
    if (data is None) == (digest is None):
        raise TypeError("give either data or digest (not both), to check the message imprint against")
    if digest is not None and not isinstance(digest, (bytes, bytearray, memoryview)):
        raise TypeError("the digest must be bytes (the raw hash, not hex)")
    if data is not None and not (
        isinstance(data, (bytes, bytearray, memoryview, os.PathLike)) or hasattr(data, "read")
    ):
        raise TypeError("data must be bytes, a binary stream or a pathlib.Path (a str is ambiguous)")
    der = _require_der(token_or_response, "the time-stamp token")
    _, _, _, _, contents, _ = parser.parse(der, strict=True)
    if contents[:1] == b"\x30":  # TimeStampResp: SEQUENCE { PKIStatusInfo SEQUENCE, ... }
        reply = parse_response(der)
        if not reply.granted:
            failure = ", ".join(sorted(reply.failure)) or "no failure info"
            return TimestampCheck(False, f"the TSA did not grant the request: {reply.status} ({failure})"
                                  + (f": {reply.status_text}" if reply.status_text else ""))
        if reply.token is None:
            raise TimestampFormatError("the response is granted but holds no token")
        der = reply.token
    token = _parse_token(der)
    tst = token.tst
    imprint = tst["message_imprint"]
    accuracy = tst.get("accuracy")
    facts = dict(
        gen_time=tst["gen_time"],
        serial=tst["serial_number"],
        policy=tst["policy"],
        hash_algorithm=imprint["hash_algorithm"]["algorithm"],
        message_imprint=imprint["hashed_message"],
        nonce=tst.get("nonce"),
        accuracy=None if accuracy is None else dt.timedelta(
            seconds=accuracy.get("seconds") or 0,
            milliseconds=accuracy.get("millis") or 0,
            microseconds=accuracy.get("micros") or 0,
        ),
        token=der,
    )
    tsa_cert = None
    certificates = tuple(cert for cert, _ in token.certificates)
    try:
        tsa_cert, tsa_asn1 = _find_signer(token, trusted_tsa_certs or ())
        certificates = (tsa_cert, *[c for c in certificates if c != tsa_cert])
        _check_token(token, tsa_cert, tsa_asn1, trusted_tsa_certs)
    except _Invalid as problem:
        return TimestampCheck(False, str(problem), tsa_cert=tsa_cert, certificates=certificates, **facts)
    except _ASN1_ERRORS as error:
        raise TimestampFormatError(f"the token is malformed: {_short(error)}") from None
    try:
        _check_imprint(facts["hash_algorithm"], facts["message_imprint"], data, digest, algorithm)
        if nonce is not None and facts["nonce"] != nonce:
            raise _Invalid(f"the token's nonce {facts['nonce']} is not the request's {nonce}")
    except _Invalid as problem:
        return TimestampCheck(False, str(problem), tsa_cert=tsa_cert, certificates=certificates, **facts)
    return TimestampCheck(True, "ok", tsa_cert=tsa_cert, certificates=certificates, **facts)


def _check_token(
    token: _Token,
    tsa_cert: x509.Certificate,
    tsa_asn1: asn1_x509.Certificate,
    trusted: Sequence[x509.Certificate] | None,
) -> None:
    signer_info = token.signer_info
    signed_attrs = signer_info["signed_attrs"]
    if token.signed_attrs_der is None or len(signed_attrs) == 0:
        raise _Invalid("the token has no signed attributes")
    content_type = _attribute(signed_attrs, "content_type")
    if content_type is None or len(content_type) != 1 or content_type[0].native != "tst_info":
        raise _Invalid("the signed contentType attribute is missing or not id-ct-TSTInfo")
    message_digest = _attribute(signed_attrs, "message_digest")
    if message_digest is None or len(message_digest) != 1:
        raise _Invalid("the signed messageDigest attribute is missing")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _SIGNATURE_HASHES:
        raise _Invalid(f"the signer's digest algorithm {digest_name} is not accepted")
    if hashlib.new(digest_name, token.tst_der).digest() != message_digest[0].native:
        raise _Invalid("the messageDigest attribute does not match the encapsulated TSTInfo (content altered)")
    # The signature covers the attributes as a DER SET OF: the same bytes with tag 0x31.
    _verify_signature(tsa_cert, signer_info, b"\x31" + token.signed_attrs_der[1:])
    tsa_der = tsa_cert.public_bytes(serialization.Encoding.DER)
    _check_ess(signed_attrs, tsa_der, tsa_asn1)
    problem = _eku_problem(tsa_cert)
    if problem:
        raise _Invalid(problem)
    gen_time = token.tst["gen_time"]
    if not tsa_cert.not_valid_before_utc <= gen_time <= tsa_cert.not_valid_after_utc:
        raise _Invalid(f"the TSA certificate was not valid at genTime {gen_time.isoformat()}")
    if trusted is not None and not any(
        c.public_bytes(serialization.Encoding.DER) == tsa_der for c in trusted
    ):
        raise _Invalid("the TSA certificate is not among the trusted TSA certificates")


def _check_imprint(
    token_algorithm: str,
    token_digest: bytes,
    data: DataSource | None,
    digest: bytes | None,
    algorithm: str | None,
) -> None:
    if token_algorithm not in IMPRINT_ALGORITHMS:
        raise _Invalid(f"the message imprint uses {token_algorithm}, which is not accepted")
    if algorithm is not None and normalize_hash_name(algorithm) != token_algorithm:
        raise _Invalid(f"the message imprint is {token_algorithm}, not the expected {normalize_hash_name(algorithm)}")
    if data is not None:
        ours = _digest_source(data, token_algorithm)
        if ours != token_digest:
            raise _Invalid(f"message imprint mismatch: the data's {token_algorithm} is not the stamped one")
    elif bytes(digest) != token_digest:
        raise _Invalid(f"message imprint mismatch: the given digest is not the stamped {token_algorithm}")

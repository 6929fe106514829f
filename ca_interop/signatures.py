"""Detached CMS signatures (RFC 5652 SignedData) over files of any size.

:func:`sign_detached` makes a DER ``ContentInfo`` holding a detached SignedData: one
SignerInfo identified by issuerAndSerialNumber, signed attributes contentType,
signingTime and messageDigest, the signer's certificate and the given chain. The
content is streamed through the digest, never held in memory, so bytes, a binary file
object, a path or an iterable of byte chunks all do.

:func:`verify_detached` parses a signature strictly (anything that is not a single-signer
detached SignedData is refused with :class:`SignatureFormatError`, never a parser
traceback), finds the signer's certificate among the included ones, checks the signature
over the signed attributes, then streams the content through the digest and compares it
with messageDigest. It answers with a :class:`SignatureCheck`. It does **not** validate
the certificate path, revocation or key usage: that is the certificate validator's job,
fed with ``check.signer_cert``, ``check.other_certs`` and ``check.signing_time``.

Algorithms are looked up in two small registries keyed by OID:

* :data:`DIGEST_ALGORITHMS` (:func:`register_digest_algorithm`): SHA-256/384/512 and
  SM3 (1.2.156.10197.1.401);
* :data:`SIGNATURE_SCHEMES` (:func:`register_signature_scheme`), keyed by the
  SignerInfo's signatureAlgorithm OID: RSA PKCS#1 v1.5 (rsaEncryption and
  shaNNNWithRSAEncryption), RSASSA-PSS, ECDSA (P-256, P-384, P-521) and SM2 with SM3
  (sm2-with-sm3 1.2.156.10197.1.501, and sm2sign 1.2.156.10197.1.301.1 as GM/T 0010
  signers write it).

A scheme's ``verify`` gets the signer's SubjectPublicKeyInfo (asn1crypto), the signature,
the signed message (the DER of the signed attributes, not a pre-computed hash: SM2 needs
the message to mix in its Z value) and the digest algorithm.

SM2 (GM/T 0010, GB/T 35275): the signature is SM2 over the DER of the signed attributes
(the SET OF), hashed as SM3(Z || attributes) with Z computed from the default signer ID
"1234567812345678" (GM/T 0009), as ``openssl dgst -sm3 -sigopt distid:1234567812345678``
does; the digest algorithm must be SM3. :func:`sign_detached` takes a
:class:`ca_interop.gm.Sm2PrivateKey` for it (:func:`load_signing_key` reads one from a
key file). The signer's certificate stays a pyca/cryptography ``Certificate`` in
:class:`SignatureCheck`: cryptography parses SM2 certificates, it only cannot use their
keys, and this module takes the key from the asn1crypto SubjectPublicKeyInfo.

Content types: bidhall writes the RFC 5652 OIDs (id-signedData, id-data) for SM2 too.
GM/T 0010 defines its own OIDs (signedData 1.2.156.10197.6.1.4.2.2, data
1.2.156.10197.6.1.4.2.1) for exactly the same ASN.1 structures, so they add nothing a
verifier needs (the SM3 and SM2 algorithm identifiers already say the signature is a GM
one), while general CMS toolkits know only the RFC 5652 ones (OpenSSL 3.0 ``cms
-cmsout -print`` shows a GM/T 0010 SignedData as undefined opaque content, asn1crypto
leaves it unparsed): with the standard OIDs anyone can parse and inspect our signatures
and check the SM2 signature over the extracted attributes. On verification the GM/T 0010
OIDs are accepted as well, for the outer and the encapsulated content type (the
contentType attribute must still equal the encapsulated type), so that signatures made
by GM tools (GmSSL, CA clients) verify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, Union

from asn1crypto import algos, cms
from asn1crypto import core as asn1
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ca_interop import gm
from core.clock import ensure_utc, utcnow

__all__ = [
    "CHUNK_SIZE",
    "DIGEST_ALGORITHMS",
    "MAX_SIGNATURE_SIZE",
    "SIGNATURE_SCHEMES",
    "Content",
    "DigestAlgorithm",
    "SignatureCheck",
    "SignatureFormatError",
    "SignatureRejected",
    "SignatureScheme",
    "UnsupportedSignatureError",
    "load_signing_key",
    "register_digest_algorithm",
    "register_signature_scheme",
    "sign_detached",
    "verify_detached",
]

CHUNK_SIZE = 1 << 20
"""How much of a file is read at a time while digesting it."""

MAX_SIGNATURE_SIZE = 8 << 20
"""Signatures larger than this are refused before parsing (a signature with a long chain
is a few tens of kilobytes)."""

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
GM_DATA = "1.2.156.10197.6.1.4.2.1"
GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
"""GM/T 0010 content types: accepted on verification, never written (see the module
documentation)."""
SIGNED_DATA_TYPES = (ID_SIGNED_DATA, GM_SIGNED_DATA)
DATA_TYPES = (ID_DATA, GM_DATA)
OID_SM2_SIGN = "1.2.156.10197.1.301.1"
"""sm2-1, "SM2 digital signature" (GM/T 0006): the signatureAlgorithm GM/T 0010 signers
write; sm2-with-sm3 (:data:`ca_interop.gm.OID_SM2_WITH_SM3`) is the other one seen."""
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"

CONTENT_TYPE_NAMES = {
    ID_DATA: "Data",
    ID_SIGNED_DATA: "SignedData",
    "1.2.840.113549.1.7.3": "EnvelopedData",
    "1.2.840.113549.1.7.4": "SignedAndEnvelopedData",
    "1.2.840.113549.1.7.5": "DigestedData",
    "1.2.840.113549.1.7.6": "EncryptedData",
    "1.2.840.113549.1.9.16.1.2": "AuthenticatedData",
    "1.2.840.113549.1.9.16.1.4": "TSTInfo",
    "1.2.840.113549.1.9.16.1.9": "CompressedData",
    "1.2.840.113549.1.9.16.1.23": "AuthEnvelopedData",
    GM_DATA: "GM/T 0010 Data",
    GM_SIGNED_DATA: "GM/T 0010 SignedData",
}

_GM_ALGORITHM_NAMES = {gm.OID_SM3: "sm3", gm.OID_SM2_WITH_SM3: "sm2_with_sm3", OID_SM2_SIGN: "sm2sign"}

Content = Union[bytes, bytearray, memoryview, BinaryIO, Iterable[bytes], "os.PathLike[str]"]
"""What can be signed or verified: bytes, a binary file object (read from its current
position to the end), a path, or an iterable of byte chunks."""

Certificate = Union[x509.Certificate, asn1_x509.Certificate, bytes]
PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, gm.Sm2PrivateKey]


class SignatureFormatError(ValueError):
    """The signature is not a well-formed detached CMS SignedData this module can judge."""


class UnsupportedSignatureError(SignatureFormatError):
    """The signature is well formed but uses something not accepted here (an unknown or
    weak algorithm, several signers, no signed attributes)."""


class SignatureRejected(Exception):
    """Raised by a :class:`SignatureScheme`'s ``verify`` when the signature cannot be right
    for a reason other than the mathematics (the key does not fit the algorithm, the
    parameters disagree with the digest algorithm); the message becomes the check's
    ``reason``. A signature that simply does not verify raises ``InvalidSignature``."""


# --- algorithm registries -------------------------------------------------------------


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True)
class DigestAlgorithm:
    """A digest algorithm: ``new()`` makes a streaming hash (hashlib-like), ``crypto_hash()``
    the same algorithm for cryptography's signature APIs."""

    name: str
    oid: str
    new: Callable[[], _Hash]
    crypto_hash: Callable[[], hashes.HashAlgorithm]


class VerifyFunction(Protocol):
    def __call__(
        self,
        public_key: asn1_keys.PublicKeyInfo,
        signature: bytes,
        message: bytes,
        digest: DigestAlgorithm,
        parameters: Any,
    ) -> None: ...


@dataclass(frozen=True)
class SignatureScheme:
    """How to verify one signatureAlgorithm OID.

    ``digest`` is the digest the OID itself names (``sha256`` for
    sha256WithRSAEncryption), or ``None`` when the OID leaves it to the SignerInfo's
    digestAlgorithm (rsaEncryption, RSASSA-PSS whose parameters are checked by ``verify``).
    """

    name: str
    verify: VerifyFunction
    digest: str | None = None


DIGEST_ALGORITHMS: dict[str, DigestAlgorithm] = {}
SIGNATURE_SCHEMES: dict[str, SignatureScheme] = {}


def register_digest_algorithm(algorithm: DigestAlgorithm) -> None:
    DIGEST_ALGORITHMS[algorithm.oid] = algorithm


def register_signature_scheme(oid: str, scheme: SignatureScheme) -> None:
    SIGNATURE_SCHEMES[oid] = scheme


for _name, _oid, _hash in (
    ("sha256", "2.16.840.1.101.3.4.2.1", hashes.SHA256),
    ("sha384", "2.16.840.1.101.3.4.2.2", hashes.SHA384),
    ("sha512", "2.16.840.1.101.3.4.2.3", hashes.SHA512),
):
    register_digest_algorithm(
        DigestAlgorithm(_name, _oid, getattr(hashlib, _name), _hash)  # type: ignore[arg-type]
    )
# SM3 streams through gm.Sm3Hasher (cryptography's SM3, incremental), for SM2 signatures.
register_digest_algorithm(DigestAlgorithm("sm3", gm.OID_SM3, gm.Sm3Hasher, hashes.SM3))


def _load_public_key(public_key: asn1_keys.PublicKeyInfo) -> Any:
    try:
        return serialization.load_der_public_key(public_key.dump())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureRejected(f"the signer's public key cannot be used: {exc}") from None


def _key_kind(public_key: asn1_keys.PublicKeyInfo) -> str:
    return str(public_key["algorithm"]["algorithm"].native)


def _verify_rsa_pkcs1v15(public_key, signature, message, digest, parameters) -> None:
    key = _load_public_key(public_key)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureRejected(f"an RSA signature cannot come from the signer's {_key_kind(public_key)} key")
    key.verify(signature, message, padding.PKCS1v15(), digest.crypto_hash())


def _verify_rsa_pss(public_key, signature, message, digest, parameters) -> None:
    key = _load_public_key(public_key)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureRejected(f"an RSA-PSS signature cannot come from the signer's {_key_kind(public_key)} key")
    if isinstance(parameters, asn1.Void) or parameters is None:
        params = algos.RSASSAPSSParams({})  # all defaults: SHA-1, refused below
    elif isinstance(parameters, algos.RSASSAPSSParams):
        params = parameters
    else:
        params = algos.RSASSAPSSParams.load(parameters.dump())
    hash_oid = params["hash_algorithm"]["algorithm"].dotted
    if hash_oid != digest.oid:
        raise SignatureRejected(
            f"the RSASSA-PSS parameters name hash {_oid_name(hash_oid)} but the digest algorithm is {digest.name}"
        )
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].dotted != "1.2.840.113549.1.1.8":
        raise SignatureRejected(f"the RSASSA-PSS mask generation function {mgf['algorithm'].dotted} is not MGF1")
    mgf_digest = DIGEST_ALGORITHMS.get(mgf["parameters"]["algorithm"].dotted)
    if mgf_digest is None:
        raise SignatureRejected(
            f"the RSASSA-PSS MGF1 hash {_oid_name(mgf['parameters']['algorithm'].dotted)} is not accepted"
        )
    if params["trailer_field"].native not in (1, "trailer_field_bc"):
        raise SignatureRejected("the RSASSA-PSS trailer field is not 1")
    salt_length = int(params["salt_length"].native)
    key.verify(
        signature,
        message,
        padding.PSS(mgf=padding.MGF1(mgf_digest.crypto_hash()), salt_length=salt_length),
        digest.crypto_hash(),
    )


_ECDSA_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def _verify_ecdsa(public_key, signature, message, digest, parameters) -> None:
    key = _load_public_key(public_key)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureRejected(f"an ECDSA signature cannot come from the signer's {_key_kind(public_key)} key")
    if key.curve.name not in _ECDSA_CURVES:
        raise SignatureRejected(f"the signer's curve {key.curve.name} is not accepted for ECDSA")
    key.verify(signature, message, ec.ECDSA(digest.crypto_hash()))


def _verify_sm2(public_key, signature, message, digest, parameters) -> None:
    """SM2 over SM3(Z || message), Z from the default signer ID (GM/T 0009, GM/T 0010)."""
    if digest.oid != gm.OID_SM3:
        raise SignatureRejected(f"an SM2 signature is made with SM3, not {digest.name}")
    if not _absent_or_null(parameters):
        raise SignatureRejected("the SM2 signature algorithm has parameters; none are defined")
    try:
        key = gm.sm2_public_key_from_spki(public_key)
    except gm.GmError as exc:
        if _key_kind(public_key) != "ec":
            raise SignatureRejected(
                f"an SM2 signature cannot come from the signer's {_key_kind(public_key)} key"
            ) from None
        raise SignatureRejected(f"the signer's key cannot be used for SM2: {exc}") from None
    if not gm.sm2_verify(key, message, bytes(signature), gm.SM2_DEFAULT_USER_ID):
        raise InvalidSignature


def _absent_or_null(parameters: Any) -> bool:
    if parameters is None or isinstance(parameters, (asn1.Void, asn1.Null)):
        return True
    try:
        return parameters.native is None
    except (ValueError, TypeError, KeyError, IndexError):
        return False


_RSA = "1.2.840.113549.1.1."
_ECDSA = "1.2.840.10045."
for _oid, _scheme in {
    _RSA + "1": SignatureScheme("rsassa_pkcs1v15", _verify_rsa_pkcs1v15),  # rsaEncryption (what OpenSSL writes)
    _RSA + "11": SignatureScheme("rsassa_pkcs1v15", _verify_rsa_pkcs1v15, "sha256"),
    _RSA + "12": SignatureScheme("rsassa_pkcs1v15", _verify_rsa_pkcs1v15, "sha384"),
    _RSA + "13": SignatureScheme("rsassa_pkcs1v15", _verify_rsa_pkcs1v15, "sha512"),
    _RSA + "10": SignatureScheme("rsassa_pss", _verify_rsa_pss),
    _ECDSA + "2.1": SignatureScheme("ecdsa", _verify_ecdsa),  # id-ecPublicKey, accepted by OpenSSL too
    _ECDSA + "4.3.2": SignatureScheme("ecdsa", _verify_ecdsa, "sha256"),
    _ECDSA + "4.3.3": SignatureScheme("ecdsa", _verify_ecdsa, "sha384"),
    _ECDSA + "4.3.4": SignatureScheme("ecdsa", _verify_ecdsa, "sha512"),
    gm.OID_SM2_WITH_SM3: SignatureScheme("sm2", _verify_sm2, "sm3"),
    OID_SM2_SIGN: SignatureScheme("sm2", _verify_sm2, "sm3"),  # GM/T 0010 as written in the wild
}.items():
    register_signature_scheme(_oid, _scheme)


def _oid_name(oid: str) -> str:
    """A readable name for an OID (``sha1 (1.3.14.3.2.26)``) for messages."""
    for mapping in (algos.DigestAlgorithmId._map, algos.SignedDigestAlgorithmId._map, CONTENT_TYPE_NAMES,
                    _GM_ALGORITHM_NAMES):
        if oid in mapping:
            return f"{mapping[oid]} ({oid})"
    return oid


# --- content streaming -----------------------------------------------------------------


def _digest_content(content: Content, digest: DigestAlgorithm) -> bytes:
    """Stream ``content`` through ``digest``; at most one chunk is in memory at a time."""
    return _digest_chunks(_chunks(content), digest)


def _digest_chunks(chunks: Iterator[bytes | bytearray | memoryview], digest: DigestAlgorithm) -> bytes:
    hasher = digest.new()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest()


def _chunks(content: Content) -> Iterator[bytes | bytearray | memoryview]:
    # Type checks happen here, eagerly, before any signature work is done.
    if isinstance(content, (bytes, bytearray, memoryview)):
        return iter((content,))
    if isinstance(content, str):
        raise TypeError("the content is text (str): pass bytes, a binary file, a path or an iterable of bytes")
    if isinstance(content, os.PathLike):
        return _read_path(content)
    if isinstance(content, io.TextIOBase):
        raise TypeError("the file is open in text mode: open it in binary mode ('rb')")
    if callable(getattr(content, "read", None)):
        return _read_stream(content)  # type: ignore[arg-type]
    try:
        iterator = iter(content)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"cannot read content from a {type(content).__name__}: "
            "pass bytes, a binary file, a path or an iterable of bytes"
        ) from None
    return _checked_chunks(iterator)


def _read_path(path: os.PathLike[str]) -> Iterator[bytes | memoryview]:
    with open(path, "rb") as stream:
        yield from _read_stream(stream)


def _read_stream(stream: BinaryIO) -> Iterator[bytes | memoryview]:
    readinto = getattr(stream, "readinto", None)
    if callable(readinto):
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while True:
            count = readinto(view)
            if count is None:
                raise TypeError("the file is non-blocking and has no data ready: pass a blocking binary file")
            if not count:
                return
            yield view[:count]
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if isinstance(chunk, str):
            raise TypeError("the file is open in text mode: open it in binary mode ('rb')")
        if not chunk:
            return
        yield chunk


def _checked_chunks(iterator: Iterator[Any]) -> Iterator[bytes | bytearray | memoryview]:
    for chunk in iterator:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"the content's chunks must be bytes, got a {type(chunk).__name__}")
        yield chunk


# --- signing ------------------------------------------------------------------------------


def sign_detached(
    data_or_stream: Content,
    key: PrivateKey,
    cert: Certificate,
    *,
    chain: Iterable[Certificate] = (),
    signing_time: dt.datetime | None = None,
    digest_algorithm: str | None = None,
    rsa_pss: bool = False,
) -> bytes:
    """A DER ``ContentInfo`` with a detached SignedData over ``data_or_stream``.

    ``key`` is an RSA, EC or SM2 (:class:`ca_interop.gm.Sm2PrivateKey`) private key
    matching ``cert``; ``cert`` and ``chain`` are pyca/cryptography or asn1crypto
    certificates, or DER or PEM bytes (SM2 certificates in any of these forms). ``chain``
    adds certificates (intermediates, the root) to the certificates set. ``signing_time``
    defaults to now and is truncated to whole seconds (UTCTime until 2049).
    ``digest_algorithm`` is ``sha256``, ``sha384`` or ``sha512`` for RSA and EC keys (by
    default SHA-384 for P-384 keys, SHA-512 for P-521 keys, SHA-256 otherwise) and
    ``sm3``, the default and only choice, for SM2 keys. RSA keys sign with PKCS#1 v1.5
    unless ``rsa_pss`` (then RSASSA-PSS with MGF1 of the same hash and a salt as long as
    the hash). SM2 keys sign with sm2-with-sm3 (1.2.156.10197.1.501) under the default
    signer ID "1234567812345678"; the content types are still the RFC 5652 ones.
    """
    signer = _asn1_cert(cert)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, gm.Sm2PrivateKey)):
        raise TypeError(f"cannot sign with a {type(key).__name__}: an RSA, EC or SM2 private key is needed")
    if not _key_fits_certificate(key, signer["tbs_certificate"]["subject_public_key_info"]):
        raise ValueError("the private key does not belong to the signer's certificate")
    if rsa_pss and not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("RSASSA-PSS needs an RSA key")
    digest = _signing_digest(key, digest_algorithm)

    message_digest = _digest_content(data_or_stream, digest)
    moment = ensure_utc(signing_time or utcnow()).replace(microsecond=0)
    time_choice = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({time_choice: moment})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
    ])
    # The signature covers the attributes' DER with the SET OF tag (RFC 5652 5.4);
    # asn1crypto sorts SET OF members, as DER requires.
    to_sign = signed_attrs.dump(force=True)
    signature_algorithm, signature = _sign(key, to_sign, digest, rsa_pss)

    certificates: list[asn1_x509.Certificate] = []
    seen: set[bytes] = set()
    for certificate in (signer, *(_asn1_cert(c) for c in chain)):
        der = certificate.dump()
        if der not in seen:
            seen.add(der)
            certificates.append(certificate)

    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({
            "issuer_and_serial_number": cms.IssuerAndSerialNumber({
                "issuer": signer.issuer,
                "serial_number": signer.serial_number,
            }),
        }),
        "digest_algorithm": _digest_algorithm_id(digest),
        "signed_attrs": signed_attrs,
        "signature_algorithm": signature_algorithm,
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [_digest_algorithm_id(digest)],
        "encap_content_info": {"content_type": "data"},  # no eContent: detached
        "certificates": [cms.CertificateChoices({"certificate": c}) for c in certificates],
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def _digest_algorithm_id(digest: DigestAlgorithm) -> algos.DigestAlgorithm:
    # Parameters absent, as RFC 5754 prefers for SHA-2 (and as OpenSSL writes them).
    return algos.DigestAlgorithm({"algorithm": digest.oid, "parameters": None})


def _key_fits_certificate(key: PrivateKey, spki: asn1_keys.PublicKeyInfo) -> bool:
    if isinstance(key, gm.Sm2PrivateKey):
        try:
            return gm.sm2_public_key_from_spki(spki) == key.public_key
        except gm.GmError:  # not an SM2 certificate
            return False
    try:
        return key.public_key() == serialization.load_der_public_key(spki.dump())
    except (ValueError, UnsupportedAlgorithm):  # e.g. an SM2 certificate, whose curve cryptography lacks
        return False


_SHA2 = ("sha256", "sha384", "sha512")


def _signing_digest(key: PrivateKey, name: str | None) -> DigestAlgorithm:
    if isinstance(key, gm.Sm2PrivateKey):
        if name is not None and name.lower().replace("-", "") != "sm3":
            raise ValueError(f"an SM2 key signs with SM3, not {name!r}")
        return DIGEST_ALGORITHMS[gm.OID_SM3]
    if name is None:
        name = "sha256"
        if isinstance(key, ec.EllipticCurvePrivateKey):
            name = {"secp384r1": "sha384", "secp521r1": "sha512"}.get(key.curve.name, "sha256")
    wanted = name.lower().replace("-", "")
    for digest in DIGEST_ALGORITHMS.values():
        if digest.name == wanted and wanted in _SHA2:
            return digest
    raise ValueError(f"unknown digest algorithm {name!r} for an RSA or EC key: sha256, sha384 or sha512")


def _sign(
    key: PrivateKey, message: bytes, digest: DigestAlgorithm, rsa_pss: bool
) -> tuple[algos.SignedDigestAlgorithm, bytes]:
    if isinstance(key, rsa.RSAPrivateKey):
        if rsa_pss:
            size = digest.crypto_hash().digest_size
            params = algos.RSASSAPSSParams({
                "hash_algorithm": {"algorithm": digest.oid},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest.oid}},
                "salt_length": size,
                "trailer_field": "trailer_field_bc",
            })
            pss = padding.PSS(mgf=padding.MGF1(digest.crypto_hash()), salt_length=size)
            algorithm = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
            return algorithm, key.sign(message, pss, digest.crypto_hash())
        # rsaEncryption with NULL parameters, as OpenSSL and most CAs' tools write it.
        algorithm = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15", "parameters": asn1.Null()})
        return algorithm, key.sign(message, padding.PKCS1v15(), digest.crypto_hash())
    if isinstance(key, gm.Sm2PrivateKey):
        # sm2-with-sm3 without parameters, as GmSSL and OpenSSL write it; Z from the default ID.
        algorithm = algos.SignedDigestAlgorithm({"algorithm": gm.OID_SM2_WITH_SM3})
        return algorithm, gm.sm2_sign(key, message, gm.SM2_DEFAULT_USER_ID)
    algorithm = algos.SignedDigestAlgorithm({"algorithm": f"{digest.name}_ecdsa"})
    return algorithm, key.sign(message, ec.ECDSA(digest.crypto_hash()))


def _asn1_cert(cert: Certificate) -> asn1_x509.Certificate:
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    if isinstance(cert, x509.Certificate):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    if isinstance(cert, (bytes, bytearray)):
        der = bytes(cert)
        if asn1_pem.detect(der):
            label, _, der = asn1_pem.unarmor(der)  # the first PEM block
            if label not in ("CERTIFICATE", "X509 CERTIFICATE"):
                raise ValueError(f"expected a PEM CERTIFICATE, got a PEM {label!r}")
        return asn1_x509.Certificate.load(der, strict=True)
    raise TypeError(f"not a certificate: {type(cert).__name__}")


def load_signing_key(data: bytes, password: bytes | None = None) -> PrivateKey:
    """The private key in a key file (PEM or DER), for :func:`sign_detached`: RSA or EC
    through pyca/cryptography, SM2 (which cryptography cannot load: it has no SM2 curve)
    through :func:`ca_interop.gm.load_sm2_private_key`, PKCS#8 or SEC1 ("EC PRIVATE
    KEY", "SM2 PRIVATE KEY"). SM2 keys must be unencrypted. Raises ``ValueError`` (also
    for a wrong password) or ``TypeError`` (a password missing or not needed, a key
    type other than RSA, EC or SM2)."""
    data = bytes(data)
    is_pem = asn1_pem.detect(data)
    try:
        loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
        key = loader(data, password)
    except UnsupportedAlgorithm as exc:  # an EC key on a curve cryptography lacks: SM2?
        return _load_sm2_key(data, password, exc)
    except ValueError as exc:  # e.g. the "SM2 PRIVATE KEY" PEM label cryptography does not know
        if password is None and _is_sm2_key(data):
            return _load_sm2_key(data, password, exc)
        raise
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise TypeError(f"cannot sign with a {type(key).__name__}: an RSA, EC or SM2 private key is needed")
    return key


def _is_sm2_key(data: bytes) -> bool:
    try:
        gm.load_sm2_private_key(data)
    except gm.GmError:
        return False
    return True


def _load_sm2_key(data: bytes, password: bytes | None, cause: Exception) -> gm.Sm2PrivateKey:
    try:
        return gm.load_sm2_private_key(data)
    except gm.GmError as exc:
        if password is not None:
            raise ValueError(
                "password-protected SM2 keys are not supported: decrypt it first (openssl pkey -in key.pem)"
            ) from None
        raise ValueError(f"{exc} ({_brief(cause)})") from None


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of :func:`verify_detached`.

    ``valid`` means the signature is mathematically right for ``signer_cert``'s key and
    covers this content; whether the certificate is trustworthy is for the certificate
    validator. ``reason`` says why not when ``valid`` is false. ``other_certs`` are the
    remaining certificates the signature carries (usually the chain), in their order.
    ``content_digest`` is the content's digest, ``None`` when the signature failed before
    the content was read.

    The certificates are pyca/cryptography certificates for every key type, SM2 included:
    cryptography parses SM2 certificates (subject, serial, extensions, ``public_bytes``)
    but raises ``UnsupportedAlgorithm`` from their ``public_key()`` and
    ``signature_hash_algorithm``, so take SM2 keys from the asn1crypto form
    (``asn1crypto.x509.Certificate.load(cert.public_bytes(Encoding.DER))``), as the
    certificate validator does. ``digest_algorithm`` is ``sha256``/``sha384``/``sha512``
    or ``sm3``; ``signature_algorithm`` is ``rsassa_pkcs1v15``, ``rsassa_pss``, ``ecdsa``
    or ``sm2``.
    """

    valid: bool
    reason: str | None
    signer_cert: x509.Certificate
    other_certs: tuple[x509.Certificate, ...]
    signing_time: dt.datetime | None
    digest_algorithm: str
    signature_algorithm: str
    content_digest: bytes | None = None


@dataclass
class _Parsed:
    signer_cert: x509.Certificate
    other_certs: tuple[x509.Certificate, ...]
    public_key: asn1_keys.PublicKeyInfo
    digest: DigestAlgorithm
    scheme: SignatureScheme
    scheme_oid: str
    parameters: Any
    signature: bytes
    signed_message: bytes
    message_digest: bytes
    content_type: str
    encapsulated_type: str
    signing_time: dt.datetime | None


def verify_detached(
    data_or_stream: Content,
    signature_der: bytes,
    *,
    certificates: Iterable[Certificate] = (),
    max_size: int = MAX_SIGNATURE_SIZE,
) -> SignatureCheck:
    """Check a detached CMS signature over ``data_or_stream``.

    Raises :class:`SignatureFormatError` when ``signature_der`` is not a DER (or BER)
    ContentInfo holding a detached single-signer SignedData with signed attributes, or
    when the signer's certificate is neither included nor among ``certificates`` (for
    signatures made without certificates); :class:`UnsupportedSignatureError` (a
    subclass) for algorithms not accepted. Otherwise returns a :class:`SignatureCheck`;
    the content is only read when the signature itself verifies.
    """
    chunks = _chunks(data_or_stream)  # refuses text and other non-bytes content up front
    parsed = _parse(signature_der, certificates, max_size)

    def check(valid: bool, reason: str | None, content_digest: bytes | None = None) -> SignatureCheck:
        return SignatureCheck(
            valid=valid,
            reason=reason,
            signer_cert=parsed.signer_cert,
            other_certs=parsed.other_certs,
            signing_time=parsed.signing_time,
            digest_algorithm=parsed.digest.name,
            signature_algorithm=parsed.scheme.name,
            content_digest=content_digest,
        )

    if parsed.scheme.digest is not None and parsed.scheme.digest != parsed.digest.name:
        return check(False, (
            f"the signature algorithm {_oid_name(parsed.scheme_oid)} uses {parsed.scheme.digest} "
            f"but the digest algorithm is {parsed.digest.name}"
        ))
    if parsed.content_type != parsed.encapsulated_type:
        return check(False, (
            f"the signed contentType attribute {_oid_name(parsed.content_type)} differs from "
            f"the encapsulated content type {_oid_name(parsed.encapsulated_type)}"
        ))
    try:
        parsed.scheme.verify(
            parsed.public_key, parsed.signature, parsed.signed_message, parsed.digest, parsed.parameters
        )
    except InvalidSignature:
        return check(False, "the signature does not verify with the signer's certificate")
    except SignatureRejected as exc:
        return check(False, str(exc))
    except (ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:  # e.g. unusable PSS parameters
        return check(False, f"the signature cannot be checked: {_brief(exc)}")

    content_digest = _digest_chunks(chunks, parsed.digest)
    if not hmac.compare_digest(content_digest, parsed.message_digest):
        return check(False, "the content does not match the signed digest", content_digest)
    return check(True, None, content_digest)


def _parse(signature_der: bytes, extra_certs: Iterable[Certificate], max_size: int) -> _Parsed:
    if not isinstance(signature_der, (bytes, bytearray, memoryview)):
        raise TypeError(f"the signature must be bytes, not {type(signature_der).__name__}")
    der = bytes(signature_der)
    _check_outer_header(der, max_size)
    stage = "reading the ContentInfo"
    try:
        content_info = cms.ContentInfo.load(der, strict=True)
        content_type = content_info["content_type"].dotted
        if content_type not in SIGNED_DATA_TYPES:
            raise SignatureFormatError(
                f"the signature is a CMS {_oid_name(content_type)}, not a SignedData"
            )
        stage = "reading the SignedData"
        signed_data = content_info["content"]
        if content_type == GM_SIGNED_DATA and isinstance(signed_data, asn1.Any):
            # asn1crypto knows only the RFC 5652 OID; GM/T 0010's SignedData is the same structure.
            signed_data = signed_data.parse(cms.SignedData)
        if not isinstance(signed_data, cms.SignedData):
            raise SignatureFormatError("the ContentInfo holds no SignedData")
        encapsulated = signed_data["encap_content_info"]
        encapsulated_type = encapsulated["content_type"].dotted
        if not isinstance(encapsulated["content"], asn1.Void):
            raise SignatureFormatError(
                "the signature is attached (it contains the signed content); a detached signature is expected"
            )
        if encapsulated_type not in DATA_TYPES:
            raise UnsupportedSignatureError(
                f"the signed content type is {_oid_name(encapsulated_type)}; only Data is accepted"
            )
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise UnsupportedSignatureError(
                f"the signature has {len(signer_infos)} signers; exactly one is supported"
            )
        signer_info = signer_infos[0]

        stage = "reading the SignerInfo's algorithms"
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        digest = DIGEST_ALGORITHMS.get(digest_oid)
        if digest is None:
            raise UnsupportedSignatureError(f"the digest algorithm {_oid_name(digest_oid)} is not accepted")
        signature_algorithm = signer_info["signature_algorithm"]
        scheme_oid = signature_algorithm["algorithm"].dotted
        scheme = SIGNATURE_SCHEMES.get(scheme_oid)
        if scheme is None:
            raise UnsupportedSignatureError(f"the signature algorithm {_oid_name(scheme_oid)} is not accepted")
        parameters = signature_algorithm["parameters"]
        signature = signer_info["signature"].native
        if not signature:
            raise SignatureFormatError("the SignerInfo's signature is empty")

        stage = "reading the signed attributes"
        attributes = signer_info["signed_attrs"]
        if isinstance(attributes, asn1.Void) or len(attributes) == 0:
            raise UnsupportedSignatureError(
                "the signature has no signed attributes (made with -noattr?); they are required"
            )
        # The signature covers the attributes as they were encoded, with the SET OF tag.
        signed_message = attributes.untag().dump()
        values = _single_valued_attributes(attributes)
        if ATTR_CONTENT_TYPE not in values:
            raise SignatureFormatError("the signed attributes lack contentType")
        if ATTR_MESSAGE_DIGEST not in values:
            raise SignatureFormatError("the signed attributes lack messageDigest")
        content_type_attr = values[ATTR_CONTENT_TYPE].dotted
        message_digest = values[ATTR_MESSAGE_DIGEST].native
        if not isinstance(message_digest, bytes):
            raise SignatureFormatError("the messageDigest attribute is not an OCTET STRING")
        signing_time = None
        if ATTR_SIGNING_TIME in values:
            moment = values[ATTR_SIGNING_TIME].native
            if not isinstance(moment, dt.datetime):
                raise SignatureFormatError("the signingTime attribute is not a usable time")
            signing_time = ensure_utc(moment)

        stage = "reading the certificates"
        included = [
            choice.chosen for choice in signed_data["certificates"] if choice.name == "certificate"
        ] if not isinstance(signed_data["certificates"], asn1.Void) else []
        certs = included + [_asn1_cert(c) for c in extra_certs]
        stage = "finding the signer's certificate"
        signer_index = _find_signer(signer_info["sid"], certs)
        public_key = certs[signer_index]["tbs_certificate"]["subject_public_key_info"]
    except SignatureFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, UnicodeError) as exc:
        raise SignatureFormatError(f"the signature is malformed ({stage}): {_brief(exc)}") from None

    crypto_certs = []
    for index, certificate in enumerate(certs):
        try:
            crypto_certs.append(x509.load_der_x509_certificate(certificate.dump()))
        except ValueError as exc:
            which = "the signer's certificate" if index == signer_index else f"certificate #{index + 1}"
            raise SignatureFormatError(f"{which} in the signature cannot be read: {_brief(exc)}") from None
    signer_cert = crypto_certs[signer_index]
    others = tuple(c for i, c in enumerate(crypto_certs[: len(included)]) if i != signer_index)
    return _Parsed(
        signer_cert=signer_cert,
        other_certs=others,
        public_key=public_key,
        digest=digest,
        scheme=scheme,
        scheme_oid=scheme_oid,
        parameters=parameters,
        signature=signature,
        signed_message=signed_message,
        message_digest=message_digest,
        content_type=content_type_attr,
        encapsulated_type=encapsulated_type,
        signing_time=signing_time,
    )


def _brief(exc: BaseException, limit: int = 300) -> str:
    """A parser's message on one line and of reasonable length (lengths can be huge numbers)."""
    text = "; ".join(" ".join(line.split()) for line in str(exc).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_outer_header(der: bytes, max_size: int) -> None:
    """Refuse what is plainly not a DER ContentInfo before the parser sees it."""
    if not der:
        raise SignatureFormatError("the signature is empty")
    if der.lstrip()[:10] == b"-----BEGIN":
        raise SignatureFormatError("the signature is PEM text, not DER: decode the base64 between the PEM lines first")
    if len(der) > max_size:
        raise SignatureFormatError(f"the signature is {len(der)} bytes, more than the {max_size} accepted")
    if der[0] != 0x30:
        raise SignatureFormatError(
            f"the signature does not start with an ASN.1 SEQUENCE (first byte 0x{der[0]:02x}): it is not DER"
        )
    if len(der) < 2:
        raise SignatureFormatError("the signature is truncated: it ends inside its first header")
    first = der[1]
    if first == 0x80:
        return  # BER indefinite length; the parser finds the end (and refuses trailing data)
    if first < 0x80:
        header, length = 2, first
    else:
        octets = first & 0x7F
        if octets > 8:
            raise SignatureFormatError(f"the signature's outer length has {octets} length octets: an absurd size")
        if len(der) < 2 + octets:
            raise SignatureFormatError("the signature is truncated: it ends inside its first header")
        header, length = 2 + octets, int.from_bytes(der[2 : 2 + octets], "big")
    present = len(der) - header
    if length > present:
        raise SignatureFormatError(
            f"the signature declares {length} bytes of content but only {present} are present: "
            "it is truncated, or not a signature"
        )
    if length < present:
        raise SignatureFormatError(f"the signature is followed by {present - length} bytes of trailing data")


def _single_valued_attributes(attributes: cms.CMSAttributes) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in attributes:
        oid = attribute["type"].dotted
        if oid in (ATTR_CONTENT_TYPE, ATTR_MESSAGE_DIGEST, ATTR_SIGNING_TIME):
            name = _attribute_name(oid)
            if oid in values:
                raise SignatureFormatError(f"the signed attributes hold {name} more than once")
            if len(attribute["values"]) != 1:
                raise SignatureFormatError(f"the {name} attribute has {len(attribute['values'])} values, not one")
            values[oid] = attribute["values"][0]
    return values


def _attribute_name(oid: str) -> str:
    return {ATTR_CONTENT_TYPE: "contentType", ATTR_MESSAGE_DIGEST: "messageDigest",
            ATTR_SIGNING_TIME: "signingTime"}[oid]


def _find_signer(sid: cms.SignerIdentifier, certs: list[asn1_x509.Certificate]) -> int:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for index, cert in enumerate(certs):
            if cert.serial_number == serial and cert.issuer == issuer:
                return index
        raise SignatureFormatError(
            f"the signer's certificate (serial {serial:x}, issuer {issuer.human_friendly}) is not in the "
            "signature; pass it in certificates="
        )
    if sid.name == "subject_key_identifier":
        key_id = sid.chosen.native
        for index, cert in enumerate(certs):
            if cert.key_identifier == key_id:
                return index
        raise SignatureFormatError(
            f"the signer's certificate (subject key identifier {key_id.hex()}) is not in the signature; "
            "pass it in certificates="
        )
    raise SignatureFormatError(f"the signer identifier {sid.name} is not understood")

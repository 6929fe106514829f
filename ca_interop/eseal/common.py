"""What making, signing and verifying seals share: errors, input handling, parsing into
plain models, the seal maker's signature, and the signer-to-seal binding."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Union

from asn1crypto import cms, core, parser, tsp, x509

from ca_interop import gm
from ca_interop.certificates import CertificateFormatError, load_certificate
from ca_interop.eseal import structures as s
from core.clock import SHANGHAI, ensure_utc, rfc3339

Document = Union[bytes, bytearray, memoryview, BinaryIO, os.PathLike]

SM2_USER_ID: Final = gm.SM2_DEFAULT_USER_ID
OID_SM2_SIGN_1: Final = "1.2.156.10197.1.301.1"
"""SM2-1 (the signature part of SM2, GM/T 0006), which some seal tools write instead of
SM2-with-SM3; it is read as SM2 with SM3 and the default user ID."""
SM2_SIGNATURE_OIDS: Final = {gm.OID_SM2_WITH_SM3: "SM2-with-SM3", OID_SM2_SIGN_1: "SM2-1 (read as SM2-with-SM3)"}

MAX_SEAL_SIZE: Final = 8 << 20
MAX_SIGNATURE_SIZE: Final = 16 << 20
MAX_PICTURE_SIZE: Final = 4 << 20
MAX_PICTURE_MM: Final = 1000
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
HEADER_ID: Final = "ES"

CERT_LIST_CERTIFICATES: Final = 1
CERT_LIST_DIGESTS: Final = 2

# What asn1crypto raises on bytes it cannot make sense of; its parsing is lazy, so field
# access raises these too, not only load().
ASN1_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                      RecursionError, NotImplementedError, UnicodeDecodeError)

_CERT_DIGESTS: Final = {"SM3": "sm3", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


class ESealError(ValueError):
    """A seal or seal signature cannot be made: bad input, a signer not bound to the seal,
    a time outside the seal's validity. The message says which."""


class ESealFormatError(ESealError):
    """The bytes are not a well-formed seal or seal signature of a known version."""


# ------------------------------------------------------------------------- inputs


def as_private_key(key: Any) -> gm.Sm2PrivateKey:
    """An SM2 private key: a :class:`gm.Sm2PrivateKey`, or PEM/DER bytes of one."""
    if isinstance(key, gm.Sm2PrivateKey):
        return key
    if isinstance(key, (bytes, bytearray)):
        try:
            return gm.load_sm2_private_key(bytes(key))
        except gm.GmError as error:
            raise ESealError(f"the private key is not a usable SM2 key: {error}") from None
    raise ESealError(f"the private key must be an SM2 key (gm.Sm2PrivateKey or PEM/DER bytes), "
                     f"not {type(key).__name__}")


def as_certificate(cert: Any, what: str = "certificate") -> x509.Certificate:
    """An asn1crypto certificate from one, from DER/PEM bytes, from a pyca/cryptography
    certificate, or from an issued demo object carrying ``cert_der``."""
    if isinstance(cert, x509.Certificate):
        return cert
    if hasattr(cert, "cert_der"):
        cert = cert.cert_der
    elif hasattr(cert, "public_bytes") and not isinstance(cert, (bytes, bytearray)):
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = cert.public_bytes(Encoding.DER)
    if not isinstance(cert, (bytes, bytearray)):
        raise ESealError(f"the {what} must be a certificate or its DER/PEM bytes, not {type(cert).__name__}")
    try:
        return load_certificate(bytes(cert))
    except CertificateFormatError as error:
        raise ESealError(f"the {what} is not a usable certificate: {error}") from None


def sm2_public_key_of(cert: x509.Certificate, what: str) -> gm.Sm2PublicKey:
    try:
        return gm.sm2_public_key_from_spki(cert.public_key)
    except gm.GmError as error:
        raise ESealError(f"the {what} does not hold an SM2 key: {error}") from None


def require_key_pair(key: gm.Sm2PrivateKey, cert: x509.Certificate, what: str) -> None:
    if sm2_public_key_of(cert, what).raw != key.public_key.raw:
        raise ESealError(f"the private key does not belong to the {what} ({cert.subject.human_friendly})")


def ia5(text: str, what: str, *, max_length: int = 4096, allow_empty: bool = False) -> str:
    if not isinstance(text, str):
        raise ESealError(f"{what} must be text")
    if not text and not allow_empty:
        raise ESealError(f"{what} must not be empty")
    if len(text) > max_length:
        raise ESealError(f"{what} is at most {max_length} characters")
    if not text.isascii():
        raise ESealError(f"{what} is an IA5String: ASCII characters only (got {text!r})")
    return text


def utc_seconds(moment: dt.datetime, what: str) -> dt.datetime:
    """Aware UTC, whole seconds (as the seal times are encoded). Naive is taken as UTC."""
    if not isinstance(moment, dt.datetime):
        raise ESealError(f"{what} must be a datetime")
    return ensure_utc(moment).replace(microsecond=0)


def hash_document(document: Document, chunk_size: int = 1 << 20) -> bytes:
    """SM3 of the document: bytes, a binary stream (read from where it is to its end) or a
    path (``pathlib.Path``; a plain ``str`` is refused as ambiguous)."""
    hasher = gm.Sm3Hasher()
    if isinstance(document, (bytes, bytearray, memoryview)):
        return hasher.update(bytes(document)).digest()
    if isinstance(document, str):
        raise TypeError("the document must be bytes, a binary stream or a pathlib.Path (a str is ambiguous)")
    if isinstance(document, os.PathLike):
        with open(document, "rb") as stream:
            return hash_document(stream, chunk_size)
    if hasattr(document, "read"):
        while True:
            chunk = document.read(chunk_size)
            if not chunk:
                return hasher.digest()
            if not isinstance(chunk, (bytes, bytearray)):
                raise TypeError("the document stream must be opened in binary mode")
            hasher.update(bytes(chunk))
    raise TypeError(f"the document must be bytes, a binary stream or a pathlib.Path, not {type(document).__name__}")


def check_png(picture: bytes) -> None:
    if not isinstance(picture, (bytes, bytearray)):
        raise ESealError("the seal picture must be the bytes of a PNG file")
    if len(picture) > MAX_PICTURE_SIZE:
        raise ESealError(f"the seal picture is {len(picture)} bytes; at most {MAX_PICTURE_SIZE}")
    if not bytes(picture).startswith(PNG_MAGIC):
        raise ESealError("the seal picture is not a PNG file (it does not start with the PNG signature)")
    if picture[8:16] != b"\x00\x00\x00\rIHDR":
        raise ESealError("the seal picture is not a valid PNG file (no IHDR chunk after the signature)")


def check_dimension(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ESealError(f"the seal {what} is a whole number of millimetres, not {value!r}")
    if not 0 < value <= MAX_PICTURE_MM:
        raise ESealError(f"the seal {what} must be between 1 and {MAX_PICTURE_MM} mm, got {value}")
    return value


# ------------------------------------------------------------------------ parsing


def load_strict(spec: type[core.Asn1Value], der: bytes, what: str) -> Any:
    """Parse strictly (no trailing bytes) and touch every field, so lazy parse errors
    surface here as :class:`ESealFormatError`."""
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018 - forces parsing of nested values
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"{what} is not valid DER: {_short(error)}") from None
    return value


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def element_count(der: bytes, what: str, *, limit: int = 6) -> int:
    """How many elements the outer SEQUENCE has (the versions differ in it), counting at
    most ``limit``."""
    if not der or der[0] != 0x30:
        raise ESealFormatError(f"{what} is not a DER SEQUENCE")
    try:
        _, _, _, _, contents, _ = parser.parse(der, strict=True)
        count, offset = 0, 0
        while offset < len(contents) and count < limit:
            _, _, _, header, body, trailer = parser.parse(contents[offset:])
            offset += len(header) + len(body) + len(trailer)
            count += 1
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"{what} is not valid DER: {_short(error)}") from None
    return count


def _count_text(count: int) -> str:
    return f"{count} or more" if count >= 6 else str(count)


def der_sequence(*parts: bytes) -> bytes:
    """A DER SEQUENCE around already-encoded elements (keeps their bytes as they are)."""
    body = b"".join(parts)
    return b"\x30" + _der_length(len(body)) + body


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _time(value: Any, what: str) -> dt.datetime:
    """A parsed UTCTime/GeneralizedTime (or a Choice of them) as aware UTC. A
    GeneralizedTime without a zone is local time by X.680; for Chinese producers that is
    Asia/Shanghai."""
    if isinstance(value, core.Choice):
        value = value.chosen
    moment = value.native
    if not isinstance(moment, dt.datetime):
        raise ESealFormatError(f"{what} is not a date and time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Seal:
    """A parsed seal (SESeal) of either version, in plain values."""

    version: int  # the structure: 4 (GB/T 38540-2020) or 1 (GM/T 0031-2014)
    header_version: int
    vid: str
    es_id: str
    seal_type: int
    name: str
    cert_list_type: int
    certs: tuple[bytes, ...] = field(repr=False)  # certListType 1: DER certificates
    cert_digests: tuple[tuple[str, bytes], ...] = field(repr=False)  # certListType 2: (hash name, digest)
    created: dt.datetime
    valid_start: dt.datetime
    valid_end: dt.datetime
    picture_type: str
    picture: bytes = field(repr=False)
    width_mm: int
    height_mm: int
    issuer_cert_der: bytes = field(repr=False)
    sign_algorithm: str
    signed_value: bytes = field(repr=False)
    # what the maker may have signed, in the order tried: (convention, bytes)
    signed_data: tuple[tuple[str, bytes], ...] = field(repr=False)
    header_id: str = HEADER_ID
    extensions: tuple[str, ...] = ()
    der: bytes = field(default=b"", repr=False)
    asn1: Any = field(default=None, repr=False, compare=False)

    @property
    def standard(self) -> str:
        return "GB/T 38540-2020" if self.version == 4 else "GM/T 0031-2014"

    def describe(self) -> dict[str, Any]:
        issuer: dict[str, Any] | None
        try:
            issuer = describe_cert(load_certificate(self.issuer_cert_der))
        except CertificateFormatError:
            issuer = None
        return {
            "name": self.name,
            "es_id": self.es_id,
            "version": self.header_version,
            "format": self.standard,
            "vid": self.vid,
            "type": self.seal_type,
            "created": rfc3339(self.created),
            "valid_start": rfc3339(self.valid_start),
            "valid_end": rfc3339(self.valid_end),
            "cert_list_type": self.cert_list_type,
            "bound_certificates": len(self.certs) + len(self.cert_digests),
            "picture": {"type": self.picture_type, "width_mm": self.width_mm, "height_mm": self.height_mm,
                        "bytes": len(self.picture), "sm3": gm.sm3(self.picture).hex()},
            "signature_algorithm": self.sign_algorithm,
            "extensions": list(self.extensions),
            "issuer": issuer,
        }


@dataclass(frozen=True)
class SealSignature:
    """A parsed seal signature (SES_Signature) of either version, in plain values."""

    version: int
    seal: Seal
    tbs_version: int
    tbs_der: bytes = field(repr=False)
    signing_time: dt.datetime | None
    time_source: str
    data_hash: bytes
    property_info: str
    signer_cert_der: bytes = field(repr=False)
    sign_algorithm: str
    signature: bytes = field(repr=False)
    timestamp: bytes | None = field(default=None, repr=False)
    extensions: tuple[str, ...] = ()

    @property
    def standard(self) -> str:
        return "GB/T 38540-2020" if self.version == 4 else "GM/T 0031-2014"


def parse_seal(der: bytes) -> Seal:
    """A seal of either version (2 elements: GM/T 0031 v1; 4: GB/T 38540 v4)."""
    if not isinstance(der, (bytes, bytearray)):
        raise ESealFormatError("the seal must be DER bytes")
    der = bytes(der)
    if len(der) > MAX_SEAL_SIZE:
        raise ESealFormatError(f"the seal is {len(der)} bytes; at most {MAX_SEAL_SIZE} are accepted")
    if der[:1] == b"\x04":  # some v1 producers wrap the seal in an OCTET STRING
        der = load_strict(core.OctetString, der, "the wrapped seal").native
    count = element_count(der, "the seal")
    if count == 4:
        return _seal_v4(load_strict(s.SESeal, der, "the seal (GB/T 38540 SESeal)"))
    if count == 2:
        return _seal_v1(load_strict(s.SESealV1, der, "the seal (GM/T 0031 SESeal)"))
    raise ESealFormatError(f"the seal has {_count_text(count)} elements; a GB/T 38540 seal has 4, "
                           "a GM/T 0031 seal 2")


def _extensions(ext_datas: Any) -> tuple[str, ...]:
    if isinstance(ext_datas, core.Void) or ext_datas.native is None:
        return ()
    return tuple(f"{item['extnID'].dotted}{' (critical)' if item['critical'].native else ''}"
                 for item in ext_datas)


def cert_list_of(property_info: s.PropertyInfo) -> tuple[tuple[bytes, ...], tuple[tuple[str, bytes], ...]]:
    """The v4 certList read by certListType: certificates (1) or certificate digests (2)."""
    kind = property_info["certListType"].native
    raw = property_info["certList"].dump()
    if kind == CERT_LIST_CERTIFICATES:
        certs = load_strict(s.CertInfoList, raw, "the seal's certificate list")
        return tuple(item.native for item in certs), ()
    if kind == CERT_LIST_DIGESTS:
        digests = load_strict(s.CertDigestList, raw, "the seal's certificate digest list")
        return (), tuple((item["type"].native, item["value"].native) for item in digests)
    raise ESealFormatError(f"the seal's certListType is {kind}; 1 (certificates) or 2 (digests) expected")


def _picture_and_header(info: Any) -> dict[str, Any]:
    header, picture = info["header"], info["picture"]
    return {
        "header_id": header["id"].native,
        "header_version": header["version"].native,
        "vid": header["vid"].native,
        "es_id": info["esID"].native,
        "picture_type": picture["type"].native,
        "picture": picture["data"].native,
        "width_mm": picture["width"].native,
        "height_mm": picture["height"].native,
        "extensions": _extensions(info["extDatas"]),
    }


def _seal_v4(seal: s.SESeal) -> Seal:
    try:
        info = seal["eSealInfo"]
        prop = info["property"]
        certs, digests = cert_list_of(prop)
        return Seal(
            version=4,
            seal_type=prop["type"].native,
            name=prop["name"].native,
            cert_list_type=prop["certListType"].native,
            certs=certs,
            cert_digests=digests,
            created=_time(prop["createDate"], "the seal's createDate"),
            valid_start=_time(prop["validStart"], "the seal's validStart"),
            valid_end=_time(prop["validEnd"], "the seal's validEnd"),
            issuer_cert_der=seal["cert"].native,
            sign_algorithm=seal["signAlgID"].dotted,
            signed_value=seal["signedValue"].native,
            signed_data=(
                ("DER(eSealInfo)", info.dump()),
                ("DER(SEQUENCE{eSealInfo, cert, signAlgID})",
                 der_sequence(info.dump(), seal["cert"].dump(), seal["signAlgID"].dump())),
            ),
            der=seal.dump(),
            asn1=seal,
            **_picture_and_header(info),
        )
    except ESealFormatError:
        raise
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"the seal is malformed: {_short(error)}") from None


def _seal_v1(seal: s.SESealV1) -> Seal:
    try:
        info = seal["esealInfo"]
        prop = info["property"]
        sign_info = seal["signInfo"]
        cert = sign_info["cert"]
        algorithm = sign_info["signatureAlgorithm"]
        return Seal(
            version=1,
            seal_type=prop["type"].native,
            name=prop["name"].native,
            cert_list_type=CERT_LIST_CERTIFICATES,
            certs=tuple(item.native for item in prop["certList"]),
            cert_digests=(),
            created=_time(prop["createDate"], "the seal's createDate"),
            valid_start=_time(prop["validStart"], "the seal's validStart"),
            valid_end=_time(prop["validEnd"], "the seal's validEnd"),
            issuer_cert_der=cert.native,
            sign_algorithm=algorithm.dotted,
            signed_value=sign_info["signData"].native,
            signed_data=(
                ("DER(SEQUENCE{esealInfo, cert, signatureAlgorithm})",
                 der_sequence(info.dump(), cert.dump(), algorithm.dump())),
                ("DER(esealInfo)", info.dump()),
                ("DER(esealInfo) || cert || DER(signatureAlgorithm)",
                 info.dump() + cert.native + algorithm.dump()),
            ),
            der=seal.dump(),
            asn1=seal,
            **_picture_and_header(info),
        )
    except ESealFormatError:
        raise
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"the seal is malformed: {_short(error)}") from None


def parse_signature(der: bytes) -> SealSignature:
    """A seal signature of either version (2 elements: GM/T 0031 v1; 4 or 5: GB/T 38540 v4)."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise ESealFormatError("the seal signature must be DER bytes")
    der = bytes(der)
    if not der:
        raise ESealFormatError("the seal signature is empty")
    if len(der) > MAX_SIGNATURE_SIZE:
        raise ESealFormatError(f"the seal signature is {len(der)} bytes; at most {MAX_SIGNATURE_SIZE} are accepted")
    count = element_count(der, "the seal signature")
    if count in (4, 5):
        return _signature_v4(load_strict(s.SESSignature, der, "the seal signature (GB/T 38540 SES_Signature)"))
    if count == 2:
        return _signature_v1(load_strict(s.SESSignatureV1, der, "the seal signature (GM/T 0031 SES_Signature)"))
    raise ESealFormatError(f"the seal signature has {_count_text(count)} elements; "
                           "a GB/T 38540 SES_Signature has 4 or 5, a GM/T 0031 one 2")


def _signature_v4(signature: s.SESSignature) -> SealSignature:
    try:
        tbs = signature["toSign"]
        timestamp = signature["timeStamp"]
        return SealSignature(
            version=4,
            seal=_seal_v4(tbs["eseal"]),
            tbs_version=tbs["version"].native,
            tbs_der=tbs.dump(),
            signing_time=_time(tbs["timeInfo"], "the signing time (timeInfo)"),
            time_source="timeInfo GeneralizedTime",
            data_hash=tbs["dataHash"].native,
            property_info=tbs["propertyInfo"].native,
            signer_cert_der=signature["cert"].native,
            sign_algorithm=signature["signatureAlgID"].dotted,
            signature=signature["signature"].native,
            timestamp=None if isinstance(timestamp, core.Void) else timestamp.native,
            extensions=_extensions(tbs["extDatas"]),
        )
    except ESealFormatError:
        raise
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"the seal signature is malformed: {_short(error)}") from None


def _signature_v1(signature: s.SESSignatureV1) -> SealSignature:
    try:
        tbs = signature["toSign"]
        seal_field = tbs["eseal"]
        if seal_field.name == "seal":
            seal = _seal_v1(seal_field.chosen)
        else:
            seal = parse_seal(seal_field.chosen.native)
        moment, source = v1_time_info(tbs["timeInfo"])
        return SealSignature(
            version=1,
            seal=seal,
            tbs_version=tbs["version"].native,
            tbs_der=tbs.dump(),
            signing_time=moment,
            time_source=source,
            data_hash=tbs["dataHash"].chosen.native,
            property_info=tbs["propertyInfo"].native,
            signer_cert_der=tbs["cert"].native,
            sign_algorithm=tbs["signatureAlgorithm"].dotted,
            signature=signature["signature"].native,
        )
    except ESealFormatError:
        raise
    except ASN1_ERRORS as error:
        raise ESealFormatError(f"the seal signature is malformed: {_short(error)}") from None


_TEXT_FORMATS: Final = (
    ("%Y-%m-%d %H:%M:%S", "text 'yyyy-MM-dd HH:mm:ss' (ofdrw), read as Asia/Shanghai time", True),
    ("%Y%m%d%H%M%SZ", "text GeneralizedTime", False),
    ("%y%m%d%H%M%SZ", "text UTCTime", False),
    ("%Y%m%d%H%M%S", "text 'yyyyMMddHHmmss', read as Asia/Shanghai time", True),
)


def v1_time_info(choice: s.TimeInfoV1) -> tuple[dt.datetime | None, str]:
    """The GM/T 0031 timeInfo, whose content the standard leaves open: a time or a
    time-stamp token in a BIT STRING. Returns (time or None, how it was read)."""
    if choice.name in ("utcTime", "generalTime"):
        return _time(choice, "timeInfo"), f"timeInfo {choice.name}"
    raw: bytes = choice.chosen.native
    if raw[:1] in (b"\x17", b"\x18"):  # DER UTCTime / GeneralizedTime inside the bits
        try:
            parsed = s.AnyTime.load(raw, strict=True)
            return _time(parsed, "timeInfo"), f"timeInfo {choice.name} holding a DER {parsed.name}"
        except ASN1_ERRORS:
            pass
    if raw[:1] == b"\x30":  # a time-stamp token (ContentInfo) or response
        gen_time = _token_gen_time(raw)
        if gen_time is not None:
            return gen_time, "timeInfo holding a time-stamp token (genTime; the token is not verified)"
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None, "timeInfo holds no recognisable time"
    for pattern, source, local in _TEXT_FORMATS:
        try:
            moment = dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
        moment = moment.replace(tzinfo=SHANGHAI if local else dt.timezone.utc)
        return moment.astimezone(dt.timezone.utc), source
    return None, f"timeInfo holds no recognisable time ({text[:40]!r})"


def _token_gen_time(der: bytes) -> dt.datetime | None:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        tst = info["content"]["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            return None
        return ensure_utc(tst["gen_time"].native)
    except ASN1_ERRORS:
        return None


# ----------------------------------------------------------- checks shared by all


def describe_cert(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.human_friendly,
        "issuer": cert.issuer.human_friendly,
        "serial": format(cert.serial_number, "x"),
        "fingerprint_sha256": hashlib.sha256(cert.dump()).hexdigest(),
        "not_before": rfc3339(cert.not_valid_before),
        "not_after": rfc3339(cert.not_valid_after),
    }


def normalize_sm2_signature(signature: bytes) -> tuple[bytes | None, str]:
    """DER SEQUENCE {r, s} as is; a bare 64-byte r||s (some seal tools) converted."""
    try:
        gm.sm2_signature_to_rs(signature)
        return signature, "DER"
    except gm.GmError:
        pass
    if len(signature) == 64:
        try:
            r, s_ = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            return gm.sm2_signature_from_rs(r, s_), "raw r||s"
        except gm.GmError:
            return None, "raw r||s out of range"
    return None, "neither DER SEQUENCE {r, s} nor 64-byte r||s"


def verify_sm2(public_key: gm.Sm2PublicKey, candidates: Iterable[tuple[str, bytes]],
               signature: bytes) -> tuple[str | None, str]:
    """The first candidate message the signature verifies over: (convention, encoding)
    or (None, why not)."""
    der, encoding = normalize_sm2_signature(signature)
    if der is None:
        return None, f"the signature value is malformed: {encoding}"
    for convention, message in candidates:
        if gm.sm2_verify(public_key, message, der, SM2_USER_ID):
            return convention, encoding
    return None, "the signature does not verify"


def check_seal_signature(seal: Seal) -> tuple[bool, str]:
    """The seal maker's SM2 signature on the seal. Returns (passed, detail)."""
    if seal.sign_algorithm not in SM2_SIGNATURE_OIDS:
        return False, f"the seal is signed with algorithm {seal.sign_algorithm}; only SM2 is supported"
    try:
        issuer = load_certificate(seal.issuer_cert_der)
        key = gm.sm2_public_key_from_spki(issuer.public_key)
    except (CertificateFormatError, gm.GmError) as error:
        return False, f"the seal maker's certificate is unusable: {error}"
    convention, how = verify_sm2(key, seal.signed_data, seal.signed_value)
    if convention is None:
        return False, f"the seal maker's signature on the seal does not verify ({how})"
    extra = "" if convention == seal.signed_data[0][0] else " (a non-standard signed range)"
    raw = "" if how == "DER" else f", signature as {how}"
    return True, f"signed by {issuer.subject.human_friendly} over {convention}{extra}{raw}"


def check_binding(seal: Seal, cert_der: bytes) -> tuple[bool, str]:
    """Whether the certificate is one the seal binds (certListType 1: the exact
    certificate; 2: its digest under the named hash)."""
    if seal.cert_list_type == CERT_LIST_CERTIFICATES:
        if cert_der in seal.certs:
            return True, f"the certificate is certificate {seal.certs.index(cert_der) + 1} of {len(seal.certs)} the seal binds"
        return False, f"the certificate is not among the {len(seal.certs)} certificate(s) the seal binds"
    unknown = []
    for name, digest in seal.cert_digests:
        algorithm = _CERT_DIGESTS.get(name.upper().replace("-", "").replace("_", ""))
        if algorithm is None:
            unknown.append(name)
            continue
        ours = gm.sm3(cert_der) if algorithm == "sm3" else hashlib.new(algorithm, cert_der).digest()
        if ours == digest:
            return True, f"the certificate's {name} digest is in the seal's certificate digest list"
    note = f" (digests under unsupported hash(es) {', '.join(sorted(set(unknown)))} not compared)" if unknown else ""
    return False, f"the certificate's digest is not among the {len(seal.cert_digests)} the seal binds{note}"


def check_window(seal: Seal, moment: dt.datetime) -> tuple[bool, str]:
    window = f"{rfc3339(seal.valid_start)} to {rfc3339(seal.valid_end)}"
    if moment < seal.valid_start:
        return False, f"signed at {rfc3339(moment)}, before the seal's validity ({window})"
    if moment > seal.valid_end:
        return False, f"signed at {rfc3339(moment)}, after the seal's validity ({window})"
    return True, f"signed at {rfc3339(moment)}, within the seal's validity ({window})"


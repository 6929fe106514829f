"""Making seals (SESeal) and signing documents with them (SES_Signature).

The platform writes GB/T 38540-2020 (v4). :func:`make_seal_v1` and
:func:`sign_document_v1` write GM/T 0031-2014 (v1) structures for interoperability tests
only: v1 is superseded, and its layout is less certain (see :mod:`ca_interop.eseal`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Union

from asn1crypto import x509

from ca_interop import gm
from ca_interop.eseal import structures as s
from ca_interop.eseal.common import (
    CERT_LIST_CERTIFICATES,
    CERT_LIST_DIGESTS,
    HEADER_ID,
    Document,
    ESealError,
    Seal,
    as_certificate,
    as_private_key,
    check_binding,
    check_dimension,
    check_png,
    check_seal_signature,
    check_window,
    hash_document,
    ia5,
    parse_seal,
    require_key_pair,
    utc_seconds,
)
from ca_interop.timestamps import TimestampFormatError, verify_token
from core.clock import SHANGHAI, rfc3339, utcnow

DEFAULT_VID: Final = "bidhall"
"""SES_Header vid: the vendor (manufacturer) identifier of the software making the seal."""

SEAL_TYPE_ORGANIZATION: Final = 1
SEAL_TYPE_PERSONAL: Final = 2

_UTC_TIME_LIMIT: Final = dt.datetime(2050, 1, 1, tzinfo=dt.timezone.utc)
_CERT_DIGEST_NAMES: Final = {"SM3": "sm3", "SHA256": "sha256"}

Stamper = Union[Callable[[bytes], bytes], Any]
"""A callable taking the signature value and returning a DER RFC 3161 token (or response),
or an object with ``stamp_data(data) -> token`` such as
:class:`ca_interop.timestamps.TimestampAuthority`."""


def new_es_id() -> str:
    """A random seal code (esID). Production seals carry the code their registry assigns."""
    return "ES" + secrets.token_hex(10).upper()


# --------------------------------------------------------------------------- seals


@dataclass(frozen=True)
class _SealContent:
    key: gm.Sm2PrivateKey
    issuer: x509.Certificate
    header: dict[str, Any]
    es_id: str
    seal_type: int
    name: str
    signers: list[x509.Certificate]
    created: dt.datetime
    valid_start: dt.datetime
    valid_end: dt.datetime
    picture: dict[str, Any]


def _seal_content(
    issuer_key: Any, issuer_cert: Any, *, name: str, picture_png: bytes, width_mm: int, height_mm: int,
    signer_certs: Sequence[Any], valid_start: dt.datetime, valid_end: dt.datetime, seal_type: int,
    es_id: str | None, vid: str, version: int, created: dt.datetime | None,
) -> _SealContent:
    key = as_private_key(issuer_key)
    issuer = as_certificate(issuer_cert, "seal maker's certificate")
    require_key_pair(key, issuer, "seal maker's certificate")
    if not isinstance(name, str) or not name.strip():
        raise ESealError("the seal needs a name")
    if len(name) > 256:
        raise ESealError("the seal name is at most 256 characters")
    check_png(picture_png)
    width, height = check_dimension(width_mm, "width"), check_dimension(height_mm, "height")
    if isinstance(seal_type, bool) or not isinstance(seal_type, int) or seal_type < 1:
        raise ESealError(f"the seal type is a positive integer (1 organisation, 2 personal), not {seal_type!r}")
    if isinstance(signer_certs, (bytes, bytearray, str)) or not signer_certs:
        raise ESealError("the seal must bind at least one signer certificate (a list)")
    signers: list[x509.Certificate] = []
    for index, cert in enumerate(signer_certs, 1):
        parsed = as_certificate(cert, f"signer certificate {index}")
        if all(parsed.dump() != known.dump() for known in signers):
            signers.append(parsed)
    made = utc_seconds(created or utcnow(), "the creation time")
    start, end = utc_seconds(valid_start, "valid_start"), utc_seconds(valid_end, "valid_end")
    if start >= end:
        raise ESealError(f"the seal's validity window is empty or reversed: valid_start {rfc3339(start)} "
                         f"must be before valid_end {rfc3339(end)}")
    if end <= made:
        raise ESealError(f"the seal would be expired when made: valid_end {rfc3339(end)} is not after "
                         f"its creation {rfc3339(made)}")
    return _SealContent(
        key=key, issuer=issuer,
        header={"id": HEADER_ID, "version": version, "vid": ia5(vid, "the vendor id (vid)", max_length=64)},
        es_id=ia5(es_id if es_id is not None else new_es_id(), "the seal code (esID)", max_length=64),
        seal_type=seal_type, name=name, signers=signers, created=made, valid_start=start, valid_end=end,
        picture={"type": "PNG", "data": bytes(picture_png), "width": width, "height": height},
    )


def make_seal(
    issuer_key: Any,
    issuer_cert: Any,
    *,
    name: str,
    picture_png: bytes,
    width_mm: int,
    height_mm: int,
    signer_certs: Sequence[Any],
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    seal_type: int = SEAL_TYPE_ORGANIZATION,
    es_id: str | None = None,
    vid: str = DEFAULT_VID,
    cert_list_type: int = CERT_LIST_CERTIFICATES,
    digest_algorithm: str = "SM3",
    created: dt.datetime | None = None,
) -> bytes:
    """A GB/T 38540-2020 seal (DER SESeal, version 4), signed by the seal maker.

    ``issuer_key``/``issuer_cert`` are the seal maker's SM2 key and certificate (the
    certificate goes into ``SESeal.cert``). ``signer_certs`` are the certificates allowed
    to sign with the seal: written whole (``cert_list_type=1``, the default) or as
    ``digest_algorithm`` digests ("SM3" or "SHA256", ``cert_list_type=2``). The picture
    is a PNG shown ``width_mm`` x ``height_mm``. The maker signs DER(SES_SealInfo) with
    SM2-with-SM3 under the user ID "1234567812345678". Raises :class:`ESealError` on bad
    input (not a PNG, non-positive size, reversed window, key not matching certificate).
    """
    content = _seal_content(
        issuer_key, issuer_cert, name=name, picture_png=picture_png, width_mm=width_mm, height_mm=height_mm,
        signer_certs=signer_certs, valid_start=valid_start, valid_end=valid_end, seal_type=seal_type,
        es_id=es_id, vid=vid, version=4, created=created)
    if cert_list_type == CERT_LIST_CERTIFICATES:
        cert_list: Any = s.CertInfoList([cert.dump() for cert in content.signers])
    elif cert_list_type == CERT_LIST_DIGESTS:
        hash_name = _CERT_DIGEST_NAMES.get(str(digest_algorithm).upper().replace("-", ""))
        if hash_name is None:
            raise ESealError(f"certificate digests are SM3 or SHA256, not {digest_algorithm!r}")
        label = "SM3" if hash_name == "sm3" else "SHA256"
        cert_list = s.CertDigestList([
            {"type": label, "value": gm.sm3(cert.dump()) if hash_name == "sm3" else cert.sha256}
            for cert in content.signers])
    else:
        raise ESealError(f"certListType is 1 (certificates) or 2 (certificate digests), not {cert_list_type!r}")
    info = s.SealInfo({
        "header": content.header,
        "esID": content.es_id,
        "property": {
            "type": content.seal_type,
            "name": content.name,
            "certListType": cert_list_type,
            "certList": cert_list,
            "createDate": content.created,
            "validStart": content.valid_start,
            "validEnd": content.valid_end,
        },
        "picture": content.picture,
    })
    signature = gm.sm2_sign(content.key, info.dump())
    seal = s.SESeal({
        "eSealInfo": info,
        "cert": content.issuer.dump(),
        "signAlgID": gm.OID_SM2_WITH_SM3,
        "signedValue": signature,
    })
    return bytes(seal.dump())


def make_seal_v1(
    issuer_key: Any,
    issuer_cert: Any,
    *,
    name: str,
    picture_png: bytes,
    width_mm: int,
    height_mm: int,
    signer_certs: Sequence[Any],
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    seal_type: int = SEAL_TYPE_ORGANIZATION,
    es_id: str | None = None,
    vid: str = DEFAULT_VID,
    header_version: int = 1,
    created: dt.datetime | None = None,
) -> bytes:
    """A GM/T 0031-2014 seal (DER SESeal, v1), for interoperability tests. Dates are
    UTCTime (so before 2050); the maker signs DER(SEQUENCE{esealInfo, cert,
    signatureAlgorithm}), as the public v1 implementations we compared do."""
    content = _seal_content(
        issuer_key, issuer_cert, name=name, picture_png=picture_png, width_mm=width_mm, height_mm=height_mm,
        signer_certs=signer_certs, valid_start=valid_start, valid_end=valid_end, seal_type=seal_type,
        es_id=es_id, vid=vid, version=header_version, created=created)
    if content.valid_end >= _UTC_TIME_LIMIT:
        raise ESealError("GM/T 0031 seal dates are UTCTime, which ends in 2049")
    info = s.SealInfoV1({
        "header": content.header,
        "esID": content.es_id,
        "property": {
            "type": content.seal_type,
            "name": content.name,
            "certList": [cert.dump() for cert in content.signers],
            "createDate": s.AnyTime(name="utcTime", value=content.created),
            "validStart": s.AnyTime(name="utcTime", value=content.valid_start),
            "validEnd": s.AnyTime(name="utcTime", value=content.valid_end),
        },
        "picture": content.picture,
    })
    signed_range = s.SignedRangeV1({
        "esealInfo": info, "cert": content.issuer.dump(), "signatureAlgorithm": gm.OID_SM2_WITH_SM3})
    signature = gm.sm2_sign(content.key, signed_range.dump())
    seal = s.SESealV1({
        "esealInfo": info,
        "signInfo": {"cert": content.issuer.dump(), "signatureAlgorithm": gm.OID_SM2_WITH_SM3,
                     "signData": signature},
    })
    return bytes(seal.dump())


# ---------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class SigningPlan:
    """Everything checked before anything is signed (or a document is changed)."""

    seal: Seal
    key: gm.Sm2PrivateKey
    cert: x509.Certificate
    time: dt.datetime
    property_info: str


def plan_signing(seal_der: bytes, key: Any, cert: Any, *, time: dt.datetime | None = None,
                 property_info: str = "", version: int = 4) -> SigningPlan:
    """Check that ``cert`` (with ``key``) may sign with the seal at ``time`` (now):
    the seal is intact (its maker's signature verifies), the certificate is bound to it,
    and the time is inside both the seal's validity and the certificate's."""
    seal = parse_seal(seal_der)
    if seal.version != version:
        if version == 4:
            raise ESealError("this is a GM/T 0031-2014 (v1) seal; GB/T 38540-2020 signatures embed v4 seals "
                             "(sign_document_v1 writes v1 signatures, for interoperability tests)")
        raise ESealError("this is a GB/T 38540-2020 (v4) seal; use sign_document")
    if seal.header_id != HEADER_ID:
        raise ESealError(f"the seal header id is {seal.header_id!r}, not {HEADER_ID!r}")
    intact, detail = check_seal_signature(seal)
    if not intact:
        raise ESealError(f"the seal is not intact: {detail}")
    private_key = as_private_key(key)
    certificate = as_certificate(cert, "signer certificate")
    require_key_pair(private_key, certificate, "signer certificate")
    bound, detail = check_binding(seal, certificate.dump())
    if not bound:
        raise ESealError(f"the signer certificate ({certificate.subject.human_friendly}) is not bound to "
                         f"seal {seal.name!r} ({seal.es_id}): {detail}")
    moment = utc_seconds(time or utcnow(), "the signing time")
    inside, detail = check_window(seal, moment)
    if not inside:
        raise ESealError(f"cannot sign with seal {seal.name!r} ({seal.es_id}): {detail}")
    if not certificate.not_valid_before <= moment <= certificate.not_valid_after:
        raise ESealError(f"the signer certificate is not valid at {rfc3339(moment)} (valid "
                         f"{rfc3339(certificate.not_valid_before)} to {rfc3339(certificate.not_valid_after)})")
    return SigningPlan(seal, private_key, certificate, moment,
                       ia5(property_info, "propertyInfo", allow_empty=True))


def sign_planned(plan: SigningPlan, data_hash: bytes, *, timestamp_token: Stamper | None = None) -> bytes:
    """The DER SES_Signature (v4) for a document whose SM3 is ``data_hash``."""
    if len(data_hash) != gm.SM3_DIGEST_SIZE:
        raise ESealError("the document hash must be an SM3 digest (32 bytes)")
    tbs = s.TBSSign({
        "version": 4,
        "eseal": plan.seal.asn1,
        "timeInfo": plan.time,
        "dataHash": data_hash,
        "propertyInfo": plan.property_info,
    })
    signature = gm.sm2_sign(plan.key, tbs.dump())
    fields: dict[str, Any] = {
        "toSign": tbs,
        "cert": plan.cert.dump(),
        "signatureAlgID": gm.OID_SM2_WITH_SM3,
        "signature": signature,
    }
    if timestamp_token is not None:
        fields["timeStamp"] = _stamp(timestamp_token, signature)
    return bytes(s.SESSignature(fields).dump())


def sign_document(
    document: Document,
    seal_der: bytes,
    key: Any,
    cert: Any,
    *,
    time: dt.datetime | None = None,
    property_info: str = "",
    timestamp_token: Stamper | None = None,
) -> bytes:
    """Sign ``document`` (bytes, a binary stream or a ``pathlib.Path``) with a v4 seal:
    a DER SES_Signature whose TBS_Sign holds the seal, ``time`` (default now, whole
    seconds), dataHash = SM3(document) and ``property_info`` (ASCII), signed by the
    signer with SM2-with-SM3 over DER(TBS_Sign).

    ``timestamp_token`` embeds an RFC 3161 time stamp over the signature value: a
    callable ``(signature) -> token`` or a TSA object with ``stamp_data``; the token is
    checked against the signature before it is embedded.

    Refused (:class:`ESealError`): a v1 or tampered seal, a key not matching ``cert``,
    ``cert`` not bound to the seal, a time outside the seal's or the certificate's validity.
    """
    plan = plan_signing(seal_der, key, cert, time=time, property_info=property_info)
    return sign_planned(plan, hash_document(document), timestamp_token=timestamp_token)


def sign_document_v1(
    document: Document,
    seal_der: bytes,
    key: Any,
    cert: Any,
    *,
    time: dt.datetime | None = None,
    property_info: str = "",
) -> bytes:
    """A GM/T 0031-2014 SES_Signature (v1) with a v1 seal, for interoperability tests.
    ``timeInfo`` is a BIT STRING holding the text "yyyy-MM-dd HH:mm:ss" in Asia/Shanghai
    time, as ofdrw writes it (the standard does not fix its content)."""
    plan = plan_signing(seal_der, key, cert, time=time, property_info=property_info, version=1)
    local = plan.time.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    tbs = s.TBSSignV1({
        "version": 1,
        "eseal": s.SealFieldV1(name="seal", value=plan.seal.asn1),
        "timeInfo": s.TimeInfoV1(name="bits", value=local.encode("ascii")),
        "dataHash": s.BitsOrOctets(name="bits", value=hash_document(document)),
        "propertyInfo": plan.property_info,
        "cert": plan.cert.dump(),
        "signatureAlgorithm": gm.OID_SM2_WITH_SM3,
    })
    signature = gm.sm2_sign(plan.key, tbs.dump())
    return bytes(s.SESSignatureV1({"toSign": tbs, "signature": signature}).dump())


def _stamp(stamper: Stamper, signature: bytes) -> bytes:
    if callable(stamper):
        token = stamper(signature)
    elif hasattr(stamper, "stamp_data"):
        token = stamper.stamp_data(signature)
    else:
        raise ESealError("timestamp_token must be a callable (signature -> token) or a TSA with stamp_data")
    if not isinstance(token, (bytes, bytearray)):
        raise ESealError("the time stamper must return the DER time-stamp token as bytes")
    try:
        check = verify_token(bytes(token), data=signature)
    except TimestampFormatError as error:
        raise ESealError(f"the time stamper returned no usable token: {error}") from None
    if not check.valid or check.token is None:
        raise ESealError(f"the time stamp does not cover the signature: {check.reason}")
    return check.token

"""ASN.1 structures of electronic seals and seal signatures, with asn1crypto.

Field names are the standards' own (``eSealInfo``, ``certListType``, ...), so the code
reads next to the text of GB/T 38540-2020 and GM/T 0031-2014. The layouts, and what is
known or unsure about them, are described in :mod:`ca_interop.eseal`.

Version 4 (GB/T 38540-2020) is written and read strictly. Version 1 (GM/T 0031-2014) is
only read here (and written by the interoperability-test helpers in :mod:`ca_interop.eseal.making`);
its reader accepts the variants seen in public implementations: dates as UTCTime or
GeneralizedTime, ``timeInfo``/``dataHash`` as BIT STRING or OCTET STRING (or ``timeInfo``
as a bare time), and the seal inside ``TBS_Sign`` wrapped in an OCTET STRING.
"""

from __future__ import annotations

from asn1crypto import core

# --------------------------------------------------------------------- common parts


class ExtData(core.Sequence):  # type: ignore[misc]
    """ExtData ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }"""

    _fields = [
        ("extnID", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extnValue", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]
    """ExtensionDatas ::= SEQUENCE OF ExtData"""

    _child_spec = ExtData


class SealHeader(core.Sequence):  # type: ignore[misc]
    """SES_Header ::= SEQUENCE { id IA5String ("ES"), version INTEGER, vid IA5String }"""

    _fields = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class PictureInfo(core.Sequence):  # type: ignore[misc]
    """SES_ESPictrueInfo (sic) ::= SEQUENCE { type IA5String, data OCTET STRING,
    width INTEGER, height INTEGER } -- width and height in millimetres"""

    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class CertInfoList(core.SequenceOf):  # type: ignore[misc]
    """CertInfoList ::= SEQUENCE OF OCTET STRING -- DER certificates (certListType 1)"""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):  # type: ignore[misc]
    """CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }"""

    _fields = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):  # type: ignore[misc]
    """CertDigestList ::= SEQUENCE OF CertDigestObj (certListType 2)"""

    _child_spec = CertDigestObj


# ------------------------------------------------------------ GB/T 38540-2020 (v4)


class PropertyInfo(core.Sequence):  # type: ignore[misc]
    """SES_ESPropertyInfo (v4) ::= SEQUENCE {
        type INTEGER, name UTF8String, certListType INTEGER,
        certList SES_CertList, -- CHOICE { CertInfoList, CertDigestList }, both SEQUENCE
                               -- OF, so untagged: certListType says which (1 or 2)
        createDate GeneralizedTime, validStart GeneralizedTime, validEnd GeneralizedTime }
    ``certList`` is kept as ANY; :func:`cert_list_of` reads it by ``certListType``."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certListType", core.Integer),
        ("certList", core.Any),
        ("createDate", core.GeneralizedTime),
        ("validStart", core.GeneralizedTime),
        ("validEnd", core.GeneralizedTime),
    ]


class SealInfo(core.Sequence):  # type: ignore[misc]
    """SES_SealInfo ::= SEQUENCE { header SES_Header, esID IA5String,
    property SES_ESPropertyInfo, picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }"""

    _fields = [
        ("header", SealHeader),
        ("esID", core.IA5String),
        ("property", PropertyInfo),
        ("picture", PictureInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):  # type: ignore[misc]
    """SESeal (v4) ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING (the seal
    maker's certificate), signAlgID OBJECT IDENTIFIER, signedValue BIT STRING }
    signedValue is the maker's signature over DER(eSealInfo)."""

    _fields = [
        ("eSealInfo", SealInfo),
        ("cert", core.OctetString),
        ("signAlgID", core.ObjectIdentifier),
        ("signedValue", core.OctetBitString),
    ]


class TBSSign(core.Sequence):  # type: ignore[misc]
    """TBS_Sign (v4) ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo GeneralizedTime,
    dataHash BIT STRING, propertyInfo IA5String, extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }"""

    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("timeInfo", core.GeneralizedTime),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("extDatas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignature(core.Sequence):  # type: ignore[misc]
    """SES_Signature (v4) ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING (the signer's
    certificate), signatureAlgID OBJECT IDENTIFIER, signature BIT STRING,
    timeStamp [0] EXPLICIT BIT STRING OPTIONAL (an RFC 3161 token over the signature value) }"""

    _fields = [
        ("toSign", TBSSign),
        ("cert", core.OctetString),
        ("signatureAlgID", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("timeStamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


# ------------------------------------------------------------- GM/T 0031-2014 (v1)


class AnyTime(core.Choice):  # type: ignore[misc]
    """UTCTime as GM/T 0031 says; GeneralizedTime accepted (ofdrw reads both)."""

    _alternatives = [
        ("utcTime", core.UTCTime),
        ("generalTime", core.GeneralizedTime),
    ]


class BitsOrOctets(core.Choice):  # type: ignore[misc]
    """BIT STRING as GM/T 0031 says; OCTET STRING accepted (non-standard seals, ofdrw)."""

    _alternatives = [
        ("bits", core.OctetBitString),
        ("octets", core.OctetString),
    ]


class TimeInfoV1(core.Choice):  # type: ignore[misc]
    """v1 ``timeInfo``: a BIT STRING holding a time (text or DER) or a time-stamp token;
    also read: an OCTET STRING, or a bare UTCTime/GeneralizedTime."""

    _alternatives = [
        ("bits", core.OctetBitString),
        ("octets", core.OctetString),
        ("utcTime", core.UTCTime),
        ("generalTime", core.GeneralizedTime),
    ]


class PropertyInfoV1(core.Sequence):  # type: ignore[misc]
    """SES_ESPropertyInfo (v1) ::= SEQUENCE { type INTEGER, name UTF8String,
    certList SEQUENCE OF OCTET STRING, createDate UTCTime, validStart UTCTime, validEnd UTCTime }"""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certList", CertInfoList),
        ("createDate", AnyTime),
        ("validStart", AnyTime),
        ("validEnd", AnyTime),
    ]


class SealInfoV1(core.Sequence):  # type: ignore[misc]
    """SES_SealInfo (v1): as v4, with the v1 property info."""

    _fields = [
        ("header", SealHeader),
        ("esID", core.IA5String),
        ("property", PropertyInfoV1),
        ("picture", PictureInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SignInfoV1(core.Sequence):  # type: ignore[misc]
    """SES_SignInfo ::= SEQUENCE { cert OCTET STRING (seal maker), signatureAlgorithm OID,
    signData BIT STRING }"""

    _fields = [
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
        ("signData", core.OctetBitString),
    ]


class SESealV1(core.Sequence):  # type: ignore[misc]
    """SESeal (v1) ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }"""

    _fields = [
        ("esealInfo", SealInfoV1),
        ("signInfo", SignInfoV1),
    ]


class SignedRangeV1(core.Sequence):  # type: ignore[misc]
    """What the v1 seal maker signs, as two independent implementations do it:
    SEQUENCE { esealInfo, cert, signatureAlgorithm } (not a named type of the standard)."""

    _fields = [
        ("esealInfo", SealInfoV1),
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
    ]


class SealFieldV1(core.Choice):  # type: ignore[misc]
    """The seal inside a v1 TBS_Sign: the SESeal itself, or (some producers) its DER
    wrapped in an OCTET STRING."""

    _alternatives = [
        ("seal", SESealV1),
        ("wrapped", core.OctetString),
    ]


class TBSSignV1(core.Sequence):  # type: ignore[misc]
    """TBS_Sign (v1) ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo BIT STRING,
    dataHash BIT STRING, propertyInfo IA5String, cert OCTET STRING (signer),
    signatureAlgorithm OBJECT IDENTIFIER }"""

    _fields = [
        ("version", core.Integer),
        ("eseal", SealFieldV1),
        ("timeInfo", TimeInfoV1),
        ("dataHash", BitsOrOctets),
        ("propertyInfo", core.IA5String),
        ("cert", core.OctetString),
        ("signatureAlgorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):  # type: ignore[misc]
    """SES_Signature (v1) ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }
    signature is the signer's signature over DER(toSign)."""

    _fields = [
        ("toSign", TBSSignV1),
        ("signature", core.OctetBitString),
    ]

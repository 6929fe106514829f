"""Electronic seals: GB/T 38540-2020 ("v4") seals and seal signatures, and reading
GM/T 0031-2014 ("v1") ones.

An electronic seal (SESeal) is made by a seal maker (制章人): it names the seal, carries
its picture, lists the certificates allowed to sign with it, gives its validity, and is
signed by the maker. A seal signature (SES_Signature) over a document embeds the seal,
the signing time and the document's SM3 hash, and is signed by one of those
certificates. Everything here is SM2-with-SM3 under the user ID "1234567812345678".

Public API
----------
- :func:`make_seal` -> DER SESeal v4; :func:`sign_document` -> DER SES_Signature v4;
  :func:`verify_signature` (async) -> report dict; :func:`seal_docx` (.docx files);
  :func:`read_seal` / :func:`read_signature` -> parsed :class:`Seal` / :class:`SealSignature`.
- :func:`make_seal_v1` / :func:`sign_document_v1` write v1 structures, for interoperability
  tests only. :class:`ESealError` (a ``ValueError``) for refusals, :class:`ESealFormatError`
  for bytes that are not a seal or seal signature.

Layouts implemented (field names as in the standards)
-----------------------------------------------------
GB/T 38540-2020 (written and read)::

    SESeal ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING,
                          signAlgID OBJECT IDENTIFIER, signedValue BIT STRING }
    SES_SealInfo ::= SEQUENCE { header SES_Header, esID IA5String,
                                property SES_ESPropertyInfo, picture SES_ESPictrueInfo,
                                extDatas ExtensionDatas OPTIONAL }
    SES_Header ::= SEQUENCE { id IA5String ("ES"), version INTEGER (4), vid IA5String }
    SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certListType INTEGER,
                                      certList SES_CertList, createDate GeneralizedTime,
                                      validStart GeneralizedTime, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs SEQUENCE OF OCTET STRING,          -- certListType 1
                              certDigestList SEQUENCE OF CertDigestObj }  -- certListType 2
    CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }
    SES_ESPictrueInfo ::= SEQUENCE { type IA5String, data OCTET STRING,
                                     width INTEGER, height INTEGER }   -- millimetres
    ExtensionDatas ::= SEQUENCE OF ExtData
    ExtData ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    TBS_Sign ::= SEQUENCE { version INTEGER (4), eseal SESeal, timeInfo GeneralizedTime,
                            dataHash BIT STRING, propertyInfo IA5String,
                            extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
    SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING,
                                 signatureAlgID OBJECT IDENTIFIER, signature BIT STRING,
                                 timeStamp [0] EXPLICIT BIT STRING OPTIONAL }

- SESeal.signedValue: the maker's signature over DER(eSealInfo), as ofdrw (Java) and an
  independent C++ verifier compute it. The reader also accepts a signature over
  DER(SEQUENCE{eSealInfo, cert, signAlgID}) and reports it as non-standard.
- SES_Signature.signature: over DER(toSign). timeStamp: a DER RFC 3161 TimeStampToken
  over the signature value (the BIT STRING's bytes), as ofdrw's hook does.
- dataHash: SM3 of the document bytes (32 bytes, no unused bits).

GM/T 0031-2014 (read; written by the v1 helpers)::

    SESeal ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
    SES_SignInfo ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OID, signData BIT STRING }
    SES_SealInfo: as v4, with
    SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String,
                                      certList SEQUENCE OF OCTET STRING, createDate UTCTime,
                                      validStart UTCTime, validEnd UTCTime }
    TBS_Sign ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo BIT STRING,
                            dataHash BIT STRING, propertyInfo IA5String,
                            cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER }
    SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }

The version is told apart by element count, as ofdrw does: a seal with 4 elements is v4,
2 is v1; a signature with 4 or 5 is v4, 2 is v1.

Where we are unsure (not confirmed against the standards' text or real v1 files)
---------------------------------------------------------------------------------
- v1 seal signData: signed over DER(SEQUENCE{esealInfo, cert, signatureAlgorithm}) by
  two independent implementations; the reader falls back to DER(esealInfo) and to the
  plain concatenation, and says which one matched.
- v1 timeInfo: the standard leaves its content open ("a time stamp or a UTCTime").
  Read: a DER UTCTime/GeneralizedTime inside the bits, a time-stamp token (its genTime,
  unverified), or text - "yyyy-MM-dd HH:mm:ss" (what ofdrw writes, local time: read as
  Asia/Shanghai), "yyyyMMddHHmmss[Z]", "yyMMddHHmmssZ". sign_document_v1 writes the
  ofdrw text form. Also read: a bare UTCTime/GeneralizedTime instead of the BIT STRING.
- v1 in the wild: dates as GeneralizedTime, timeInfo/dataHash as OCTET STRING, the seal
  inside TBS_Sign wrapped in an OCTET STRING, header version 1 or 2: all accepted.
  RSA-signed v1 seals are not supported (INDETERMINATE).
- The SM2 signature OID: 1.2.156.10197.1.501 (SM2-with-SM3) is written; 1.2.156.10197.1.301.1
  (SM2-1), which some tools write, is read as the same. A signature value given as a bare
  64-byte r||s instead of DER is accepted when reading.
- Certificate digests (certListType 2): CertDigestObj.type is free text; "SM3" and
  "SHA256" (also "SHA-256") are understood.
- Time stamps from Chinese TSAs often use SM3 message imprints and SM2 signatures; the
  platform's RFC 3161 verifier (ca_interop.timestamps) checks SHA-2 imprints with RSA or
  ECDSA only, so such tokens verify as invalid here.
"""

from ca_interop.eseal.common import (
    ESealError,
    ESealFormatError,
    Seal,
    SealSignature,
)
from ca_interop.eseal.common import (
    parse_seal as read_seal,
)
from ca_interop.eseal.common import (
    parse_signature as read_signature,
)
from ca_interop.eseal.docx_seal import seal_docx
from ca_interop.eseal.making import (
    SEAL_TYPE_ORGANIZATION,
    SEAL_TYPE_PERSONAL,
    make_seal,
    make_seal_v1,
    sign_document,
    sign_document_v1,
)
from ca_interop.eseal.verify import verify_signature

__all__ = [
    "ESealError",
    "ESealFormatError",
    "SEAL_TYPE_ORGANIZATION",
    "SEAL_TYPE_PERSONAL",
    "Seal",
    "SealSignature",
    "make_seal",
    "make_seal_v1",
    "read_seal",
    "read_signature",
    "seal_docx",
    "sign_document",
    "sign_document_v1",
    "verify_signature",
]

"""Recipient infos: reading them generically, and the schemes that make and open them.

A :class:`RecipientScheme` owns one kind of recipient key: it says whether a certificate
is for it, refuses a certificate that may not receive (key usage, size, curve), makes the
DER ``RecipientInfo`` that carries the content key to it, and gets the content key back
with the private key. Two are built in:

* :data:`RSA_OAEP` — KeyTransRecipientInfo, RSAES-OAEP with SHA-256 and MGF1-SHA-256 when
  sealing; on opening also RSAES-OAEP with other hashes and RSAES-PKCS1-v1_5 (OpenSSL's
  default). PKCS#1 v1.5 failures are not reported: a random key is used instead, so the
  tag check fails like any other tampering (no padding oracle).
* :data:`ECDH_ES` — KeyAgreeRecipientInfo, ephemeral-static ECDH on P-256/P-384/P-521
  (RFC 5753) with the X9.63 KDF over ECC-CMS-SharedInfo and AES key wrap; we write
  dhSinglePass-stdDH-sha256kdf-scheme + id-aes256-wrap, and read the sha1/224/256/384/512
  KDF variants (OpenSSL's default is sha1kdf) with any AES wrap size.

A third, ``SM2_KEY_TRANSPORT`` (KeyTransRecipientInfo with SM2 encryption, for SPKI curve
1.2.156.10197.1.301), lives in :mod:`._sm2` and is registered there; dispatch reads the
key algorithm from the certificate's SubjectPublicKeyInfo, so ``cryptography`` need not
load SM2 keys. More register with :func:`register_recipient_scheme`.

A scheme may also carry ``content_cipher`` (the content cipher :func:`seal` picks when
none is asked for) and ``content_ciphers`` (the OIDs it may be sealed with; others are
refused with :class:`RecipientRefused`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from . import _der
from ._certs import CertView, format_name, issuer_and_serial
from ._der import CONTEXT, T_SEQUENCE, UNIVERSAL, DerError, Element
from ._errors import EnvelopeFormatError, EnvelopeTampered, RecipientRefused

# --------------------------------------------------------------------------- object identifiers

RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
P_SPECIFIED = "1.2.840.113549.1.1.9"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SM2_CURVE = "1.2.156.10197.1.301"
SM2_ENCRYPTION = "1.2.156.10197.1.301.3"  # sm2encrypt (GM/T 0006: SM2-3, public-key encryption)

HASHES: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "1.3.14.3.2.26": ("SHA-1", hashes.SHA1),
    "2.16.840.1.101.3.4.2.4": ("SHA-224", hashes.SHA224),
    "2.16.840.1.101.3.4.2.1": ("SHA-256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("SHA-384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("SHA-512", hashes.SHA512),
}
SHA1, SHA256 = "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.1"

CURVES: dict[str, tuple[str, type[ec.EllipticCurve]]] = {
    "1.2.840.10045.3.1.7": ("P-256", ec.SECP256R1),
    "1.3.132.0.34": ("P-384", ec.SECP384R1),
    "1.3.132.0.35": ("P-521", ec.SECP521R1),
}

# RFC 5753 / SEC 1 key agreement schemes: OID -> (KDF hash OID, label).
ECDH_SCHEMES: dict[str, tuple[str, str]] = {
    "1.3.133.16.840.63.0.2": ("1.3.14.3.2.26", "dhSinglePass-stdDH-sha1kdf-scheme"),
    "1.3.132.1.11.0": ("2.16.840.1.101.3.4.2.4", "dhSinglePass-stdDH-sha224kdf-scheme"),
    "1.3.132.1.11.1": ("2.16.840.1.101.3.4.2.1", "dhSinglePass-stdDH-sha256kdf-scheme"),
    "1.3.132.1.11.2": ("2.16.840.1.101.3.4.2.2", "dhSinglePass-stdDH-sha384kdf-scheme"),
    "1.3.132.1.11.3": ("2.16.840.1.101.3.4.2.3", "dhSinglePass-stdDH-sha512kdf-scheme"),
    # cofactor DH equals standard DH on the NIST prime curves (cofactor 1)
    "1.3.133.16.840.63.0.3": ("1.3.14.3.2.26", "dhSinglePass-cofactorDH-sha1kdf-scheme"),
    "1.3.132.1.14.0": ("2.16.840.1.101.3.4.2.4", "dhSinglePass-cofactorDH-sha224kdf-scheme"),
    "1.3.132.1.14.1": ("2.16.840.1.101.3.4.2.1", "dhSinglePass-cofactorDH-sha256kdf-scheme"),
    "1.3.132.1.14.2": ("2.16.840.1.101.3.4.2.2", "dhSinglePass-cofactorDH-sha384kdf-scheme"),
    "1.3.132.1.14.3": ("2.16.840.1.101.3.4.2.3", "dhSinglePass-cofactorDH-sha512kdf-scheme"),
}
ECDH_SHA256_KDF = "1.3.132.1.11.1"

AES_WRAPS: dict[str, tuple[str, int]] = {
    "2.16.840.1.101.3.4.1.5": ("id-aes128-wrap", 16),
    "2.16.840.1.101.3.4.1.25": ("id-aes192-wrap", 24),
    "2.16.840.1.101.3.4.1.45": ("id-aes256-wrap", 32),
}
AES256_WRAP = "2.16.840.1.101.3.4.1.45"

KIND_NAMES = {"ktri": "key transport", "kari": "key agreement", "kekri": "pre-shared key (KEK)",
              "pwri": "password", "ori": "other"}


# --------------------------------------------------------------------------- parsed recipients


@dataclass(frozen=True)
class Recipient:
    """One recipient named in an envelope (a KeyAgreeRecipientInfo with several
    RecipientEncryptedKeys gives one per key)."""

    kind: str  # "ktri", "kari", "kekri", "pwri" or "ori"
    key_encryption: str  # dotted OID of the keyEncryptionAlgorithm
    key_encryption_name: str
    issuer: str | None = None
    serial: int | None = None
    subject_key_identifier: bytes | None = None
    issuer_der: bytes | None = field(default=None, repr=False)
    algorithm: Element | None = field(default=None, repr=False, compare=False)
    encrypted_key: bytes = field(default=b"", repr=False, compare=False)
    originator: Element | None = field(default=None, repr=False, compare=False)
    ukm: bytes | None = field(default=None, repr=False, compare=False)

    def matches(self, cert: CertView) -> bool:
        if self.issuer_der is not None and self.serial is not None:
            if self.serial != cert.serial:
                return False
            # Byte equality, or the same name re-encoded (another string type, spacing, case),
            # which OpenSSL's X509_NAME_cmp also accepts.
            return self.issuer_der == cert.issuer_der or _canonical(self.issuer or "") == _canonical(cert.issuer)
        if self.subject_key_identifier is not None:
            return self.subject_key_identifier == cert.subject_key_identifier
        return False

    def describe(self) -> str:
        if self.issuer is not None:
            who = f"issuer {self.issuer!r}, serial {self.serial:#x}"
        elif self.subject_key_identifier is not None:
            who = f"subject key identifier {self.subject_key_identifier.hex()}"
        else:
            who = "no certificate identifier"
        return f"{KIND_NAMES.get(self.kind, self.kind)} recipient ({who}; {self.key_encryption_name})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND_NAMES.get(self.kind, self.kind),
            "issuer": self.issuer,
            "serial": None if self.serial is None else format(self.serial, "x"),
            "subject_key_identifier": None if self.subject_key_identifier is None
            else self.subject_key_identifier.hex(),
            "key_encryption": self.key_encryption_name,
        }


def _canonical(name: str) -> str:
    return " ".join(name.casefold().split())


def parse_recipient_infos(element: Element, *, max_recipients: int = 1000) -> list[Recipient]:
    """RecipientInfos ::= SET SIZE (1..MAX) OF RecipientInfo, flattened to recipients."""
    try:
        infos = element.expect(UNIVERSAL, _der.T_SET, "recipientInfos").children("recipientInfos")
        if not infos:
            raise EnvelopeFormatError("the envelope has no recipients")
        if len(infos) > max_recipients:
            raise EnvelopeFormatError(f"the envelope names {len(infos)} recipient infos; the limit is {max_recipients}")
        recipients: list[Recipient] = []
        for index, info in enumerate(infos):
            recipients.extend(_parse_recipient_info(info, f"recipient info #{index + 1}"))
        return recipients
    except DerError as error:
        raise EnvelopeFormatError(f"unreadable recipient infos: {error}") from None


def _parse_recipient_info(info: Element, what: str) -> list[Recipient]:
    if info.is_(UNIVERSAL, T_SEQUENCE, constructed=True):
        return [_parse_ktri(info, what)]
    if info.is_(CONTEXT, 1, constructed=True):
        return _parse_kari(info, what)
    kinds = {2: "kekri", 3: "pwri", 4: "ori"}
    if info.tag_class == CONTEXT and info.number in kinds and info.constructed:
        kind = kinds[info.number]
        algorithm = ""
        if kind in ("kekri", "pwri"):
            for child in info.children(what):
                if child.is_(UNIVERSAL, T_SEQUENCE):
                    try:
                        algorithm = child.children(what)[0].as_oid(what)
                    except (DerError, IndexError):
                        pass
        return [Recipient(kind=kind, key_encryption=algorithm, key_encryption_name=algorithm or kind)]
    raise DerError(f"{what}: unknown RecipientInfo choice {info.identifier}")


def _issuer_serial(element: Element, what: str) -> tuple[bytes, str, int]:
    issuer, serial = element.children(what)
    issuer.expect(UNIVERSAL, T_SEQUENCE, f"{what} issuer")
    return issuer.encoded, format_name(issuer.encoded), serial.as_int(f"{what} serial number")


def _parse_ktri(info: Element, what: str) -> Recipient:
    """KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }"""
    fields = info.children(what)
    if len(fields) != 4:
        raise DerError(f"{what}: KeyTransRecipientInfo has {len(fields)} fields, expected 4")
    version, rid, algorithm, encrypted_key = fields
    version.as_int(f"{what} version")
    dotted = algorithm.expect(UNIVERSAL, T_SEQUENCE, f"{what} algorithm").children(what)[0].as_oid(what)
    common: dict[str, Any] = dict(
        kind="ktri", key_encryption=dotted, key_encryption_name=_describe_key_transport(algorithm),
        algorithm=algorithm, encrypted_key=encrypted_key.as_octets(f"{what} encryptedKey"),
    )
    if rid.is_(UNIVERSAL, T_SEQUENCE):
        issuer_der, issuer, serial = _issuer_serial(rid, f"{what} issuerAndSerialNumber")
        return Recipient(issuer=issuer, serial=serial, issuer_der=issuer_der, **common)
    if rid.is_(CONTEXT, 0):
        ski = rid.as_octets(f"{what} subjectKeyIdentifier", tag_class=CONTEXT, number=0)
        return Recipient(subject_key_identifier=ski, **common)
    raise DerError(f"{what}: unknown recipient identifier {rid.identifier}")


def _parse_kari(info: Element, what: str) -> list[Recipient]:
    """KeyAgreeRecipientInfo ::= SEQUENCE { version, originator [0], ukm [1] OPTIONAL,
    keyEncryptionAlgorithm, recipientEncryptedKeys }"""
    fields = info.children(what)
    if len(fields) not in (4, 5):
        raise DerError(f"{what}: KeyAgreeRecipientInfo has {len(fields)} fields, expected 4 or 5")
    version, originator = fields[0], fields[1].expect(CONTEXT, 0, f"{what} originator")
    version.as_int(f"{what} version")
    ukm = None
    if len(fields) == 5:
        ukm_field = fields[2].expect(CONTEXT, 1, f"{what} ukm").children(f"{what} ukm")
        if len(ukm_field) != 1:
            raise DerError(f"{what}: malformed ukm")
        ukm = ukm_field[0].as_octets(f"{what} ukm")
    algorithm, keys = fields[-2], fields[-1]
    dotted = algorithm.expect(UNIVERSAL, T_SEQUENCE, f"{what} algorithm").children(what)[0].as_oid(what)
    name = _describe_key_agreement(algorithm)
    recipients = []
    for key in keys.expect(UNIVERSAL, T_SEQUENCE, f"{what} recipientEncryptedKeys").children(what):
        rid, encrypted_key = key.children(f"{what} RecipientEncryptedKey")
        common: dict[str, Any] = dict(
            kind="kari", key_encryption=dotted, key_encryption_name=name, algorithm=algorithm,
            encrypted_key=encrypted_key.as_octets(f"{what} encryptedKey"), originator=originator, ukm=ukm,
        )
        if rid.is_(UNIVERSAL, T_SEQUENCE):
            issuer_der, issuer, serial = _issuer_serial(rid, f"{what} issuerAndSerialNumber")
            recipients.append(Recipient(issuer=issuer, serial=serial, issuer_der=issuer_der, **common))
        elif rid.is_(CONTEXT, 0, constructed=True):  # rKeyId RecipientKeyIdentifier
            ski = rid.children(f"{what} rKeyId")[0].as_octets(f"{what} rKeyId")
            recipients.append(Recipient(subject_key_identifier=ski, **common))
        else:
            raise DerError(f"{what}: unknown key agreement recipient identifier {rid.identifier}")
    if not recipients:
        raise DerError(f"{what}: no recipientEncryptedKeys")
    return recipients


def _describe_key_transport(algorithm: Element) -> str:
    try:
        dotted = algorithm.children()[0].as_oid()
        if dotted == RSA_ENCRYPTION:
            return "RSAES-PKCS1-v1_5"
        if dotted == SM2_ENCRYPTION:
            return "SM2 encryption (GM/T 0003.4, C1C3C2)"
        if dotted == RSAES_OAEP:
            hash_oid, mgf_hash_oid, _ = _oaep_parameters(algorithm)
            return f"RSAES-OAEP ({HASHES[hash_oid][0]}, MGF1-{HASHES[mgf_hash_oid][0]})"
        return dotted
    except (DerError, IndexError, KeyError, EnvelopeFormatError):
        return "RSAES-OAEP (unreadable parameters)"


def _describe_key_agreement(algorithm: Element) -> str:
    try:
        fields = algorithm.children()
        dotted = fields[0].as_oid()
        scheme = ECDH_SCHEMES.get(dotted, (None, dotted))[1]
        wrap = fields[1].children()[0].as_oid()
        return f"ECDH {scheme} + {AES_WRAPS.get(wrap, (wrap,))[0]}"
    except (DerError, IndexError):
        return "key agreement (unreadable parameters)"


# --------------------------------------------------------------------------- schemes


class RecipientScheme(Protocol):
    name: str
    kinds: frozenset[str]  # the RecipientInfo kinds it opens

    def handles(self, cert: CertView) -> bool: ...

    def check_recipient(self, cert: CertView) -> None:
        """Raise :class:`RecipientRefused` if ``cert`` may not receive envelopes."""
        ...

    def recipient_info(self, cert: CertView, content_key: bytes) -> bytes:
        """The DER RecipientInfo carrying ``content_key`` to ``cert``."""
        ...

    def key_matches(self, key: Any, cert: CertView) -> bool: ...

    def unwrap(self, recipient: Recipient, key: Any, cert: CertView, key_size: int) -> bytes:
        """The content key; raise :class:`EnvelopeTampered` or :class:`EnvelopeFormatError`."""
        ...


def _refuse_usage(cert: CertView, needed: str, allowed: bool) -> None:
    if cert.key_usage is None or allowed:
        return
    usage = cert.key_usage
    names = [name for name in ("digital_signature", "content_commitment", "key_encipherment",
                               "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
             if getattr(usage, name)]
    raise RecipientRefused(
        f"{cert.describe()} cannot receive sealed envelopes: its key usage "
        f"({', '.join(names) or 'none'}) does not include {needed}; "
        "use the holder's encryption certificate, not a signing certificate"
    )


def _same_public_key(key: Any, cert: CertView) -> bool:
    try:
        return bool(key.public_key().public_numbers() == cert.certificate.public_key().public_numbers())
    except Exception:  # noqa: BLE001 - any mismatch of types means "not this key"
        return False


class RsaKeyTransport:
    name = "rsa-oaep"
    kinds = frozenset({"ktri"})
    min_key_size = 2048

    def handles(self, cert: CertView) -> bool:
        return cert.key_algorithm == RSA_ENCRYPTION

    def check_recipient(self, cert: CertView) -> None:
        _refuse_usage(cert, "keyEncipherment", cert.key_usage is not None and cert.key_usage.key_encipherment)
        size = cert.certificate.public_key().key_size  # type: ignore[union-attr]
        if size < self.min_key_size:
            raise RecipientRefused(f"{cert.describe()} has a {size}-bit RSA key; at least {self.min_key_size} needed")

    def recipient_info(self, cert: CertView, content_key: bytes) -> bytes:
        public_key = cert.certificate.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        encrypted = public_key.encrypt(
            content_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        )
        return _der.sequence(
            _der.integer(0), issuer_and_serial(cert), OAEP_SHA256_ALGORITHM, _der.octet_string(encrypted)
        )

    def key_matches(self, key: Any, cert: CertView) -> bool:
        return isinstance(key, rsa.RSAPrivateKey) and _same_public_key(key, cert)

    def unwrap(self, recipient: Recipient, key: Any, cert: CertView, key_size: int) -> bytes:
        assert recipient.algorithm is not None
        if recipient.key_encryption == RSA_ENCRYPTION:
            # Implicit rejection: a bad padding gives a random key, so the failure shows up
            # only as a tag mismatch at the end, indistinguishable from other tampering.
            fallback = os.urandom(key_size)
            try:
                content_key = key.decrypt(recipient.encrypted_key, padding.PKCS1v15())
            except ValueError:
                return fallback
            return content_key if len(content_key) == key_size else fallback
        if recipient.key_encryption == RSAES_OAEP:
            hash_oid, mgf_hash_oid, label = _oaep_parameters(recipient.algorithm)
            oaep = padding.OAEP(mgf=padding.MGF1(HASHES[mgf_hash_oid][1]()), algorithm=HASHES[hash_oid][1](),
                                label=label or None)
            try:
                return key.decrypt(recipient.encrypted_key, oaep)
            except ValueError:
                raise EnvelopeTampered(
                    f"the content key for {cert.describe()} does not decrypt: the envelope was altered or damaged"
                ) from None
        raise EnvelopeFormatError(f"key transport algorithm {recipient.key_encryption} is not supported")


OAEP_SHA256_ALGORITHM = _der.algorithm_identifier(
    RSAES_OAEP,
    _der.sequence(
        _der.explicit(0, _der.algorithm_identifier(SHA256)),
        _der.explicit(1, _der.algorithm_identifier(MGF1, _der.algorithm_identifier(SHA256))),
    ),
)
"""RSAES-OAEP-params with SHA-256 and MGF1-SHA-256, hash parameters absent (as OpenSSL)."""


def _hash_oid(algorithm: Element, what: str) -> str:
    fields = algorithm.expect(UNIVERSAL, T_SEQUENCE, what).children(what)
    dotted = fields[0].as_oid(what)
    if len(fields) > 2 or (len(fields) == 2 and not fields[1].is_(UNIVERSAL, _der.NULL)):
        raise EnvelopeFormatError(f"{what}: unexpected hash parameters")
    if dotted not in HASHES:
        raise EnvelopeFormatError(f"{what}: hash {dotted} is not supported")
    return dotted


def _oaep_parameters(algorithm: Element) -> tuple[str, str, bytes]:
    """(hash OID, MGF1 hash OID, label) from RSAES-OAEP-params, defaults SHA-1 (RFC 4055)."""
    try:
        fields = algorithm.children("RSAES-OAEP algorithm")
        hash_oid, mgf_hash_oid, label = SHA1, SHA1, b""
        if len(fields) == 2 and not fields[1].is_(UNIVERSAL, _der.NULL):
            for parameter in fields[1].expect(UNIVERSAL, T_SEQUENCE, "RSAES-OAEP-params").children("RSAES-OAEP-params"):
                inner = parameter.children("RSAES-OAEP-params")
                if len(inner) != 1 or parameter.tag_class != CONTEXT:
                    raise EnvelopeFormatError("RSAES-OAEP-params: malformed field")
                if parameter.number == 0:
                    hash_oid = _hash_oid(inner[0], "OAEP hash")
                elif parameter.number == 1:
                    mgf = inner[0].children("OAEP mask generation")
                    if mgf[0].as_oid("OAEP mask generation") != MGF1 or len(mgf) != 2:
                        raise EnvelopeFormatError("OAEP mask generation: only MGF1 is supported")
                    mgf_hash_oid = _hash_oid(mgf[1], "MGF1 hash")
                elif parameter.number == 2:
                    source = inner[0].children("OAEP label source")
                    if source[0].as_oid("OAEP label source") != P_SPECIFIED or len(source) != 2:
                        raise EnvelopeFormatError("OAEP label source: only pSpecified is supported")
                    label = source[1].as_octets("OAEP label")
                else:
                    raise EnvelopeFormatError(f"RSAES-OAEP-params: unknown field [{parameter.number}]")
        return hash_oid, mgf_hash_oid, label
    except (DerError, IndexError) as error:
        raise EnvelopeFormatError(f"unreadable RSAES-OAEP parameters: {error}") from None


class EcdhEphemeralStatic:
    name = "ecdh-es"
    kinds = frozenset({"kari"})
    kdf_scheme = ECDH_SHA256_KDF
    wrap = AES256_WRAP

    def handles(self, cert: CertView) -> bool:
        return cert.key_algorithm == EC_PUBLIC_KEY and cert.named_curve != SM2_CURVE

    def check_recipient(self, cert: CertView) -> None:
        usage = cert.key_usage
        _refuse_usage(cert, "keyAgreement", usage is not None and usage.key_agreement)
        if usage is not None and usage.key_agreement and usage.encipher_only:
            raise RecipientRefused(f"{cert.describe()} is marked encipherOnly: its holder cannot decipher")
        if cert.named_curve not in CURVES:
            raise RecipientRefused(
                f"{cert.describe()} has an EC key on curve {cert.named_curve or '(explicit parameters)'}; "
                f"supported: {', '.join(name for name, _ in CURVES.values())}"
            )

    def recipient_info(self, cert: CertView, content_key: bytes) -> bytes:
        public_key = cert.certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        ephemeral = ec.generate_private_key(public_key.curve)
        shared_secret = ephemeral.exchange(ec.ECDH(), public_key)
        wrap_algorithm = _der.algorithm_identifier(self.wrap)
        kek = _x963_kek(ECDH_SCHEMES[self.kdf_scheme][0], shared_secret, wrap_algorithm,
                        AES_WRAPS[self.wrap][1], ukm=None)
        point = ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        originator_key = _der.tlv(
            _der.context(1, constructed=True),
            _der.algorithm_identifier(EC_PUBLIC_KEY) + _der.bit_string(point),
        )
        body = (
            _der.integer(3)
            + _der.explicit(0, originator_key)
            + _der.algorithm_identifier(self.kdf_scheme, wrap_algorithm)
            + _der.sequence(_der.sequence(issuer_and_serial(cert), _der.octet_string(aes_key_wrap(kek, content_key))))
        )
        return _der.tlv(_der.context(1, constructed=True), body)

    def key_matches(self, key: Any, cert: CertView) -> bool:
        return isinstance(key, ec.EllipticCurvePrivateKey) and _same_public_key(key, cert)

    def unwrap(self, recipient: Recipient, key: Any, cert: CertView, key_size: int) -> bytes:
        assert recipient.algorithm is not None and recipient.originator is not None
        scheme = ECDH_SCHEMES.get(recipient.key_encryption)
        if scheme is None:
            raise EnvelopeFormatError(f"key agreement algorithm {recipient.key_encryption} is not supported")
        try:
            fields = recipient.algorithm.children("key agreement algorithm")
            wrap_algorithm = fields[1].expect(UNIVERSAL, T_SEQUENCE, "key wrap algorithm")
            wrap_oid = wrap_algorithm.children("key wrap algorithm")[0].as_oid("key wrap algorithm")
            originator = recipient.originator.children("originator")
            if len(originator) != 1 or not originator[0].is_(CONTEXT, 1, constructed=True):
                raise EnvelopeFormatError(
                    "the key agreement originator is not an ephemeral public key (static-static ECDH "
                    "is not supported)"
                )
            originator_algorithm, originator_point = originator[0].children("originator key")
            algorithm_fields = originator_algorithm.children("originator key algorithm")
            if algorithm_fields[0].as_oid("originator key algorithm") != EC_PUBLIC_KEY:
                raise EnvelopeFormatError("the originator key is not an EC public key")
            point = originator_point.as_bits("originator public key")
        except (DerError, IndexError, ValueError) as error:
            if isinstance(error, EnvelopeFormatError):
                raise
            raise EnvelopeFormatError(f"unreadable key agreement recipient info: {error}") from None
        if wrap_oid not in AES_WRAPS:
            raise EnvelopeFormatError(f"key wrap algorithm {wrap_oid} is not supported")
        curve = key.curve
        try:
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            shared_secret = key.exchange(ec.ECDH(), ephemeral)
        except ValueError:
            raise EnvelopeTampered(
                f"the ephemeral key for {cert.describe()} is not a point on {curve.name}: "
                "the envelope was altered or damaged"
            ) from None
        kek = _x963_kek(scheme[0], shared_secret, wrap_algorithm.encoded, AES_WRAPS[wrap_oid][1], ukm=recipient.ukm)
        try:
            return aes_key_unwrap(kek, recipient.encrypted_key)
        except (InvalidUnwrap, ValueError):
            raise EnvelopeTampered(
                f"the content key for {cert.describe()} does not unwrap: the envelope was altered or damaged"
            ) from None


def _x963_kek(hash_oid: str, shared_secret: bytes, wrap_algorithm: bytes, kek_size: int, *,
              ukm: bytes | None) -> bytes:
    """RFC 5753 section 7.2: KEK = X9.63-KDF(Z, ECC-CMS-SharedInfo)."""
    shared_info = _der.sequence(
        wrap_algorithm,
        _der.explicit(0, _der.octet_string(ukm)) if ukm is not None else b"",
        _der.explicit(2, _der.octet_string((kek_size * 8).to_bytes(4, "big"))),
    )
    return X963KDF(algorithm=HASHES[hash_oid][1](), length=kek_size, sharedinfo=shared_info).derive(shared_secret)


RSA_OAEP = RsaKeyTransport()
ECDH_ES = EcdhEphemeralStatic()

RECIPIENT_SCHEMES: list[RecipientScheme] = [RSA_OAEP, ECDH_ES]


def register_recipient_scheme(scheme: RecipientScheme) -> None:
    """Add a scheme ahead of the built-in ones (an SM2 scheme must claim SM2 certificates)."""
    RECIPIENT_SCHEMES.insert(0, scheme)


def scheme_for(cert: CertView) -> RecipientScheme:
    for scheme in RECIPIENT_SCHEMES:
        if scheme.handles(cert):
            return scheme
    kind = cert.key_algorithm + (f" on curve {cert.named_curve}" if cert.named_curve else "")
    if cert.named_curve == SM2_CURVE:
        kind = "SM2"
    raise RecipientRefused(f"{cert.describe()}: envelopes for {kind} keys are not supported")

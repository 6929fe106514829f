"""SM2 recipients: the content key carried by SM2 public-key encryption (GM/T 0003.4).

An SM2 certificate (id-ecPublicKey on curve 1.2.156.10197.1.301, or, from some older GM
tools, the SM2 OID itself as the key algorithm) gets a KeyTransRecipientInfo::

    SEQUENCE {
      version INTEGER 0,
      rid IssuerAndSerialNumber,
      keyEncryptionAlgorithm SEQUENCE { sm2encrypt },  -- 1.2.156.10197.1.301.3, no parameters
      encryptedKey OCTET STRING }                      -- SM2Cipher (GM/T 0009), the content key

    SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER,     -- C1, the ephemeral point
                             hash OCTET STRING,        -- C3 = SM3(x2 || key || y2), 32 bytes
                             ciphertext OCTET STRING } -- C2, as long as the key

That is the layout of GM/T 0010's KeyTransRecipientInfo and of what GmSSL 3 writes
(algorithm parameters absent), and ``openssl pkeyutl -decrypt`` reads the encryptedKey
as is. The scheme asks for SM4-GCM content (:data:`SM4_GCM`) and refuses to be sealed
with anything else, so an SM2 holder never meets a non-SM content cipher.

The SM2 arithmetic is GmSSL's (through :mod:`ca_interop.gm`); the certificate's key is read
from its SubjectPublicKeyInfo by :mod:`ca_interop.gm`, not by ``cryptography``, which has no
SM2.
"""

from __future__ import annotations

from typing import Any

from ca_interop import gm

from . import _der
from ._certs import CertView, issuer_and_serial
from ._content import SM4_GCM
from ._der import UNIVERSAL, DerError
from ._errors import EnvelopeFormatError, EnvelopeTampered, RecipientRefused
from ._recipients import (
    EC_PUBLIC_KEY,
    RECIPIENT_SCHEMES,
    SM2_CURVE,
    SM2_ENCRYPTION,
    Recipient,
    _refuse_usage,
)

SM2_ENCRYPTION_ALGORITHM = _der.algorithm_identifier(SM2_ENCRYPTION)
"""AlgorithmIdentifier { sm2encrypt } with parameters absent, as GmSSL writes it."""


class Sm2KeyTransport:
    name = "sm2"
    kinds = frozenset({"ktri"})
    content_cipher = SM4_GCM
    content_ciphers = frozenset({SM4_GCM.oid})

    def handles(self, cert: CertView) -> bool:
        return (cert.key_algorithm == EC_PUBLIC_KEY and cert.named_curve == SM2_CURVE) \
            or cert.key_algorithm == SM2_CURVE

    def public_key(self, cert: CertView) -> gm.Sm2PublicKey:
        try:
            return gm.sm2_public_key_from_spki(cert.spki_der)
        except gm.GmError as error:
            raise RecipientRefused(f"{cert.describe()}: its SM2 public key cannot be used: {error}") from None

    def check_recipient(self, cert: CertView) -> None:
        usage = cert.key_usage
        _refuse_usage(cert, "keyEncipherment", usage is not None and usage.key_encipherment)
        self.public_key(cert)

    def recipient_info(self, cert: CertView, content_key: bytes) -> bytes:
        try:
            encrypted = gm.sm2_encrypt(self.public_key(cert), content_key)
        except gm.GmError as error:
            raise RecipientRefused(f"{cert.describe()}: SM2 encryption of the content key failed: {error}") from None
        return _der.sequence(
            _der.integer(0), issuer_and_serial(cert), SM2_ENCRYPTION_ALGORITHM, _der.octet_string(encrypted)
        )

    def key_matches(self, key: Any, cert: CertView) -> bool:
        if not isinstance(key, gm.Sm2PrivateKey):
            return False
        try:
            return key.public_key == gm.sm2_public_key_from_spki(cert.spki_der)
        except gm.GmError:
            return False

    def unwrap(self, recipient: Recipient, key: Any, cert: CertView, key_size: int) -> bytes:
        assert recipient.algorithm is not None
        if recipient.key_encryption != SM2_ENCRYPTION:
            raise EnvelopeFormatError(
                f"key transport algorithm {recipient.key_encryption} is not SM2 encryption ({SM2_ENCRYPTION}); "
                f"it cannot be opened with the SM2 key of {cert.describe()}"
            )
        try:
            fields = recipient.algorithm.children("SM2 encryption algorithm")
        except DerError as error:
            raise EnvelopeFormatError(f"unreadable SM2 encryption algorithm: {error}") from None
        if len(fields) > 2 or (len(fields) == 2 and not fields[1].is_(UNIVERSAL, _der.NULL)):
            raise EnvelopeFormatError("SM2 encryption algorithm: unexpected parameters")
        try:
            content_key = gm.sm2_decrypt(key, recipient.encrypted_key)
        except gm.GmError:
            raise EnvelopeTampered(
                f"the content key for {cert.describe()} does not decrypt: the envelope was altered or damaged"
            ) from None
        if len(content_key) != key_size:
            raise EnvelopeTampered(
                f"the content key for {cert.describe()} is {len(content_key)} bytes, the content cipher needs "
                f"{key_size}: the envelope was altered or damaged"
            )
        return content_key


SM2_KEY_TRANSPORT = Sm2KeyTransport()

if not any(isinstance(scheme, Sm2KeyTransport) for scheme in RECIPIENT_SCHEMES):
    RECIPIENT_SCHEMES.append(SM2_KEY_TRANSPORT)

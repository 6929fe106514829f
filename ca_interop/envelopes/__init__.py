"""Sealed bids: CMS AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084).

A bid is encrypted on the bidder's machine so that nobody on the platform can read it
before the opening. The envelope has several recipients — typically the bidder's own
encryption certificate and the lot's opening certificate as a fallback — and is what
``openssl cms -encrypt -aes-256-gcm`` makes and ``openssl cms -decrypt`` opens. For SM2
certificates the same container carries SM4-GCM content and SM2-encrypted keys (see
"SM2 certificates" below; no other tool opens those yet).

Public API
==========

``seal(source, recipients, destination, *, size=None, cipher=None) -> EnvelopeInfo``
    Streaming encryption of a path / bytes / binary file into a path or binary file;
    the content cipher is AES-256-GCM, or SM4-GCM when a recipient is SM2 (or asked for).
``open_envelope(source, key, cert, destination_path) -> EnvelopeInfo``
    Streaming decryption; ``destination_path`` appears only after the tag verifies.
``unwrap_content_key(source, key, cert) -> bytes`` / ``open_with_content_key(source, content_key, destination_path) -> EnvelopeInfo``
    The two halves of a remote opening: the recipient unwraps the content key on its own
    machine (only the recipient infos are read; :func:`envelope_head` gives just those
    bytes) and hands it over; the holder of the envelope decrypts with it, streaming, the
    plaintext appearing only once the tag verifies (a wrong key: :class:`WrongContentKey`).
``inspect_envelope(source) -> EnvelopeInfo``
    Recipients, algorithm and sizes, without decrypting.
``check_envelope(source, *, required_recipients=()) -> EnvelopeInfo``
    For uploads: refuse anything that is not an envelope (plaintext above all).
``is_sealed(first_bytes) -> bool`` / ``why_not_sealed(first_bytes) -> str | None``
    A quick look at the first bytes (64 suffice) of an upload.

Errors (all :class:`core.errors.BidhallError`): :class:`EnvelopeFormatError` (also a
``ValueError``; not an envelope, truncated, bogus length, wrong content type or
algorithm), :class:`NotARecipient`, :class:`EnvelopeTampered`,
:class:`RecipientRefused` (a certificate that may not receive, e.g. a signing
certificate), :class:`SourceChanged`, :class:`WrongContentKey` (a handed content key
that does not open the envelope; also an ``InvalidInput``).

The structure we write
======================

DER throughout, every length definite and computed before the first byte of content
is read (GCM ciphertext is exactly as long as the plaintext)::

    ContentInfo ::= SEQUENCE {
      contentType id-ct-authEnvelopedData,             -- 1.2.840.113549.1.9.16.1.23
      content [0] EXPLICIT AuthEnvelopedData ::= SEQUENCE {
        version INTEGER 0,
        recipientInfos SET OF RecipientInfo,           -- one per certificate, DER-sorted
        authEncryptedContentInfo SEQUENCE {
          contentType id-data,                         -- 1.2.840.113549.1.7.1
          contentEncryptionAlgorithm SEQUENCE {
            id-aes256-GCM,                             -- 2.16.840.1.101.3.4.1.46
            GCMParameters SEQUENCE { aes-nonce OCTET STRING (12 random bytes),
                                     aes-ICVlen INTEGER 16 } },
          encryptedContent [0] IMPLICIT OCTET STRING   -- primitive, one piece
        },
        -- no authAttrs: the GCM additional data is empty
        mac OCTET STRING                               -- the 16-byte GCM tag
      } }

An RSA certificate (keyUsage keyEncipherment) gets a KeyTransRecipientInfo::

    SEQUENCE {
      version INTEGER 0,
      rid IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER },
      keyEncryptionAlgorithm SEQUENCE {
        id-RSAES-OAEP,                                 -- 1.2.840.113549.1.1.7
        RSAES-OAEP-params SEQUENCE {
          [0] SEQUENCE { id-sha256 },                  -- parameters absent, as OpenSSL
          [1] SEQUENCE { id-mgf1, SEQUENCE { id-sha256 } } } },
      encryptedKey OCTET STRING }                      -- RSA-OAEP(content key)

An EC certificate (P-256/P-384/P-521, keyUsage keyAgreement) gets a
KeyAgreeRecipientInfo with a fresh ephemeral key per recipient (RFC 5753)::

    [1] IMPLICIT SEQUENCE {
      version INTEGER 3,
      originator [0] EXPLICIT [1] IMPLICIT OriginatorPublicKey {
        SEQUENCE { id-ecPublicKey },                   -- parameters absent (RFC 5753)
        BIT STRING ephemeral public point (uncompressed) },
      keyEncryptionAlgorithm SEQUENCE {
        dhSinglePass-stdDH-sha256kdf-scheme,           -- 1.3.132.1.11.1
        SEQUENCE { id-aes256-wrap } },                 -- 2.16.840.1.101.3.4.1.45
      recipientEncryptedKeys SEQUENCE { SEQUENCE {
        IssuerAndSerialNumber, encryptedKey OCTET STRING } } }  -- 40-byte AES key wrap

    KEK = X9.63-KDF-SHA-256(ECDH(ephemeral, recipient), 32,
            ECC-CMS-SharedInfo ::= SEQUENCE { SEQUENCE { id-aes256-wrap },
                                              [2] EXPLICIT OCTET STRING 00000100 })

What we read
============

The above, plus what other producers write: BER indefinite lengths and segmented
encryptedContent (``openssl cms -stream``), originatorInfo and unauthAttrs (skipped),
recipients identified by subjectKeyIdentifier, RSAES-PKCS1-v1_5 (OpenSSL's default) and
RSAES-OAEP with any SHA-1/SHA-2 hash and label, ECDH with the sha1 (OpenSSL's default),
sha224, sha256, sha384 or sha512 KDF and an AES-128/192/256 wrap, ukm. Refused with a
clear reason: anything but AuthEnvelopedData (EnvelopedData/AES-CBC has no integrity, so
it is not accepted for bids), a content cipher other than AES-256-GCM and SM4-GCM,
nonces other than 12 bytes and tags other than 16 bytes, authAttrs, detached content,
static-static ECDH, trailing bytes.

OpenSSL 3.0
===========

Interoperates both ways (tested in ``tests/ca_interop/test_envelopes.py``)::

    openssl cms -encrypt -binary -aes-256-gcm -outform DER -in bid.pdf -out bid.der \
        -recip bidder-enc.pem [-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
        -keyopt rsa_mgf1_md:sha256 | -keyopt ecdh_kdf_md:sha256] -recip lot-enc.pem \
        [-keyid] [-stream]
    openssl cms -decrypt -binary -inform DER -in bid.der -recip bidder-enc.pem \
        -inkey bidder-enc.key -out bid.pdf

(``-keyopt`` applies to the ``-recip`` before it; ``-binary`` keeps the bytes exact.)

Things to know
==============

* Only the content is authenticated. RecipientInfos are not covered by the GCM tag
  (a CMS property), so :func:`check_envelope` can confirm that the lot's opening
  certificate is *listed*, but only opening with its key proves that its recipient info
  carries the right key.
* Certificates are not validated here (chain, validity, revocation): validate the
  recipient certificates before :func:`seal`; this package checks key usage, key type
  and size only. A certificate without a keyUsage extension is accepted.
* Files are created 0600. :func:`open_envelope` decrypts into
  ``.NAME.XXXX.unverified`` next to the destination and renames it over the destination
  only after the tag verifies; exceptions delete it, a killed process may leave it.
* A damaged RSAES-PKCS1-v1_5 key is reported (as :class:`EnvelopeTampered`) only after
  the whole content has been decrypted with a random key: no padding oracle.
* Everything is blocking I/O: from async code call it in a worker thread.

SM2 certificates: SM2 + SM4-GCM
===============================

A certificate whose SubjectPublicKeyInfo is id-ecPublicKey on the SM2 curve
(1.2.156.10197.1.301) — or, leniently, has the SM2 OID as its key algorithm — is sealed
to with the same AuthEnvelopedData container, changed in two places::

    contentEncryptionAlgorithm SEQUENCE {
      sm4-gcm,                                         -- 1.2.156.10197.1.104.8
      GCMParameters SEQUENCE { nonce OCTET STRING (12 random bytes),
                               ICVlen INTEGER 16 } }   -- as RFC 5084, 16-byte SM4 key
    mac OCTET STRING                                   -- the 16-byte SM4-GCM tag

    KeyTransRecipientInfo ::= SEQUENCE {               -- one per SM2 certificate
      version INTEGER 0,
      rid IssuerAndSerialNumber,
      keyEncryptionAlgorithm SEQUENCE { sm2encrypt },  -- 1.2.156.10197.1.301.3, no parameters
      encryptedKey OCTET STRING }                      -- SM2Cipher { x, y, C3 hash, C2 } (GM/T
                                                       -- 0009, C1C3C2): SM2-encrypted SM4 key

* :func:`seal` picks SM4-GCM by itself as soon as one recipient is SM2 (or when asked:
  ``cipher=SM4_GCM`` or ``cipher="sm4-gcm"``). SM2 recipients may be mixed with RSA and EC
  recipients, which then carry the 16-byte SM4 key by RSA-OAEP or ECDH + AES-256 key wrap
  exactly as above. An SM2 recipient with any other content cipher is refused
  (:class:`RecipientRefused`), so one content key is never shared between an SM cipher
  and a non-SM one.
* An SM2 encryption certificate needs keyEncipherment (key transport); Chinese CAs' SM2
  encryption certificates carry it (often with keyAgreement). SM2 signing certificates
  are refused like RSA ones.
* :func:`open_envelope` takes the SM2 key as a :class:`ca_interop.gm.Sm2PrivateKey`, as
  PKCS#8 or SEC1 ("EC PRIVATE KEY" / "SM2 PRIVATE KEY") PEM/DER bytes, or a path to them.
  A failed SM2 decryption of the content key (C3 check) is :class:`EnvelopeTampered`;
  an SM2 decryption reveals nothing like a padding oracle, so it is reported at once.
* Opening also accepts SM4-GCM envelopes sealed to RSA and EC certificates only.

Not interoperable yet. No third-party tool is known to open this: OpenSSL 3.0 has
neither SM4-GCM nor SM2 in CMS (``openssl cms -decrypt`` fails on it, even for an RSA
recipient, because of the content cipher; tested); later OpenSSL releases know the
SM4-GCM OID, but whether their CMS code opens this is untested; GM/T 0010 tools (GmSSL,
CA and e-seal SDKs) write and expect EnvelopedData (1.2.156.10197.6.1.4.2.3) with
SM4-CBC, which has no integrity and which we refuse. The primitives are standard and
checked against OpenSSL in ``tests/ca_interop/test_envelopes_sm2.py``: ``openssl pkeyutl
-decrypt -inkey key.pem`` recovers the SM4 key from an encryptedKey (and
``openssl pkeyutl -encrypt`` makes one we open), and the content decrypts with that key
(SM4-ECB/CTR from the OpenSSL command line plus a GHASH in the test). A GM/T 0010 SM2
envelope writer would be a separate content type next to this one.

Extending
=========

Two registries are the seam: :func:`register_content_cipher` adds a streaming AEAD by
OID and :func:`register_recipient_scheme` adds a recipient key type, dispatched on the
certificate's SubjectPublicKeyInfo algorithm and curve. A scheme may name the content
cipher it prefers (``content_cipher``) and those it accepts (``content_ciphers``), as the
SM2 scheme does.
"""

from ._certs import CertificateLike, format_name, load_certificate, load_private_key
from ._content import (
    AES_256_GCM,
    CONTENT_CIPHERS,
    SM4_GCM,
    ContentCipher,
    register_content_cipher,
)
from ._envelope import (
    CHUNK_SIZE,
    UNVERIFIED_SUFFIX,
    EnvelopeInfo,
    SourceChanged,
    SourceLike,
    WrongContentKey,
    check_envelope,
    envelope_head,
    envelope_prefix,
    inspect_envelope,
    is_sealed,
    open_envelope,
    open_with_content_key,
    seal,
    unwrap_content_key,
    why_not_sealed,
)
from ._errors import (
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeTampered,
    NotARecipient,
    RecipientRefused,
)
from ._recipients import (
    ECDH_ES,
    RECIPIENT_SCHEMES,
    RSA_OAEP,
    Recipient,
    RecipientScheme,
    register_recipient_scheme,
)
from ._sm2 import SM2_KEY_TRANSPORT  # registers the SM2 scheme

__all__ = [
    "AES_256_GCM",
    "CHUNK_SIZE",
    "CONTENT_CIPHERS",
    "ECDH_ES",
    "RECIPIENT_SCHEMES",
    "RSA_OAEP",
    "SM2_KEY_TRANSPORT",
    "SM4_GCM",
    "CertificateLike",
    "ContentCipher",
    "EnvelopeError",
    "EnvelopeFormatError",
    "EnvelopeInfo",
    "EnvelopeTampered",
    "NotARecipient",
    "Recipient",
    "RecipientRefused",
    "RecipientScheme",
    "SourceChanged",
    "SourceLike",
    "UNVERIFIED_SUFFIX",
    "WrongContentKey",
    "check_envelope",
    "envelope_head",
    "envelope_prefix",
    "format_name",
    "inspect_envelope",
    "is_sealed",
    "load_certificate",
    "load_private_key",
    "open_envelope",
    "open_with_content_key",
    "register_content_cipher",
    "register_recipient_scheme",
    "seal",
    "unwrap_content_key",
    "why_not_sealed",
]

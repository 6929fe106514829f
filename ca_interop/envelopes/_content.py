"""Content-encryption algorithms: the seam where SM4 joins AES-256-GCM.

A :class:`ContentCipher` makes its AlgorithmIdentifier, reads one back, and hands out
streaming encryptors/decryptors with ``update_into`` (no per-chunk allocation) and a
detached authentication tag that goes into the envelope's ``mac`` field. Only
authenticated ciphers fit: :func:`open_envelope` releases plaintext only after the tag
verifies. Two are built in and accepted when opening: :data:`AES_256_GCM` (RFC 5084)
and :data:`SM4_GCM` (OID 1.2.156.10197.1.104.8, the same GCMParameters; the content
cipher of envelopes for SM2 certificates). Register another with
:func:`register_content_cipher`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import _der
from ._der import DerError, Element
from ._errors import EnvelopeFormatError, EnvelopeTampered

# Names of content algorithms we recognise but do not accept, for clear refusals.
KNOWN_CONTENT_ALGORITHMS = {
    "2.16.840.1.101.3.4.1.6": "aes-128-gcm",
    "2.16.840.1.101.3.4.1.26": "aes-192-gcm",
    "2.16.840.1.101.3.4.1.46": "aes-256-gcm",
    "2.16.840.1.101.3.4.1.2": "aes-128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes-192-cbc",
    "2.16.840.1.101.3.4.1.42": "aes-256-cbc",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.2.156.10197.1.104.2": "sm4-cbc",
    "1.2.156.10197.1.104.8": "sm4-gcm",
}


class StreamEncryptor(Protocol):
    def update_into(self, data: memoryview, out: bytearray | memoryview) -> int: ...

    def finish(self) -> bytes:
        """Flush and return the authentication tag."""
        ...


class StreamDecryptor(Protocol):
    def update_into(self, data: memoryview, out: bytearray | memoryview) -> int: ...

    def verify(self, mac: bytes) -> None:
        """Raise :class:`EnvelopeTampered` unless ``mac`` authenticates everything decrypted."""
        ...


class ContentCipher(Protocol):
    name: str
    oid: str
    key_size: int
    tag_size: int
    overhead: int
    """Extra bytes ``update_into`` may need in its output buffer beyond the input size."""

    def new_parameters(self) -> Any: ...

    def algorithm_identifier(self, parameters: Any) -> bytes: ...

    def read_parameters(self, algorithm: Element) -> Any:
        """The parameters from the envelope's AlgorithmIdentifier; raise DerError or
        EnvelopeFormatError when unacceptable."""
        ...

    def describe(self, parameters: Any) -> dict[str, Any]: ...

    def ciphertext_size(self, plaintext_size: int) -> int: ...

    def encryptor(self, key: bytes, parameters: Any) -> StreamEncryptor: ...

    def decryptor(self, key: bytes, parameters: Any) -> StreamDecryptor: ...


@dataclass(frozen=True)
class GcmParameters:
    nonce: bytes
    tag_size: int


_BlockAlgorithm = type[algorithms.AES] | type[algorithms.SM4]


class _GcmEncryptor:
    def __init__(self, algorithm: _BlockAlgorithm, key: bytes, nonce: bytes) -> None:
        self._context = Cipher(algorithm(key), modes.GCM(nonce)).encryptor()

    def update_into(self, data: memoryview, out: bytearray | memoryview) -> int:
        return self._context.update_into(data, out)

    def finish(self) -> bytes:
        self._context.finalize()
        return self._context.tag


class _GcmDecryptor:
    def __init__(self, algorithm: _BlockAlgorithm, key: bytes, parameters: GcmParameters) -> None:
        self._context = Cipher(
            algorithm(key), modes.GCM(parameters.nonce, min_tag_length=parameters.tag_size)
        ).decryptor()
        self._tag_size = parameters.tag_size

    def update_into(self, data: memoryview, out: bytearray | memoryview) -> int:
        return self._context.update_into(data, out)

    def verify(self, mac: bytes) -> None:
        if len(mac) != self._tag_size:
            raise EnvelopeTampered(
                f"the authentication tag is {len(mac)} bytes, the algorithm parameters say "
                f"{self._tag_size}: the envelope was altered or damaged"
            )
        try:
            self._context.finalize_with_tag(mac)
        except InvalidTag:
            raise EnvelopeTampered(
                "the authentication tag does not verify: the envelope was altered or damaged "
                "after sealing (or sealed with a different key); no plaintext was released"
            ) from None


class GcmCipher:
    """A 128-bit block cipher in GCM mode with RFC 5084's ``GCMParameters ::= SEQUENCE {
    aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }``; we write a 12-byte nonce
    and ICVlen 16 and accept only those (the platform's policy; OpenSSL writes the same
    for AES). SM4-GCM uses the same parameters: no CMS specification defines others."""

    nonce_size = 12
    tag_size = 16
    overhead = 15  # cryptography asks for block_size - 1 spare bytes in update_into

    def __init__(self, name: str, oid: str, key_size: int, algorithm: _BlockAlgorithm = algorithms.AES) -> None:
        self.name = name
        self.oid = oid
        self.key_size = key_size
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return f"<ContentCipher {self.name}>"

    def new_parameters(self) -> GcmParameters:
        return GcmParameters(os.urandom(self.nonce_size), self.tag_size)

    def algorithm_identifier(self, parameters: GcmParameters) -> bytes:
        return _der.algorithm_identifier(
            self.oid, _der.sequence(_der.octet_string(parameters.nonce), _der.integer(parameters.tag_size))
        )

    def read_parameters(self, algorithm: Element) -> GcmParameters:
        fields = algorithm.children("content-encryption algorithm")
        if len(fields) != 2:
            raise EnvelopeFormatError(f"{self.name}: the GCMParameters are missing")
        values = fields[1].expect(_der.UNIVERSAL, _der.T_SEQUENCE, "GCMParameters").children("GCMParameters")
        if not 1 <= len(values) <= 2:
            raise EnvelopeFormatError(f"{self.name}: GCMParameters has {len(values)} fields")
        nonce = values[0].as_octets("GCM nonce")
        tag_size = values[1].as_int("GCM ICV length") if len(values) == 2 else 12
        if len(nonce) != self.nonce_size:
            raise EnvelopeFormatError(f"{self.name}: a {len(nonce)}-byte nonce; only {self.nonce_size} is accepted")
        if tag_size != self.tag_size:
            raise EnvelopeFormatError(
                f"{self.name}: a {tag_size}-byte authentication tag; only {self.tag_size} is accepted"
            )
        return GcmParameters(nonce, tag_size)

    def describe(self, parameters: GcmParameters) -> dict[str, Any]:
        return {"nonce": parameters.nonce.hex(), "tag_size": parameters.tag_size}

    def ciphertext_size(self, plaintext_size: int) -> int:
        return plaintext_size  # GCM is a stream mode; the tag is detached

    def encryptor(self, key: bytes, parameters: GcmParameters) -> _GcmEncryptor:
        return _GcmEncryptor(self.algorithm, key, parameters.nonce)

    def decryptor(self, key: bytes, parameters: GcmParameters) -> _GcmDecryptor:
        if len(key) != self.key_size:
            raise EnvelopeTampered(
                f"the unwrapped content key is {len(key)} bytes, {self.name} needs {self.key_size}: "
                "the envelope was altered or damaged"
            )
        return _GcmDecryptor(self.algorithm, key, parameters)


AesGcm = GcmCipher  # the name before SM4-GCM joined

AES_256_GCM = GcmCipher("aes-256-gcm", "2.16.840.1.101.3.4.1.46", 32, algorithms.AES)

SM4_GCM = GcmCipher("sm4-gcm", "1.2.156.10197.1.104.8", 16, algorithms.SM4)
"""SM4 (GB/T 32907) in GCM mode, 128-bit key. The OID is OpenSSL's ``SM4-GCM``
(objects.txt ``sm-scheme 104 8``; OpenSSL 3.0 does not know it), under the SM4 arc
1.2.156.10197.1.104 of GM/T 0006 (.1 ECB, .2 CBC, .7 CTR, .9 CCM). GM/T 0006-2023 is
said to assign .8 to SM4-GCM too; its text was not checked. RFC 8998 defines SM4-GCM for
TLS 1.3 only, with no OID. The streaming code is pyca/cryptography's SM4, as in
:mod:`ca_interop.gm`."""

CONTENT_CIPHERS: dict[str, ContentCipher] = {AES_256_GCM.oid: AES_256_GCM, SM4_GCM.oid: SM4_GCM}
"""The content algorithms :func:`open_envelope` accepts, by OID."""


def register_content_cipher(cipher: ContentCipher) -> None:
    CONTENT_CIPHERS[cipher.oid] = cipher


def content_cipher_named(name: str) -> ContentCipher:
    """A registered cipher by name (``"sm4-gcm"``) or dotted OID."""
    cipher = CONTENT_CIPHERS.get(name) or next(
        (c for c in CONTENT_CIPHERS.values() if c.name == name.lower()), None)
    if cipher is None:
        raise ValueError(f"unknown content cipher {name!r}; registered: "
                         + ", ".join(c.name for c in CONTENT_CIPHERS.values()))
    return cipher


def content_cipher_for(algorithm: Element) -> tuple[ContentCipher, Any]:
    """The registered cipher and its parameters for an envelope's AlgorithmIdentifier."""
    try:
        dotted = algorithm.expect(_der.UNIVERSAL, _der.T_SEQUENCE, "content-encryption algorithm") \
            .children("content-encryption algorithm")[0].as_oid("content-encryption algorithm")
    except (DerError, IndexError) as error:
        raise EnvelopeFormatError(f"unreadable content-encryption algorithm: {error}") from None
    cipher = CONTENT_CIPHERS.get(dotted)
    if cipher is None:
        name = KNOWN_CONTENT_ALGORITHMS.get(dotted, dotted)
        accepted = ", ".join(c.name for c in CONTENT_CIPHERS.values())
        raise EnvelopeFormatError(f"content encryption {name} is not accepted; seal with {accepted}")
    try:
        return cipher, cipher.read_parameters(algorithm)
    except DerError as error:
        raise EnvelopeFormatError(f"{cipher.name}: unreadable parameters: {error}") from None

"""The platform's own signing keys (ledger tree heads now; notices and timestamps later).

Signing goes through the :class:`PlatformSigner` interface so that other algorithms (SM2,
ECDSA, an HSM) can stand in for the Ed25519 key without the ledger noticing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class PlatformSigner(Protocol):
    """A key the platform signs with; ``key_id`` names it in everything it signs."""

    algorithm: str
    key_id: str
    public_key_pem: str

    def sign(self, data: bytes) -> bytes: ...


def key_id_of(public_key_der: bytes) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: stable, and checkable by anyone."""
    return hashlib.sha256(public_key_der).hexdigest()


class Ed25519PlatformSigner:
    algorithm = "Ed25519"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        public = private_key.public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = key_id_of(der)
        self.public_key_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    @classmethod
    def load_or_create(cls, path: Path) -> Ed25519PlatformSigner:
        """Load the PEM key at ``path``; on a first run create it, readable by the owner only.

        Several processes may start together on a first run (web and worker): the key is
        written to a private temporary file and linked into place, so exactly one key wins
        and nobody ever reads a half-written file.
        """
        if not path.exists():
            cls._create(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    @staticmethod
    def _create(path: Path) -> None:
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)  # fails if another process got there first
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)


def verify_signature(public_key_pem: str, data: bytes, signature: bytes) -> bool:
    """Check a platform signature with only the published public key."""
    key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True

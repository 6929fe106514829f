"""Lot opening keys, held k-of-n by custodians and never stored whole.

Every bid is sealed (:mod:`ca_interop.envelopes`) to the bidder's own encryption
certificate and to the lot's *opening certificate*, the fallback for a bidder who cannot
decrypt at the opening. The opening private key exists whole only twice, in memory:

1. in :func:`create_opening_key`, when the lot is published: the key pair is made, a
   self-issued certificate is made for its public key, the private key (PKCS#8 DER) is
   split k-of-n with Shamir (:mod:`ca_interop.shamir`) and each share is sealed in a CMS
   envelope to one custodian's encryption certificate. What comes back, the
   :class:`OpeningKeyRecord`, holds the certificate, the sealed shares, the threshold and
   a SHA-256 commitment of the private key, and nothing from which the key can be had
   without k custodians.
2. in :func:`recover_opening_key`, at the opening: k custodians each run
   :func:`decrypt_share` with their own key, the shares are combined, and the rebuilt key
   is checked against the commitment and the certificate before it is returned.

Choices
=======

* Key: ``"ecdsa"`` makes an EC P-256 key (bids reach it by ECDH, keyUsage keyAgreement),
  ``"rsa"`` an RSA-3072 key (RSA-OAEP, keyUsage keyEncipherment; 3072 bits for 128-bit
  security, as P-256). EC is the default: small shares, fast generation.
* Certificate: self-issued and self-signed (a signature by the key it certifies, i.e. a
  proof of possession), subject ``OU=Lot opening key, CN=<lot reference>``, not a CA,
  valid from a few minutes ago to ``not_after`` (default 90 days: the tender period plus
  a margin). Trust in it does not come from a CA: the platform publishes its SHA-256
  fingerprint (:attr:`OpeningKeyRecord.certificate_fingerprint`) in the signed lot
  notice, and bidder clients check that fingerprint before sealing.
* Shares are sealed with :func:`ca_interop.envelopes.seal` (AuthEnvelopedData,
  AES-256-GCM; RSA-OAEP or ECDH key management by the custodian's certificate), so a
  custodian can open theirs with ``openssl cms -decrypt`` even without the platform.
  The envelope holds a small JSON document: the share (base64) with its index, the
  threshold, the lot reference, the key commitment and the opening certificate's
  fingerprint, so an envelope moved to another record or another index is recognised.
  An SM2 custodian certificate works the same way: the envelopes package seals to it
  with SM2 key transport and SM4-GCM content (no third-party tool opens those yet;
  :func:`decrypt_share` does). Certificates the envelopes package cannot seal to (signing
  certificates, unsupported keys) are refused before any key is made.
* Commitment: SHA-256 of the PKCS#8 DER. The key has >= 128 bits of entropy, so the hash
  reveals nothing usable; a rebuilt key must match it byte for byte and must also be
  the certificate's key.

Opening a share, in memory
==========================

``envelopes.open_envelope`` decrypts into a file (it releases plaintext only once the GCM
tag verifies). :func:`decrypt_share` points it at a private (0700) temporary directory,
on the RAM-backed ``/dev/shm`` when there is one, reads the share and deletes the file
at once. A share alone reveals nothing about the key (nor do k-1 of them), so this
residue is tolerable; a bytes-level ``open`` in the envelopes package would remove it.

What this module does not do: validate custodian certificates (chain, revocation — use
:mod:`ca_interop.validation` first; here only the validity period is checked), store
anything, or decide who may open (the trading domain does).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Union

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca_interop import shamir
from ca_interop.envelopes import (
    CertificateLike,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeTampered,
    NotARecipient,
    load_certificate,
    load_private_key,
    open_envelope,
    seal,
)
from ca_interop.shamir import Share
from core.clock import ensure_utc, parse_rfc3339, rfc3339, utcnow
from core.errors import BidhallError, InvalidInput

__all__ = [
    "ALGORITHMS",
    "CommitmentMismatch",
    "CustodianRefused",
    "DuplicateCustodian",
    "EncryptedShare",
    "NotEnoughShares",
    "OpeningKeyError",
    "OpeningKeyRecord",
    "OpeningPrivateKey",
    "Share",
    "ShareRejected",
    "WrongCustodian",
    "create_opening_key",
    "decrypt_share",
    "recover_opening_key",
]

log = logging.getLogger(__name__)

OpeningPrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]

ALGORITHMS: Final = {"ecdsa": "EC P-256 (ECDH recipients)", "rsa": "RSA-3072 (RSA-OAEP recipients)"}
RECORD_FORMAT: Final = "bidhall-opening-key/1"
SHARE_FORMAT: Final = "bidhall-opening-key-share/1"
DEFAULT_VALIDITY: Final = dt.timedelta(days=90)
MAX_VALIDITY: Final = dt.timedelta(days=2 * 366)
BACKDATE: Final = dt.timedelta(minutes=5)
"""The certificate is valid from a little before its creation, for clocks running behind."""
MAX_LOT_REFERENCE: Final = 64  # the X.520 upper bound of a commonName
_MAX_SUBSETS: Final = 2000  # share subsets tried to route around a bad share at an opening


# --------------------------------------------------------------------------- errors


class OpeningKeyError(BidhallError):
    """Base of the opening-key errors. Messages name custodians and share indices, never
    share values or key material."""

    code = "opening-key-error"
    title = "The opening key cannot be used"


class CustodianRefused(OpeningKeyError, InvalidInput, ValueError):
    """The custodians or threshold cannot make an opening key: a certificate that cannot
    receive envelopes (a signing or SM2 certificate), one out of its validity period, a
    threshold out of range."""

    code = "opening-key-custodian-refused"
    title = "The opening key custodians are not usable"


class DuplicateCustodian(CustodianRefused):
    """The same custodian twice (same certificate, same key or same subject): they would
    hold two shares and the threshold would be weaker than it says."""

    code = "opening-key-duplicate-custodian"
    title = "A custodian is listed twice"


class WrongCustodian(OpeningKeyError):
    """The certificate or key given is not the one the share was sealed to."""

    code = "opening-key-wrong-custodian"
    title = "This share belongs to another custodian"


class ShareRejected(OpeningKeyError):
    """A share that cannot be used: its envelope is damaged or belongs to another share,
    its index is not in the record, it is given twice, or shares differ in length."""

    code = "opening-key-share-rejected"
    title = "A key share was rejected"


class NotEnoughShares(OpeningKeyError):
    """Fewer shares than the threshold."""

    code = "opening-key-not-enough-shares"
    title = "Not enough key shares"


class CommitmentMismatch(OpeningKeyError):
    """The rebuilt key is not the committed one: a share is corrupted or forged."""

    code = "opening-key-commitment-mismatch"
    title = "The rebuilt opening key is not the committed one"


# --------------------------------------------------------------------------- records


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{what} is not valid base64") from None


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EncryptedShare:
    """One custodian's share, sealed to their encryption certificate.

    ``envelope`` is a CMS AuthEnvelopedData (DER) to ``custodian_certificate`` only;
    ``custodian_fingerprint`` is the hex SHA-256 of that certificate's DER. The lot
    reference and the key commitment are repeated so a share handed to its custodian on
    its own still says what it belongs to."""

    index: int
    custodian_fingerprint: str
    custodian_subject: str
    custodian_certificate: bytes = field(repr=False)
    envelope: bytes = field(repr=False)
    lot_reference: str
    key_commitment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "custodian_fingerprint": self.custodian_fingerprint,
            "custodian_subject": self.custodian_subject,
            "custodian_certificate": _b64(self.custodian_certificate),
            "envelope": _b64(self.envelope),
            "lot_reference": self.lot_reference,
            "key_commitment": self.key_commitment,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncryptedShare:
        try:
            share = cls(
                index=data["index"],
                custodian_fingerprint=data["custodian_fingerprint"],
                custodian_subject=data["custodian_subject"],
                custodian_certificate=_unb64(data["custodian_certificate"], "custodian_certificate"),
                envelope=_unb64(data["envelope"], "envelope"),
                lot_reference=data["lot_reference"],
                key_commitment=data["key_commitment"],
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an encrypted opening-key share: {error!r}") from None
        if isinstance(share.index, bool) or not isinstance(share.index, int) or not 1 <= share.index <= 255:
            raise ValueError(f"share index {share.index!r} is not 1..255")
        if _sha256_hex(share.custodian_certificate) != share.custodian_fingerprint:
            raise ValueError(f"share {share.index}: the custodian fingerprint is not that of the certificate")
        return share


@dataclass(frozen=True)
class OpeningKeyRecord:
    """What the platform stores for a lot's opening key: public, and useless without k
    custodians. Serialize with :meth:`to_json` / :meth:`to_dict`, load with
    :meth:`from_json` / :meth:`from_dict` (which check the record's consistency)."""

    lot_reference: str
    algorithm: str  # "ecdsa" (EC P-256) or "rsa" (RSA-3072)
    certificate_der: bytes = field(repr=False)
    threshold: int
    shares: tuple[EncryptedShare, ...] = field(repr=False)
    key_commitment: str  # hex SHA-256 of the private key's PKCS#8 DER
    created_at: dt.datetime
    share_field: str = shamir.FIELD
    format: str = RECORD_FORMAT

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def certificate_fingerprint(self) -> str:
        """Hex SHA-256 of the certificate's DER: what the lot notice publishes."""
        return _sha256_hex(self.certificate_der)

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def custodian_fingerprints(self) -> list[str]:
        return [share.custodian_fingerprint for share in self.shares]

    def share_for(self, custodian: CertificateLike) -> EncryptedShare:
        """The share sealed to this custodian certificate (or its fingerprint)."""
        if isinstance(custodian, str) and len(custodian) == 64 and all(c in "0123456789abcdef" for c in custodian):
            fingerprint = custodian
        else:
            fingerprint = _certificate_fingerprint(load_certificate(custodian))
        for share in self.shares:
            if share.custodian_fingerprint == fingerprint:
                return share
        raise WrongCustodian(f"no share of the opening key of lot {self.lot_reference!r} is sealed to "
                             f"certificate {fingerprint}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "lot_reference": self.lot_reference,
            "algorithm": self.algorithm,
            "certificate": self.certificate_pem.decode("ascii"),
            "certificate_fingerprint": self.certificate_fingerprint,
            "threshold": self.threshold,
            "share_field": self.share_field,
            "key_commitment": self.key_commitment,
            "created_at": rfc3339(self.created_at),
            "shares": [share.to_dict() for share in self.shares],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> OpeningKeyRecord:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"an opening-key record is JSON: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpeningKeyRecord:
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ValueError(f"not an opening-key record of format {RECORD_FORMAT!r}")
        try:
            certificate = x509.load_pem_x509_certificate(data["certificate"].encode("ascii"))
            record = cls(
                lot_reference=data["lot_reference"],
                algorithm=data["algorithm"],
                certificate_der=certificate.public_bytes(serialization.Encoding.DER),
                threshold=data["threshold"],
                shares=tuple(EncryptedShare.from_dict(item) for item in data["shares"]),
                key_commitment=data["key_commitment"],
                created_at=parse_rfc3339(data["created_at"]),
                share_field=data["share_field"],
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a complete opening-key record: {error!r}") from None
        record._check()
        if data.get("certificate_fingerprint", record.certificate_fingerprint) != record.certificate_fingerprint:
            raise ValueError("the record's certificate fingerprint is not that of its certificate")
        return record

    def _check(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown opening-key algorithm {self.algorithm!r}")
        if self.share_field != shamir.FIELD:
            raise ValueError(f"shares over {self.share_field!r} are not supported")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise ValueError("the threshold must be an integer")
        if not 2 <= self.threshold <= len(self.shares):
            raise ValueError(f"threshold {self.threshold} with {len(self.shares)} shares")
        if len({share.index for share in self.shares}) != len(self.shares):
            raise ValueError("two shares have the same index")
        if len(set(self.custodian_fingerprints)) != len(self.shares):
            raise ValueError("two shares are sealed to the same custodian certificate")
        for share in self.shares:
            if share.lot_reference != self.lot_reference or share.key_commitment != self.key_commitment:
                raise ValueError(f"share {share.index} belongs to another opening key")


# --------------------------------------------------------------------------- creating


@dataclass(frozen=True)
class _Custodian:
    certificate: x509.Certificate
    der: bytes
    fingerprint: str
    subject: str


def _certificate_fingerprint(certificate: x509.Certificate) -> str:
    return _sha256_hex(certificate.public_bytes(serialization.Encoding.DER))


def _load_custodians(custodians: Sequence[CertificateLike], now: dt.datetime) -> list[_Custodian]:
    if isinstance(custodians, (bytes, str, os.PathLike, x509.Certificate)) or not isinstance(custodians, Sequence):
        raise CustodianRefused("custodians must be a list of encryption certificates")
    loaded: list[_Custodian] = []
    by_fingerprint: dict[str, str] = {}
    by_key: dict[str, str] = {}
    by_subject: dict[str, str] = {}
    for position, value in enumerate(custodians, start=1):
        try:
            certificate = load_certificate(value)
        except (EnvelopeError, TypeError) as error:
            raise CustodianRefused(f"custodian {position}: {error}") from None
        der = certificate.public_bytes(serialization.Encoding.DER)
        subject = certificate.subject.rfc4514_string()
        label = f"custodian {position} ({subject!r})"
        fingerprint = _sha256_hex(der)
        # The SubjectPublicKeyInfo read by asn1crypto: pyca cannot load SM2 keys.
        key_id = _sha256_hex(asn1_x509.Certificate.load(der).public_key.dump())
        for seen, value_key, what in ((by_fingerprint, fingerprint, "certificate"),
                                      (by_key, key_id, "public key"),
                                      (by_subject, subject, "subject name")):
            if value_key in seen and (what != "subject name" or subject):
                raise DuplicateCustodian(
                    f"{label} has the same {what} as {seen[value_key]}: one custodian would hold two shares"
                )
            seen[value_key] = label
        if certificate.not_valid_before_utc > now:
            raise CustodianRefused(f"{label}: the certificate is not valid before "
                                   f"{rfc3339(certificate.not_valid_before_utc)}")
        if certificate.not_valid_after_utc < now:
            raise CustodianRefused(f"{label}: the certificate expired on {rfc3339(certificate.not_valid_after_utc)}")
        try:  # refuse signing and unsupported (e.g. SM2) certificates before any key is made
            seal(b"", [certificate], io.BytesIO())
        except EnvelopeError as error:
            raise CustodianRefused(f"{label} cannot receive a key share: {error.detail}") from None
        loaded.append(_Custodian(certificate, der, fingerprint, subject))
    return loaded


def _check_lot_reference(lot_reference: str) -> None:
    if not isinstance(lot_reference, str) or not lot_reference.strip():
        raise InvalidInput("the lot reference must be non-empty text")
    if len(lot_reference) > MAX_LOT_REFERENCE:
        raise InvalidInput(f"the lot reference is {len(lot_reference)} characters; at most {MAX_LOT_REFERENCE} "
                           "fit in a certificate's common name")
    if not lot_reference.isprintable() or lot_reference != lot_reference.strip():
        raise InvalidInput("the lot reference must be printable, without leading or trailing spaces")


def _new_key(algorithm: str) -> OpeningPrivateKey:
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _opening_certificate(key: OpeningPrivateKey, lot_reference: str, not_before: dt.datetime,
                         not_after: dt.datetime) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Lot opening key"),
        x509.NameAttribute(NameOID.COMMON_NAME, lot_reference),
    ])
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=is_rsa,
            data_encipherment=False, key_agreement=not is_rsa, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def _share_payload(share: Share, *, lot_reference: str, commitment: str, certificate_fingerprint: str,
                   threshold: int, count: int) -> bytes:
    return json.dumps({
        "format": SHARE_FORMAT,
        "lot_reference": lot_reference,
        "key_commitment": commitment,
        "opening_certificate_sha256": certificate_fingerprint,
        "field": shamir.FIELD,
        "threshold": threshold,
        "shares": count,
        "index": share.index,
        "value": _b64(share.value),
    }, sort_keys=True, ensure_ascii=False).encode("utf-8")


def create_opening_key(
    algorithm: str = "ecdsa",
    *,
    custodians: Sequence[CertificateLike],
    threshold: int,
    lot_reference: str,
    not_after: dt.datetime | None = None,
) -> OpeningKeyRecord:
    """Make the opening key of lot ``lot_reference`` and return its record, with the
    private key split ``threshold``-of-``len(custodians)`` and each share sealed to one
    custodian (share index i + 1 for ``custodians[i]``).

    ``algorithm`` is ``"ecdsa"`` (EC P-256) or ``"rsa"`` (RSA-3072). ``not_after`` ends the
    certificate's validity (default 90 days from now); make it the opening time plus a
    margin. Custodians are encryption certificates (RSA or SM2 keyEncipherment, EC
    P-256/384/521 keyAgreement), each person once, currently valid. 2 <= threshold <= custodians <= 255.

    Raises :class:`CustodianRefused` / :class:`DuplicateCustodian` (before any key is
    made) and ``InvalidInput`` for a bad lot reference, algorithm or validity.
    """
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"unknown opening-key algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")
    _check_lot_reference(lot_reference)
    now = utcnow()
    not_after = ensure_utc(not_after) if not_after is not None else now + DEFAULT_VALIDITY
    if not_after <= now:
        raise InvalidInput(f"the opening certificate would end at {rfc3339(not_after)}, which is not in the future")
    if not_after - now > MAX_VALIDITY:
        raise InvalidInput(f"the opening certificate would be valid for {(not_after - now).days} days; "
                           f"at most {MAX_VALIDITY.days}: it should cover one tender period")
    loaded = _load_custodians(custodians, now)
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise CustodianRefused(f"the threshold must be an integer, not {type(threshold).__name__}")
    if not 2 <= len(loaded) <= shamir.MAX_SHARES:
        raise CustodianRefused(f"{len(loaded)} custodian(s): an opening key needs 2 to {shamir.MAX_SHARES}")
    if not 2 <= threshold <= len(loaded):
        raise CustodianRefused(f"threshold {threshold} with {len(loaded)} custodians: it must be 2..{len(loaded)} "
                               "(1 would let any single custodian open every bid)")

    key = _new_key(algorithm)
    certificate = _opening_certificate(key, lot_reference, now - BACKDATE, not_after)
    certificate_der = certificate.public_bytes(serialization.Encoding.DER)
    certificate_fingerprint = _sha256_hex(certificate_der)
    secret = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    del key
    commitment = _sha256_hex(secret)
    parts = shamir.split(secret, threshold, len(loaded))
    del secret
    encrypted: list[EncryptedShare] = []
    for custodian, part in zip(loaded, parts, strict=True):
        sink = io.BytesIO()
        seal(_share_payload(part, lot_reference=lot_reference, commitment=commitment,
                            certificate_fingerprint=certificate_fingerprint, threshold=threshold,
                            count=len(loaded)),
             [custodian.certificate], sink)
        encrypted.append(EncryptedShare(
            index=part.index,
            custodian_fingerprint=custodian.fingerprint,
            custodian_subject=custodian.subject,
            custodian_certificate=custodian.der,
            envelope=sink.getvalue(),
            lot_reference=lot_reference,
            key_commitment=commitment,
        ))
    del parts
    record = OpeningKeyRecord(
        lot_reference=lot_reference,
        algorithm=algorithm,
        certificate_der=certificate_der,
        threshold=threshold,
        shares=tuple(encrypted),
        key_commitment=commitment,
        created_at=now,
    )
    record._check()
    return record


# --------------------------------------------------------------------------- opening


def _private_directory() -> str | None:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _open_to_memory(envelope: bytes, key: Any, certificate: x509.Certificate) -> bytes:
    """The envelope's plaintext, via a 0700 temporary directory (RAM-backed when possible)."""
    with tempfile.TemporaryDirectory(prefix="bidhall-share-", dir=_private_directory()) as directory:
        target = Path(directory) / "share"
        try:
            open_envelope(envelope, key, certificate, target)
            return target.read_bytes()
        finally:
            target.unlink(missing_ok=True)


def decrypt_share(encrypted_share: EncryptedShare, custodian_key: Any, custodian_cert: CertificateLike) -> Share:
    """The custodian's side of an opening: decrypt their share with their private key.

    ``custodian_key`` is a ``cryptography`` private key, a :class:`ca_interop.gm.Sm2PrivateKey`
    or unencrypted PEM/DER bytes;
    ``custodian_cert`` is the custodian's encryption certificate. Raises
    :class:`WrongCustodian` if either is not the one the share was sealed to and
    :class:`ShareRejected` if the envelope is damaged or holds another share.
    """
    if not isinstance(encrypted_share, EncryptedShare):
        raise TypeError(f"expected an EncryptedShare, not {type(encrypted_share).__name__}")
    try:
        certificate = load_certificate(custodian_cert)
        key = load_private_key(custodian_key)
    except EnvelopeError as error:
        raise WrongCustodian(f"share {encrypted_share.index}: {error.detail}") from None
    fingerprint = _certificate_fingerprint(certificate)
    if fingerprint != encrypted_share.custodian_fingerprint:
        raise WrongCustodian(
            f"share {encrypted_share.index} of lot {encrypted_share.lot_reference!r} is sealed to "
            f"{encrypted_share.custodian_subject!r} (certificate {encrypted_share.custodian_fingerprint}), "
            f"not to {certificate.subject.rfc4514_string()!r} (certificate {fingerprint})"
        )
    try:
        plaintext = _open_to_memory(encrypted_share.envelope, key, certificate)
    except NotARecipient as error:
        raise WrongCustodian(f"share {encrypted_share.index}: {error.detail}") from None
    except (EnvelopeTampered, EnvelopeFormatError) as error:
        raise ShareRejected(f"share {encrypted_share.index} ({encrypted_share.custodian_subject!r}): "
                            f"the envelope is damaged: {error.detail}") from None
    except EnvelopeError as error:
        raise ShareRejected(f"share {encrypted_share.index}: {error.detail}") from None
    return _read_payload(plaintext, encrypted_share)


def _read_payload(plaintext: bytes, expected: EncryptedShare) -> Share:
    where = f"share {expected.index} ({expected.custodian_subject!r})"
    try:
        payload = json.loads(plaintext)
        if not isinstance(payload, dict) or payload.get("format") != SHARE_FORMAT:
            raise ValueError(f"not a {SHARE_FORMAT} document")
        index, value = payload["index"], _unb64(payload["value"], "value")
        lot_reference, commitment = payload["lot_reference"], payload["key_commitment"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ShareRejected(f"{where}: the envelope does not hold a key share ({error})") from None
    if lot_reference != expected.lot_reference or commitment != expected.key_commitment:
        raise ShareRejected(f"{where}: the envelope holds a share of another opening key "
                            f"(lot {lot_reference!r}), not of lot {expected.lot_reference!r}")
    if index != expected.index:
        raise ShareRejected(f"{where}: the envelope holds share {index!r}, not share {expected.index}")
    try:
        return Share(index, value)
    except shamir.ShamirError as error:
        raise ShareRejected(f"{where}: {error}") from None


def recover_opening_key(record: OpeningKeyRecord, decrypted_shares: Iterable[Share]) -> OpeningPrivateKey:
    """Rebuild the opening private key, in memory, from at least ``record.threshold``
    decrypted shares, and check it: its PKCS#8 DER must hash to ``record.key_commitment``
    and its public key must be the certificate's.

    If more shares than needed are given and together they do not match, subsets of
    ``threshold`` are tried so one bad share cannot block an opening; the shares left out
    are logged as a warning (by index and custodian, never by value).

    Raises :class:`NotEnoughShares`, :class:`ShareRejected` (unknown index, a share given
    twice, shares of different lengths) and :class:`CommitmentMismatch`.
    """
    custodians = {share.index: share for share in record.shares}
    given: list[Share] = []
    for share in decrypted_shares:
        if not isinstance(share, Share):
            raise TypeError(f"expected decrypted Share objects, not {type(share).__name__}")
        if share.index not in custodians:
            raise ShareRejected(f"share {share.index} is not one of the {len(custodians)} shares of the opening key "
                                f"of lot {record.lot_reference!r}")
        if any(other.index == share.index for other in given):
            raise ShareRejected(f"the share of {custodians[share.index].custodian_subject!r} "
                                f"(index {share.index}) is given twice")
        given.append(share)
    if len(given) < record.threshold:
        missing = [custodians[index].custodian_subject for index in sorted(custodians)
                   if index not in {share.index for share in given}]
        raise NotEnoughShares(
            f"{len(given)} share(s) of the opening key of lot {record.lot_reference!r}; {record.threshold} are needed. "
            f"Custodians who have not given theirs: {'; '.join(missing)}"
        )
    given.sort(key=lambda share: share.index)
    try:
        secret = shamir.combine(given, threshold=record.threshold)
        if not _matches(secret, record.key_commitment) and len(given) > record.threshold:
            secret = _route_around_bad_shares(record, given, custodians)
    except shamir.ShamirError as error:
        raise ShareRejected(f"the shares of lot {record.lot_reference!r} do not fit together: {error}") from None
    if not _matches(secret, record.key_commitment):
        raise CommitmentMismatch(
            f"the key rebuilt from shares {', '.join(str(share.index) for share in given)} is not the committed "
            f"opening key of lot {record.lot_reference!r}: a share is corrupted or belongs to another key"
        )
    try:
        # The bytes are exactly those made in create_opening_key (their SHA-256 matched), so
        # the slow RSA consistency check has nothing left to find.
        key = serialization.load_der_private_key(secret, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        raise CommitmentMismatch("the committed opening key does not load as a private key: the record is damaged")
    del secret
    public = record.certificate.public_key()
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)) or \
            key.public_key().public_numbers() != public.public_numbers():  # type: ignore[union-attr]
        raise CommitmentMismatch(f"the rebuilt key is not the key of the opening certificate of lot "
                                 f"{record.lot_reference!r}: the record is inconsistent")
    return key


def _matches(secret: bytes, commitment: str) -> bool:
    return hmac.compare_digest(_sha256_hex(secret), commitment)


def _route_around_bad_shares(record: OpeningKeyRecord, given: list[Share],
                             custodians: dict[int, EncryptedShare]) -> bytes:
    """A subset of ``threshold`` shares that rebuilds the committed key; else the (wrong)
    combination of all, for the caller to report."""
    if math.comb(len(given), record.threshold) > _MAX_SUBSETS:
        return shamir.combine(given)
    for subset in itertools.combinations(given, record.threshold):
        secret = shamir.combine(subset)
        if _matches(secret, record.key_commitment):
            # A share lies on the polynomial iff it and threshold-1 good shares rebuild the same secret.
            base = list(subset[:-1])
            bad = [share for share in given if share not in subset
                   and shamir.combine(base + [share]) != secret]
            if bad:
                log.warning(
                    "opening key of lot %r rebuilt without inconsistent share(s): %s", record.lot_reference,
                    "; ".join(f"{share.index} ({custodians[share.index].custodian_subject})" for share in bad),
                )
            return secret
    return shamir.combine(given)

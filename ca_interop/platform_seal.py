"""The platform's electronic seal (平台电子印章), which seals the award notices it issues.

Three files make it, all named from the settings:

    seal.key        the seal holder's SM2 private key, PEM (PKCS#8)
    seal-chain.pem  the holder's certificate, then its chain up to the root
    seal.der        the GB/T 38540 SESeal made by the seal maker, listing that certificate

``seal.der`` sits beside the certificate file (:func:`seal_file_for`): the seal and the
certificate it lists belong together. The root at the end of the chain is what a reader of
an award notice needs, beside the trust list, to validate the seal signature.

``bidhall pki demo`` writes a demo seal (``ca_interop.demo_pki_set``);
:func:`write_demo_platform_seal` makes a self-contained one (its own SM2 CA) for tests and
first runs.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509

from ca_interop import gm
from ca_interop.eseal import make_seal, read_seal
from ca_interop.eseal.common import ESealError
from core.clock import utcnow

SEAL_FILE_NAME = "seal.der"
SEAL_NAME = "bidhall 交易平台电子印章"
SEAL_SIZE_MM = 40


class PlatformSealMissing(Exception):
    """The seal's files are not there (or not usable); the message says how to get them."""


@dataclass(frozen=True)
class PlatformSeal:
    """The platform seal holder's key and certificate chain, and the seal itself."""

    key: gm.Sm2PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    seal_der: bytes

    @property
    def root(self) -> x509.Certificate:
        """The self-signed root the holder's certificate chains to (the last one given)."""
        return self.chain[-1] if self.chain else self.certificate

    @property
    def es_id(self) -> str:
        return read_seal(self.seal_der).es_id


def seal_file_for(cert_file: Path) -> Path:
    return cert_file.with_name(SEAL_FILE_NAME)


def load_platform_seal(key_file: Path, cert_file: Path) -> PlatformSeal:
    """Read the seal from its three files, checking that they belong together."""
    seal_file = seal_file_for(cert_file)
    for path in (key_file, cert_file, seal_file):
        if not path.is_file():
            raise PlatformSealMissing(
                f"no platform e-seal: {path} is missing. Run `bidhall pki demo` for a demo seal, or set "
                "BIDHALL_PLATFORM_SEAL_KEY_FILE and BIDHALL_PLATFORM_SEAL_CERT_FILE (with seal.der beside "
                "the certificate)")
    try:
        key = gm.load_sm2_private_key(key_file.read_bytes())
    except gm.GmError as error:
        raise PlatformSealMissing(f"{key_file} is not an SM2 private key: {error}") from None
    certificates = _read_certificates(cert_file)
    seal_der = seal_file.read_bytes()
    try:
        seal = read_seal(seal_der)
    except ESealError as error:
        raise PlatformSealMissing(f"{seal_file} is not an electronic seal: {error}") from None
    holder = certificates[0]
    if gm.sm2_public_key_from_spki(holder.public_key).raw != key.public_key.raw:
        raise PlatformSealMissing(f"the key in {key_file} does not belong to the certificate in {cert_file}")
    if seal.certs and all(cert != holder.dump() for cert in seal.certs):
        raise PlatformSealMissing(f"the seal in {seal_file} does not list the certificate in {cert_file}")
    return PlatformSeal(key=key, certificate=holder, chain=tuple(certificates[1:]), seal_der=seal_der)


def _read_certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    certificates = [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)] \
        if pem.detect(data) else [x509.Certificate.load(data)]
    if not certificates:
        raise PlatformSealMissing(f"{path} holds no certificate")
    return certificates


def write_platform_seal(
    key_file: Path,
    cert_file: Path,
    *,
    holder_key: gm.Sm2PrivateKey,
    holder_cert: x509.Certificate,
    chain: list[x509.Certificate],
    maker_key: gm.Sm2PrivateKey,
    maker_cert: x509.Certificate,
    days: int = 3650,
) -> PlatformSeal:
    """Make the seal (by the maker, listing the holder's certificate) and write the three files."""
    start = utcnow() - dt.timedelta(hours=1)
    seal_der = make_seal(maker_key, maker_cert, name=SEAL_NAME, picture_png=seal_picture(),
                         width_mm=SEAL_SIZE_MM, height_mm=SEAL_SIZE_MM, signer_certs=[holder_cert],
                         valid_start=start, valid_end=start + dt.timedelta(days=days))
    _write(key_file, holder_key.to_pkcs8_pem(), private=True)
    _write(cert_file, b"".join(bytes(pem.armor("CERTIFICATE", c.dump())) for c in (holder_cert, *chain)))
    _write(seal_file_for(cert_file), seal_der)
    return PlatformSeal(key=holder_key, certificate=holder_cert, chain=tuple(chain), seal_der=seal_der)


def write_demo_platform_seal(key_file: Path, cert_file: Path, *, crl_mirror_dir: Path | None = None) -> PlatformSeal:
    """A demo seal with a CA of its own (SM2), which both issues the holder's certificate
    and acts as seal maker. With ``crl_mirror_dir`` the CA's CRL is written there (as
    ``crl/<host>/<path>``), so revocation checks of the seal succeed offline."""
    from ca_interop.demo_pki_set import crl_mirror_path
    from ca_interop.demo_pki_sm2 import Sm2DemoCA

    ca = Sm2DemoCA.create("bidhall Platform Seal CA")
    holder = ca.issue("bidhall Platform E-Seal", organization="bidhall", days=3650)
    maker = ca.issue("bidhall Platform E-Seal Issuer", organization="bidhall", days=3650)
    if crl_mirror_dir is not None:
        _write(crl_mirror_path(crl_mirror_dir, ca.crl_url), ca.crl().dump())
    return write_platform_seal(key_file, cert_file, holder_key=holder.key, holder_cert=holder.cert,
                               chain=[ca.cert], maker_key=maker.key, maker_cert=maker.cert)


def seal_picture(size: int = 96) -> bytes:
    """A red ring on white, as a PNG: the visible sign of the seal (it proves nothing)."""
    centre, outer, inner = (size - 1) / 2, size / 2 - 1, size / 2 - 8
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            distance = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            row += b"\xcc\x11\x11" if inner <= distance <= outer or distance <= 6 else b"\xff\xff\xff"
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)

"""The platform e-seal: written by the demo PKI where the settings look for it, loaded by
the runtime, refused with a clear message when missing or mismatched."""

from __future__ import annotations

from pathlib import Path

import pytest

from ca_interop.certificates import load_certificates
from ca_interop.demo_pki_set import write_demo_pki
from ca_interop.eseal import read_seal
from ca_interop.platform_seal import (
    PlatformSealMissing,
    load_platform_seal,
    write_demo_platform_seal,
)
from core.settings import load_settings
from web.runtime import Runtime


def test_the_demo_pki_writes_the_seal_the_runtime_loads(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    pki = write_demo_pki(settings.resolved_pki_dir)
    assert pki.manifest["platform"]["seal"]["seal"] == "platform-seal/seal.der"
    assert "eseal_issuer" in pki.manifest["platform"]  # the existing outputs stay
    seal = Runtime.from_settings(settings).platform_seal
    parsed = read_seal(seal.seal_der)
    assert parsed.certs == (seal.certificate.dump(),)
    issuer = load_certificates((settings.resolved_pki_dir / "platform/eseal-issuer.pem").read_bytes())[0]
    root = load_certificates((settings.resolved_pki_dir / "ca/sm2/ca.pem").read_bytes())[0]
    assert parsed.issuer_cert_der == issuer.dump() and seal.root.dump() == root.dump()


def test_a_missing_or_mismatched_seal_is_named(tmp_path: Path) -> None:
    with pytest.raises(PlatformSealMissing, match="seal.key is missing. Run `bidhall pki demo`"):
        load_platform_seal(tmp_path / "seal.key", tmp_path / "seal-chain.pem")
    write_demo_platform_seal(tmp_path / "a" / "seal.key", tmp_path / "a" / "seal-chain.pem")
    write_demo_platform_seal(tmp_path / "b" / "seal.key", tmp_path / "b" / "seal-chain.pem")
    with pytest.raises(PlatformSealMissing, match="does not belong to the certificate"):
        load_platform_seal(tmp_path / "b" / "seal.key", tmp_path / "a" / "seal-chain.pem")
    (tmp_path / "a" / "seal.der").write_bytes(b"not a seal")
    with pytest.raises(PlatformSealMissing, match="is not an electronic seal"):
        load_platform_seal(tmp_path / "a" / "seal.key", tmp_path / "a" / "seal-chain.pem")

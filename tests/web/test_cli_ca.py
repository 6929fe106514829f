"""``bidhall ca``, ``bidhall sign`` and ``bidhall verify`` as an operator and a bidder use them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ca_interop.demo_pki import DemoCA
from tests.web.cli_runner import output

USCC = "91350100M000100Y43"


def write_pki(tmp_path: Path, algorithm: str = "ecdsa") -> tuple[DemoCA, Path, Path, Path]:
    ca = DemoCA.create(f"Test {algorithm} CA", algorithm)
    leaf = ca.issue("Minjiang Construction", uscc=USCC)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "key.pem").write_bytes(leaf.key_pem)
    (tmp_path / "cert.pem").write_bytes(leaf.cert_pem)
    return ca, tmp_path / "ca.pem", tmp_path / "key.pem", tmp_path / "cert.pem"


async def test_trust_list_commands(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, ca_pem, _, cert_pem = write_pki(tmp_path)
    added = output(bidhall("ca", "trust", "add", str(ca_pem), "--name", "Test CA", "--region", "Fujian",
                           "--revocation", "soft_fail"))
    assert added["status"] == "active" and added["algorithm"] == "ecdsa"
    assert [ca["name"] for ca in output(bidhall("ca", "trust", "list"))] == ["Test CA"]
    passed = bidhall("ca", "verify", str(cert_pem))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads(passed.stdout)["identity"]["uscc"] == USCC  # CRL unreachable: soft-fail warning
    assert output(bidhall("ca", "trust", "suspend", "Test CA", "--reason", "audit"))["status"] == "suspended"
    refused = bidhall("ca", "verify", str(cert_pem))
    assert refused.returncode == 1 and json.loads(refused.stdout)["indication"] == "INDETERMINATE"
    wrong_usage = bidhall("ca", "verify", str(cert_pem), "--usage", "encryption")
    assert wrong_usage.returncode == 1
    again = bidhall("ca", "trust", "add", str(ca_pem), "--name", "Other")
    assert again.returncode == 2 and "already on the trust list as 'Test CA'" in again.stderr
    missing = bidhall("ca", "trust", "retire", "Nobody", "--reason", "gone")
    assert missing.returncode == 2 and "no recognised CA is named 'Nobody'" in missing.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x30\x82\xff\xff garbage")
    bad = bidhall("ca", "trust", "add", str(garbage), "--name", "Bad")
    assert bad.returncode == 2 and "certificate" in bad.stderr and "Traceback" not in bad.stderr
    assert output(bidhall("replay", "all", "--check"))["mismatched"] == []


async def test_sm2_sign_and_verify(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ca_interop.demo_pki_sm2 import Sm2DemoCA
    from ca_interop.revocation import StaticRevocationTransport  # noqa: F401 - CRL below is soft-failed

    ca = Sm2DemoCA.create("Test SM2 CA")
    signer = ca.issue("Wang Wei", person_id="350102198001011234")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "key.pem").write_bytes(signer.key_pem)
    (tmp_path / "cert.pem").write_bytes(signer.cert_pem)
    output(bidhall("ca", "trust", "add", str(tmp_path / "ca.pem"), "--name", "SM2 CA", "--revocation", "soft_fail"))
    report_file = tmp_path / "report.pdf"
    report_file.write_bytes(b"evaluation report" * 100)
    signature = tmp_path / "report.p7s"
    output(bidhall("sign", str(report_file), "--key", str(tmp_path / "key.pem"), "--cert",
                   str(tmp_path / "cert.pem"), "-o", str(signature)))
    report = output(bidhall("verify", str(report_file), str(signature)))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["signature"]["signature_algorithm"] == "sm2" and report["signature"]["digest_algorithm"] == "sm3"
    assert report["certificate"]["identity"]["person_id"] == "350102198001011234"


async def test_sign_and_verify_interoperate_with_openssl(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, ca_pem, key_pem, cert_pem = write_pki(tmp_path, "rsa")
    output(bidhall("ca", "trust", "add", str(ca_pem), "--name", "Test CA", "--revocation", "soft_fail"))
    bid = tmp_path / "bid.pdf"
    bid.write_bytes(b"%PDF-1.7 a bid" * 1000)
    signature = tmp_path / "bid.p7s"
    output(bidhall("sign", str(bid), "--key", str(key_pem), "--cert", str(cert_pem), "-o", str(signature)))
    openssl = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", signature,
                              "-content", bid, "-CAfile", ca_pem, "-out", "/dev/null"], capture_output=True, text=True)
    assert openssl.returncode == 0, openssl.stderr
    report = output(bidhall("verify", str(bid), str(signature)))
    assert report["indication"] == "TOTAL_PASSED" and report["certificate"]["identity"]["uscc"] == USCC

    by_openssl = tmp_path / "openssl.p7s"
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", bid, "-signer", cert_pem,
                    "-inkey", key_pem, "-out", by_openssl], check=True, capture_output=True)
    assert output(bidhall("verify", str(bid), str(by_openssl)))["indication"] == "TOTAL_PASSED"

    other = tmp_path / "other.pdf"
    other.write_bytes(b"another document")
    failed = bidhall("verify", str(other), str(signature))
    assert failed.returncode == 1 and json.loads(failed.stdout)["subindication"] == "HASH_FAILURE"
    not_a_signature = bidhall("verify", str(bid), str(cert_pem))
    assert not_a_signature.returncode == 1
    assert json.loads(not_a_signature.stdout)["subindication"] == "FORMAT_FAILURE"
    wrong_key = bidhall("sign", str(bid), "--key", str(cert_pem), "--cert", str(cert_pem), "-o", str(signature))
    assert wrong_key.returncode == 2 and "private key" in wrong_key.stderr

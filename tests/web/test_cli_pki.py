"""``bidhall pki demo``, ``bidhall tsa`` and ``bidhall envelope`` with OpenSSL as the other party."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.web.test_cli import bidhall, output  # noqa: F401 - the fixture


def openssl(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


async def test_demo_pki_timestamps_and_envelopes(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = output(bidhall("pki", "demo", "--trust"))
    pki = Path(made["directory"])
    assert set(made["cas"]) == {"rsa", "ecdsa", "sm2"}
    assert len(output(bidhall("ca", "trust", "list"))) == 3
    for certificate in ("bidders/minjiang-rsa-sign.pem", "bidders/wuyi-ecdsa-sign.pem",
                        "bidders/minjiang-sm2-sign.pem", "experts/wang-wei-sm2-sign.pem"):
        report = output(bidhall("ca", "verify", str(pki / certificate)))
        assert report["indication"] == "TOTAL_PASSED", (certificate, report["detail"])
        assert report["revocation"]["complete"]  # from the demo PKI's CRL mirror
    again = bidhall("pki", "demo")
    assert again.returncode == 2 and "already holds a demo PKI" in again.stderr

    document = tmp_path / "bid-receipt.txt"
    document.write_text("bid 42, lot 3, sha256 ...")
    response = tmp_path / "receipt.tsr"
    assert output(bidhall("tsa", "stamp", str(document), "-o", str(response)))["status"] == "granted"
    checked = openssl("ts", "-verify", "-in", response, "-data", document, "-CAfile", pki / "ca/rsa/ca.pem",
                      "-untrusted", pki / "tsa/tsa.pem")
    assert "Verification: OK" in checked.stdout, checked.stdout + checked.stderr
    assert output(bidhall("tsa", "verify", str(document), str(response)))["indication"] == "TOTAL_PASSED"
    chain = tmp_path / "chain.pem"
    assert output(bidhall("tsa", "certs", "-o", str(chain)))["count"] == 2
    document.write_text("bid 42, lot 3, changed")
    changed = bidhall("tsa", "verify", str(document), str(response))
    assert changed.returncode == 1 and "imprint" in json.loads(changed.stdout)["detail"]
    garbage = bidhall("tsa", "verify", str(document), str(chain))
    assert garbage.returncode == 1 and json.loads(garbage.stdout)["subindication"] == "FORMAT_FAILURE"

    bid = tmp_path / "bid.pdf"
    bid.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4000)
    sealed = tmp_path / "bid.env"
    output(bidhall("envelope", "seal", str(bid), "--to", str(pki / "bidders/minjiang-rsa-enc.pem"),
                   "--to", str(pki / "custodians/custodian2-ecdsa-enc.pem"), "-o", str(sealed)))
    opened = tmp_path / "opened.pdf"
    decrypted = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", sealed,
                        "-recip", pki / "bidders/minjiang-rsa-enc.pem",
                        "-inkey", pki / "bidders/minjiang-rsa-enc.key", "-out", opened)
    assert decrypted.returncode == 0, decrypted.stderr
    assert opened.read_bytes() == bid.read_bytes()
    by_us = tmp_path / "by-us.pdf"
    output(bidhall("envelope", "open", str(sealed), "--key", str(pki / "custodians/custodian2-ecdsa-enc.key"),
                   "--cert", str(pki / "custodians/custodian2-ecdsa-enc.pem"), "-o", str(by_us)))
    assert by_us.read_bytes() == bid.read_bytes()
    recipients = output(bidhall("envelope", "inspect", str(sealed)))["recipients"]
    assert [r["kind"] for r in recipients] == ["key transport", "key agreement"]

    plain = bidhall("envelope", "open", str(bid), "--key", str(pki / "bidders/minjiang-rsa-enc.key"),
                    "--cert", str(pki / "bidders/minjiang-rsa-enc.pem"), "-o", str(tmp_path / "x"))
    assert plain.returncode == 2 and "unencrypted file is refused" in plain.stderr
    signing_only = bidhall("envelope", "seal", str(bid), "--to", str(pki / "bidders/minjiang-rsa-sign.pem"),
                           "-o", str(tmp_path / "y"))
    assert signing_only.returncode == 2 and "signing certificate" in signing_only.stderr
    stranger = bidhall("envelope", "open", str(sealed), "--key", str(pki / "bidders/wuyi-rsa-enc.key"),
                       "--cert", str(pki / "bidders/wuyi-rsa-enc.pem"), "-o", str(tmp_path / "z"))
    assert stranger.returncode == 2 and not (tmp_path / "z").exists()


async def test_timestamps_need_a_configured_authority(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = tmp_path / "a.txt"
    document.write_text("x")
    result = bidhall("tsa", "stamp", str(document), "-o", str(tmp_path / "a.tsr"))
    assert result.returncode == 2 and "bidhall pki demo" in result.stderr

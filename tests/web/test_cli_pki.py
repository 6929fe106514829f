"""``bidhall pki demo``, ``bidhall tsa`` and ``bidhall envelope`` with OpenSSL as the other party."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.web.cli_runner import output


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


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixels = b"".join(b"\x00" + b"\xcc\x00\x00" * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


async def test_eseal_make_sign_verify(bidhall, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import docx

    pki = Path(output(bidhall("pki", "demo", "--trust"))["directory"])
    (tmp_path / "seal.png").write_bytes(tiny_png())
    seal = tmp_path / "seal.der"
    output(bidhall("eseal", "make", "--issuer-key", str(pki / "platform/eseal-issuer.key"),
                   "--issuer-cert", str(pki / "platform/eseal-issuer.pem"),
                   "--signer-cert", str(pki / "bidders/minjiang-sm2-sign.pem"),
                   "--name", "Minjiang contract seal", "--picture", str(tmp_path / "seal.png"), "-o", str(seal)))
    document = docx.Document()
    document.add_paragraph("Bid letter for lot 3")
    document.save(tmp_path / "letter.docx")
    signature = tmp_path / "letter.ses"
    sealed = tmp_path / "sealed.docx"
    output(bidhall("eseal", "sign", str(tmp_path / "letter.docx"), "--seal", str(seal),
                   "--key", str(pki / "bidders/minjiang-sm2-sign.key"),
                   "--cert", str(pki / "bidders/minjiang-sm2-sign.pem"),
                   "--docx-out", str(sealed), "--timestamp", "-o", str(signature)))
    assert len(docx.Document(sealed).inline_shapes) == 1  # the seal picture is in the document
    report = output(bidhall("eseal", "verify", str(sealed), str(signature)))
    assert report["indication"] == "TOTAL_PASSED", report["detail"]
    assert report["timestamp"] is not None
    changed = bidhall("eseal", "verify", str(tmp_path / "letter.docx"), str(signature))
    assert changed.returncode == 1 and json.loads(changed.stdout)["subindication"] == "HASH_FAILURE"
    not_bound = bidhall("eseal", "sign", str(tmp_path / "letter.docx"), "--seal", str(seal),
                        "--key", str(pki / "bidders/wuyi-sm2-sign.key"),
                        "--cert", str(pki / "bidders/wuyi-sm2-sign.pem"), "-o", str(tmp_path / "x.ses"))
    assert not_bound.returncode == 2 and "not bound to seal" in not_bound.stderr
    assert not (tmp_path / "x.ses").exists()
    garbage = bidhall("eseal", "verify", str(sealed), str(seal))
    assert garbage.returncode == 1 and json.loads(garbage.stdout)["indication"] == "INDETERMINATE"

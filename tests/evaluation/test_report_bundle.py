"""The signed report bundle: made from real signatures (ECDSA, RSA, SM2 demo certificates),
the same bytes every time, every kind of tampering named, and signatures OpenSSL accepts."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ca_interop.demo_pki import DemoCA
from ca_interop.demo_pki_sm2 import Sm2DemoCA
from ca_interop.signatures import sign_detached
from evaluation.report import build_report, dissent_text
from evaluation.report_bundle import (
    DISSENT,
    MANIFEST,
    REPORT,
    BundleSignature,
    make_bundle,
    signer_subject,
    verify_bundle,
)
from evaluation.report_content import ReportDissent
from tests.evaluation.test_report import sample_content

SIGNERS = ((1, "张伟", "ecdsa"), (2, "李娜", "ecdsa"), (4, "刘洋", "rsa"), (5, "陈静", "sm2"), (6, "赵敏", "ecdsa"))


@pytest.fixture(scope="module")
def report() -> bytes:
    return build_report(sample_content())


@pytest.fixture(scope="module")
def signatures(report: bytes) -> list[BundleSignature]:
    authorities = {"ecdsa": DemoCA.create("Test CA", "ecdsa"), "rsa": DemoCA.create("Test RSA CA", "rsa"),
                   "sm2": Sm2DemoCA.create("Test SM2 CA")}
    made = []
    for seat, name, algorithm in SIGNERS:
        issued = authorities[algorithm].issue(name, person_id=f"11010519800101{seat:04d}")
        signature = sign_detached(report, issued.key, issued.cert)
        made.append(BundleSignature(seat=seat, member=name, signer_subject=signer_subject(signature),
                                    signature=signature))
    return made


@pytest.fixture(scope="module")
def bundle(report: bytes, signatures: list[BundleSignature]) -> bytes:
    return make_bundle(report, signatures, sample_content().dissents)


def _files(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rezip(files: dict[str, bytes]) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return output.getvalue()


def _tampered(bundle: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    files = _files(bundle)
    change(files)
    return _rezip(files)


def _edit_manifest(files: dict[str, bytes], edit: Callable[[dict], None]) -> None:
    manifest = json.loads(files[MANIFEST])
    edit(manifest)
    files[MANIFEST] = json.dumps(manifest, ensure_ascii=False).encode()


def test_bundle_holds_report_signatures_dissent_and_manifest(
        bundle: bytes, report: bytes, signatures: list[BundleSignature]) -> None:
    files = _files(bundle)
    assert sorted(files) == sorted([MANIFEST, REPORT, DISSENT, *(f"signatures/seat-{s}.p7s" for s, _, _ in SIGNERS)])
    assert files[REPORT] == report
    assert files["signatures/seat-4.p7s"] == signatures[2].signature
    assert files[DISSENT].decode() == dissent_text(sample_content().dissents)
    assert "报价低于成本" in files[DISSENT].decode()
    manifest = json.loads(files[MANIFEST])
    seat_five = manifest["signatures"][3]
    assert (seat_five["seat"], seat_five["member"], seat_five["path"]) == (5, "陈静", "signatures/seat-5.p7s")
    assert "陈静" in seat_five["signer_subject"]
    assert manifest["report"]["size"] == len(report)


def test_a_sound_bundle_verifies(bundle: bytes, report: bytes) -> None:
    check = verify_bundle(bundle)
    assert check.problems == []
    assert check.ok
    assert check.report_sha256 == hashlib.sha256(report).hexdigest()


def test_the_same_signatures_give_the_same_bundle(
        bundle: bytes, report: bytes, signatures: list[BundleSignature]) -> None:
    assert make_bundle(report, list(reversed(signatures)), sample_content().dissents) == bundle


def test_signatures_over_another_report_are_named_and_no_dissent_is_an_empty_file(
        signatures: list[BundleSignature]) -> None:
    bundle = make_bundle(build_report(sample_content(dissents=())), signatures, ())
    assert _files(bundle)[DISSENT] == b""
    problems = verify_bundle(bundle).problems
    assert len(problems) == len(SIGNERS)
    assert all("does not verify over report.docx" in p for p in problems)


def test_tampered_report_is_named(bundle: bytes) -> None:
    def swap_report(files: dict[str, bytes]) -> None:
        files[REPORT] = build_report(sample_content(candidates=(12, 11)))
    problems = verify_bundle(_tampered(bundle, swap_report)).problems
    assert any(p.startswith("report.docx: sha256") for p in problems)


def test_tampered_report_with_its_manifest_hash_fixed_fails_every_signature(bundle: bytes) -> None:
    forged = build_report(sample_content(candidates=(12, 11)))

    def swap_report_and_hash(files: dict[str, bytes]) -> None:
        files[REPORT] = forged
        _edit_manifest(files, lambda m: m["report"].update(sha256=hashlib.sha256(forged).hexdigest()))
    problems = verify_bundle(_tampered(bundle, swap_report_and_hash)).problems
    assert len(problems) == len(SIGNERS)
    assert all("does not verify over report.docx" in p for p in problems)


def _flip_signature_byte(files: dict[str, bytes], *, fix_hash: bool) -> None:
    signature = bytearray(files["signatures/seat-2.p7s"])
    signature[-10] ^= 0x01  # inside the signature value, the last field of the SignerInfo
    files["signatures/seat-2.p7s"] = bytes(signature)
    if fix_hash:
        digest = hashlib.sha256(signature).hexdigest()
        _edit_manifest(files, lambda m: m["signatures"][1].update(sha256=digest))


def test_tampered_signature_is_named(bundle: bytes) -> None:
    problems = verify_bundle(_tampered(bundle, lambda f: _flip_signature_byte(f, fix_hash=False))).problems
    assert len(problems) == 1 and problems[0].startswith("signatures/seat-2.p7s: sha256")
    problems = verify_bundle(_tampered(bundle, lambda f: _flip_signature_byte(f, fix_hash=True))).problems
    assert len(problems) == 1
    assert problems[0].startswith("signatures/seat-2.p7s (seat 2 李娜): ")
    assert "does not verify over report.docx" in problems[0] or "not a usable" in problems[0]


def test_swapped_signature_with_fixed_hash_is_named(bundle: bytes, signatures: list[BundleSignature]) -> None:
    def swap(files: dict[str, bytes]) -> None:
        files["signatures/seat-2.p7s"] = files["signatures/seat-1.p7s"]
        digest = hashlib.sha256(files["signatures/seat-1.p7s"]).hexdigest()
        _edit_manifest(files, lambda m: m["signatures"][1].update(sha256=digest))
    problems = verify_bundle(_tampered(bundle, swap)).problems
    assert len(problems) == 1
    assert "signatures/seat-2.p7s (seat 2 李娜): signed by" in problems[0]
    assert "张伟" in problems[0]


def test_garbage_signature_is_named(bundle: bytes) -> None:
    def garbage(files: dict[str, bytes]) -> None:
        files["signatures/seat-6.p7s"] = b"not a signature"
        digest = hashlib.sha256(b"not a signature").hexdigest()
        _edit_manifest(files, lambda m: m["signatures"][4].update(sha256=digest))
    problems = verify_bundle(_tampered(bundle, garbage)).problems
    assert len(problems) == 1 and "not a usable detached CMS signature" in problems[0]


def test_missing_signature_file_is_named(bundle: bytes) -> None:
    problems = verify_bundle(_tampered(bundle, lambda files: files.pop("signatures/seat-5.p7s"))).problems
    assert problems == ["signatures/seat-5.p7s is missing from the bundle"]


def test_signature_dropped_from_the_manifest_too_is_named_by_the_signature_page(bundle: bytes) -> None:
    def drop_seat_five(files: dict[str, bytes]) -> None:
        files.pop("signatures/seat-5.p7s")
        _edit_manifest(files, lambda m: m["signatures"].pop(3))
    problems = verify_bundle(_tampered(bundle, drop_seat_five)).problems
    assert problems == ["seat 5 陈静 is on the report's signature page but has no signature"]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda m: m["signatures"][0].update(member="王五"),
     "seat 1: the manifest names '王五', the report's signature page '张伟'"),
    (lambda m: m["signatures"][0].update(signer_subject="CN=王五"), "the manifest says 'CN=王五'"),
    (lambda m: m["report"].update(sha256="0" * 64), "report.docx: sha256"),
    (lambda m: m["dissent"].update(sha256="0" * 64), "dissent.txt: sha256"),
    (lambda m: m.update(format="something else"), "manifest.json is not a report bundle manifest"),
    (lambda m: m["signatures"][0].update(path="signatures/seat-9.p7s"), "must be at signatures/seat-1.p7s"),
])
def test_edited_manifest_is_named(bundle: bytes, edit: Callable[[dict], None], expected: str) -> None:
    problems = verify_bundle(_tampered(bundle, lambda files: _edit_manifest(files, edit))).problems
    assert any(expected in p for p in problems), problems


def test_edited_dissent_is_named_even_with_its_hash_fixed(bundle: bytes) -> None:
    def soften(files: dict[str, bytes]) -> None:
        files[DISSENT] = b""
        _edit_manifest(files, lambda m: m["dissent"].update(sha256=hashlib.sha256(b"").hexdigest()))
    problems = verify_bundle(_tampered(bundle, soften)).problems
    assert problems == ["dissent.txt differs from the dissent attached to report.docx"]


def test_missing_manifest_added_file_and_not_a_zip_are_named(bundle: bytes) -> None:
    assert verify_bundle(_tampered(bundle, lambda f: f.pop(MANIFEST))).problems == [
        "manifest.json is missing from the bundle"]
    added = verify_bundle(_tampered(bundle, lambda f: f.update({"signatures/seat-9.p7s": b"x"}))).problems
    assert added == ["signatures/seat-9.p7s: not named in the manifest (added to the bundle)"]
    broken = verify_bundle(b"PK\x03\x04 not really")
    assert not broken.ok and "not a readable ZIP archive" in broken.problems[0]
    assert broken.report_sha256 is None


def test_make_bundle_refuses_no_signature_or_a_seat_twice(report: bytes, signatures: list[BundleSignature]) -> None:
    with pytest.raises(ValueError, match="at least one signature"):
        make_bundle(report, [], ())
    with pytest.raises(ValueError, match="two signatures for one seat"):
        make_bundle(report, [signatures[0], signatures[0]], ())


def test_dissent_without_bidder_reads_as_all_bidders() -> None:
    text = dissent_text([ReportDissent(seat=2, member="李娜", stage="preliminary_review", bidder=None, text="x")])
    assert "投标人 Bidder: 全部 all bidders" in text


def test_openssl_verifies_an_ecdsa_signature_taken_from_the_bundle(bundle: bytes, tmp_path: Path) -> None:
    files = _files(bundle)
    (tmp_path / "report.docx").write_bytes(files[REPORT])
    (tmp_path / "seat-1.p7s").write_bytes(files["signatures/seat-1.p7s"])
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "seat-1.p7s", "-content", "report.docx",
         "-noverify", "-out", "/dev/null"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    (tmp_path / "report.docx").write_bytes(files[REPORT] + b"\x00")
    tampered = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "seat-1.p7s", "-content", "report.docx",
         "-noverify", "-out", "/dev/null"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert tampered.returncode != 0


def test_missing_report_is_named_once(bundle: bytes) -> None:
    check = verify_bundle(_tampered(bundle, lambda files: files.pop(REPORT)))
    assert check.problems == ["report.docx is missing from the bundle"]
    assert check.report_sha256 is None

"""``bidhall archive make`` and ``bidhall archive verify`` as an operator and an auditor use them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.trading.award_factories import contracted_lot, evaluated_lot, platform_signer
from tests.web.cli_runner import output


async def test_make_then_verify_offline(bidhall, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        lot = await contracted_lot(session, runtime.blobs, tmp_path)
        unfinished = await evaluated_lot(session, runtime.blobs)
    target = tmp_path / "out" / "archive.zip"
    made = output(bidhall("archive", "make", str(lot.made.project.id), "-o", str(target)))
    assert made["archive"] == str(target) and target.is_file() and made["file_count"] > 10
    verified = bidhall("archive", "verify", str(target))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["project"]["id"] == lot.made.project.id and not report["failures"]
    key = tmp_path / "platform.pem"
    key.write_text(runtime.signer.public_key_pem)
    assert bidhall("archive", "verify", str(target), "--platform-key", str(key)).returncode == 0

    again = bidhall("archive", "make", str(lot.made.project.id), "-o", str(target))
    assert again.returncode == 2 and "already archived" in again.stderr
    refused = bidhall("archive", "make", str(unfinished.made.project.id), "-o", str(tmp_path / "no.zip"))
    assert refused.returncode == 2 and "not finished" in refused.stderr and not (tmp_path / "no.zip").exists()


async def test_verify_fails_on_a_tampered_archive_naming_it(bidhall, runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        lot = await contracted_lot(session, runtime.blobs, tmp_path)
    target = tmp_path / "archive.zip"
    output(bidhall("archive", "make", str(lot.made.project.id), "-o", str(target)))
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(target) as old, zipfile.ZipFile(tampered, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            new.writestr(info.filename, data + b"x" if info.filename == "contract/lot-1/contract.docx" else data)
    failed = bidhall("archive", "verify", str(tampered))
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert report["ok"] is False and [f["item"] for f in report["failures"]] == ["contract/lot-1/contract.docx"]
    other_key = tmp_path / "other.pem"
    other_key.write_text(platform_signer().public_key_pem)
    pinned = bidhall("archive", "verify", str(target), "--platform-key", str(other_key))
    assert pinned.returncode == 1 and "not the key given" in pinned.stdout
    missing = bidhall("archive", "verify", str(tmp_path / "nothing.zip"))
    assert missing.returncode == 1 and "not a readable zip file" in missing.stdout

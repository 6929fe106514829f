"""The project archive: made once every lot is finished, holding every document with its
ledger proofs, and checked offline; any tampering names what failed."""

from __future__ import annotations

import ast
import base64
import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.errors import Conflict, PermissionDenied, RuleViolation
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.award_factories import (
    add_tender_document,
    blob_store,
    contracted_lot,
    evaluated_lot,
    platform_signer,
)
from trading import archive, archive_verify
from trading.archive_verify import verify_archive
from trading.award_events import archive_stream
from trading.award_models import ProjectArchive
from trading.models import Project
from trading.states import LotStatus, ProjectStatus


async def _archived(runtime, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A contracted one-lot project with a tender document, archived; the zip's path."""
    blobs = runtime.blobs
    async with runtime.database.transaction() as session:
        lot = await contracted_lot(session, blobs, tmp_path)
        await add_tender_document(session, lot, blobs)
        made = await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=blobs, signer=runtime.signer)
    return lot, made, blobs.path_for(made.sha256)


def rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes | None],
            add: dict[str, bytes] | None = None) -> Path:
    """A copy of the zip with members changed (``None`` drops one) or added."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def failures(report: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    assert report["ok"] is False
    return [(f["item"], f["reason"]) for f in report["failures"]]


async def test_an_archive_holds_everything_and_verifies_offline(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lot, made, path = await _archived(runtime, tmp_path)
    report = verify_archive(path)
    assert report["ok"], report["failures"]
    with zipfile.ZipFile(path) as zip_file:
        names = set(zip_file.namelist())
        manifest = json.loads(zip_file.read("manifest.json"))
    expected = {f"bids/lot-1/bid-{bid.id}.envelope" for bid in lot.bids} | {
        "project/project.json", "award/lot-1/candidates.json", "award/lot-1/award-notice.docx",
        "award/lot-1/award-notice.docx.ses", "contract/lot-1/contract.docx", "contract/lot-1/signature-tenderer.p7s",
        "contract/lot-1/signature-winner.p7s", "ledger/entries.json", "ledger/head.json", "ledger/platform-key.pem",
        "manifest.json"}
    assert expected <= names
    assert any(name.startswith("documents/") and "tender documents.pdf" in name for name in names)
    assert sum(name.startswith("notices/") for name in names) == 2  # candidate publicity and result
    listed = {item["path"]: item for item in manifest["files"]}
    for bid in lot.bids:  # each envelope's hash is proven by its submission entry
        assert listed[f"bids/lot-1/bid-{bid.id}.envelope"]["attested_by"] == [{"seq": bid.ledger_seq, "match": "sha256"}]
    assert all(listed[name]["attested_by"] for name in listed if name != "project/project.json"
               and name != "award/lot-1/candidates.json")
    assert report["files_checked"] == len(manifest["files"]) and report["entries_checked"] == 18
    async with runtime.database.reader() as session:
        project = await session.get(Project, lot.made.project.id)
        assert project.status == ProjectStatus.ARCHIVED  # type: ignore[union-attr]
        check = await check_stream(session, runtime.registry, archive_stream(project.id))  # type: ignore[union-attr]
        assert check.matches and check.stored["archive"]["sha256"] == made.sha256  # type: ignore[index]
        archived = await session.scalar(sa.select(LedgerEntry.seq).where(
            LedgerEntry.stream == f"project:{project.id}", LedgerEntry.type == "trading.project_status_changed")  # type: ignore[union-attr]
            .order_by(LedgerEntry.seq.desc()).limit(1))
    entries = json.loads(zipfile.ZipFile(path).read("ledger/entries.json"))["entries"]
    assert archived in {item["seq"] for item in entries}  # the move to archived is itself in the archive


async def test_a_project_with_unfinished_lots_is_not_archived(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        entries = await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
        with pytest.raises(RuleViolation, match=f"lot\\(s\\) {lot.made.lot.code} \\(evaluating\\) not finished") as refused:
            await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=blobs, signer=platform_signer())
        assert refused.value.rule == "archive_unfinished_lots"
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == entries
        assert await session.scalar(sa.select(sa.func.count()).select_from(ProjectArchive)) == 0
        assert lot.made.project.status == ProjectStatus.ACTIVE
        assert not list(blobs.root.glob("??/??/*"))[3:]  # the three envelopes only


async def test_a_failed_project_is_archived_once_by_its_side_only(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        lot.made.lot.status = LotStatus.FAILED
        stranger = actor_of(await make_user(session, Role.TENDERER))
        with pytest.raises(PermissionDenied, match="tenderer or agency"):
            await archive.make_archive(session, stranger, lot.made.project.id, blobs=blobs, signer=platform_signer())
        made = await archive.make_archive(session, lot.tenderer, lot.made.project.id, blobs=blobs,
                                          signer=platform_signer())
        with pytest.raises(Conflict, match="already archived"):
            await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=blobs, signer=platform_signer())
        regulator = actor_of(await make_user(session, Role.REGULATOR))
        assert (await archive.get_archive(session, regulator, lot.made.project.id)).sha256 == made.sha256
    assert verify_archive(blobs.path_for(made.sha256))["ok"]


async def test_tampering_with_a_file_is_named(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lot, _, path = await _archived(runtime, tmp_path)
    envelope = f"bids/lot-1/bid-{lot.bids[1].id}.envelope"
    changed = rewrite(path, tmp_path / "a.zip", lambda name, data: data[:-1] + b"\0" if name == envelope else data)
    assert [item for item, _ in failures(verify_archive(changed))] == [envelope]
    notice = next(n for n in zipfile.ZipFile(path).namelist() if n.startswith("notices/"))
    dropped = rewrite(path, tmp_path / "b.zip", lambda name, data: None if name == notice else data,
                      add={"extra.txt": b"hello"})
    problems = dict(failures(verify_archive(dropped)))
    assert problems["extra.txt"] == "the file is not listed in the manifest"
    assert "missing from the archive" in problems[notice]


async def test_a_file_changed_together_with_the_manifest_is_caught_by_the_ledger(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lot, _, path = await _archived(runtime, tmp_path)
    docx_name = "award/lot-1/award-notice.docx"
    forged = b"PK forged award notice"

    def change(name: str, data: bytes) -> bytes:
        if name == docx_name:
            return forged
        if name == "manifest.json":
            manifest = json.loads(data)
            for item in manifest["files"]:
                if item["path"] == docx_name:
                    item["sha256"], item["size"] = archive_verify.hashlib.sha256(forged).hexdigest(), len(forged)
            return json.dumps(manifest).encode()
        return data

    problems = failures(verify_archive(rewrite(path, tmp_path / "c.zip", change)))
    assert ("manifest.json", problems[0][1]) == problems[0] and "not to the" in problems[0][1]
    assert (docx_name, problems[1][1]) == problems[1] and "does not appear in ledger entry" in problems[1][1]


async def test_tampering_with_a_ledger_entry_or_the_head_is_named(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, path = await _archived(runtime, tmp_path)
    document = json.loads(zipfile.ZipFile(path).read("ledger/entries.json"))
    target = document["entries"][3]

    def edit_entry(also_hash: bool) -> Callable[[str, bytes], bytes]:
        def change(name: str, data: bytes) -> bytes:
            if name != "ledger/entries.json":
                return data
            edited = json.loads(data)
            item = edited["entries"][3]
            leaf = base64.b64decode(item["leaf"]).replace(b'"payload":{', b'"payload":{"forged":1,', 1)
            item["leaf"] = base64.b64encode(leaf).decode()
            if also_hash:
                item["leaf_hash"] = archive_verify.hashlib.sha256(b"\0" + leaf).hexdigest()
            return json.dumps(edited).encode()
        return change

    problems = failures(verify_archive(rewrite(path, tmp_path / "d.zip", edit_entry(False))))
    assert problems == [(f"ledger entry {target['seq']}", "its bytes do not hash to its leaf hash (the entry was changed)")]
    problems = failures(verify_archive(rewrite(path, tmp_path / "e.zip", edit_entry(True))))
    assert problems[0][0] == f"ledger entry {target['seq']}" and "inclusion proof does not lead" in problems[0][1]

    def edit_head(name: str, data: bytes) -> bytes:
        if name != "ledger/head.json":
            return data
        head = json.loads(data)
        head["tree_size"] -= 1
        return json.dumps(head).encode()

    problems = failures(verify_archive(rewrite(path, tmp_path / "f.zip", edit_head)))
    assert ("ledger/head.json", "the tree head's signature does not verify with the platform key") in problems


async def test_another_platform_key_is_refused_when_pinned(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, path = await _archived(runtime, tmp_path)
    assert verify_archive(path, platform_key_pem=runtime.signer.public_key_pem)["ok"]
    problems = failures(verify_archive(path, platform_key_pem=platform_signer().public_key_pem))
    assert problems == [("ledger/platform-key.pem", "the archive's platform key is not the key given to check against")]
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"not a zip")
    assert failures(verify_archive(not_zip))[0][0] == "archive"


def test_the_verifier_needs_no_database_nor_network() -> None:
    """Its own imports: the standard library, cryptography, and pure pieces of the platform."""
    tree = ast.parse(Path(archive_verify.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    allowed = {"__future__", "base64", "hashlib", "json", "zipfile", "dataclasses", "pathlib", "typing",
               "cryptography.hazmat.primitives", "ca_interop.platform_keys", "supervision.ledger.merkle"}
    assert imported <= allowed, imported - allowed


async def test_large_envelopes_are_streamed_into_the_zip(tmp_path: Path) -> None:
    blobs = blob_store()
    chunk = bytes(range(256)) * 4096  # 1 MiB

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(48):
            yield chunk

    stored = await blobs.put_stream(chunks())
    item = archive.ArchiveFile(path="bids/lot-1/bid-1.envelope", sha256=stored.sha256, size=stored.size,
                               blob=stored.sha256)
    tracemalloc.start()
    archive.write_zip(tmp_path / "big.zip", blobs, [item], {"format": "x"}, {})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a 48 MiB envelope"
    with zipfile.ZipFile(tmp_path / "big.zip") as zip_file:
        assert zip_file.getinfo(item.path).file_size == stored.size


async def test_the_opening_record_packages_and_report_are_archived(runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from core.clock import utcnow
    from supervision.ledger.append import append
    from trading.opening_models import Opening, OpeningRow

    blobs = runtime.blobs
    async with runtime.database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        record = await blobs.put_bytes(b'{"opening record": true}')
        package = await blobs.put_bytes(b"opened package of bid 1")
        report = await blobs.put_bytes(b"%PDF-1.7 evaluation report")
        now = utcnow()
        opening = Opening(lot_id=lot.lot_id, project_id=lot.made.project.id, status="closed", bid_count=3,  # type: ignore[arg-type]
                          min_bidders=3, window_minutes=30, record_sha256=record.sha256, started_at=now, updated_at=now)
        session.add(opening)
        await session.flush()
        bidder = lot.bidders[0].party
        session.add(OpeningRow(opening_id=opening.id, bid_id=lot.bids[0].id, party_id=bidder.id,  # type: ignore[arg-type]
                               bidder_name=bidder.name, bidder_uscc=bidder.uscc, outcome="opened",
                               package_sha256=package.sha256, package_size=package.size, failed_attempts=0))
        await append(session, stream=f"opening:{lot.lot_id}", event_type="trading.opening_record_published",
                     actor=lot.staff, payload={"record_sha256": record.sha256, "rows": [{"package_sha256": package.sha256}]})
        from tests.trading.award_factories import PRICES
        from trading import award
        from trading.award_schemas import CandidateIn, CandidateList

        await award.record_candidates(session, lot.staff, lot.lot_id, CandidateList(
            candidates=[CandidateIn(bid_id=lot.bids[0].id, price=PRICES[0])], report_sha256=report.sha256))  # type: ignore[arg-type]
        lot.made.lot.status = LotStatus.FAILED
        made = await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=blobs, signer=runtime.signer)
    path = blobs.path_for(made.sha256)
    assert verify_archive(path)["ok"]
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    listed = {item["path"]: item for item in manifest["files"]}
    assert listed["opening/lot-1/record.json"]["attested_by"] and listed["award/lot-1/evaluation-report"]["attested_by"]
    assert listed[f"opening/lot-1/packages/bid-{lot.bids[0].id}.package"]["sha256"] == package.sha256


async def test_a_report_named_by_hash_only_is_left_out(database) -> None:  # type: ignore[no-untyped-def]
    from tests.trading.award_factories import PRICES
    from trading import award
    from trading.award_schemas import CandidateIn, CandidateList

    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        await award.record_candidates(session, lot.staff, lot.lot_id, CandidateList(
            candidates=[CandidateIn(bid_id=lot.bids[0].id, price=PRICES[0])], report_sha256="ab" * 32))  # type: ignore[arg-type]
        lot.made.lot.status = LotStatus.FAILED
        made = await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=blobs,
                                          signer=platform_signer())
    names = zipfile.ZipFile(blobs.path_for(made.sha256)).namelist()
    assert "award/lot-1/candidates.json" in names and "award/lot-1/evaluation-report" not in names
    assert verify_archive(blobs.path_for(made.sha256))["ok"]

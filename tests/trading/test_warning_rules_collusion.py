"""Collusion warning rules on crafted cases: each names the bids, the field and the values."""

from __future__ import annotations

from pathlib import Path

from core.blobs import BlobStore
from core.database import Database
from tests.trading.warning_rule_factories import (
    add_bid,
    crafted_lot,
    docx_bytes,
    open_lot,
    opened_row,
    package,
    run_rule,
)

LONG = ("The contractor shall set up a site office within seven days of the commencement order, staffed by a "
        "qualified safety officer, a quality inspector and a document controller, and shall keep a daily log of "
        "all works, weather, labour and plant on site, available to the supervising engineer at all times.")


async def test_bids_of_different_parties_from_one_address_are_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session)
        a = await add_bid(session, made, source="198.51.100.7")
        b = await add_bid(session, made, source="198.51.100.7")
        await add_bid(session, made, source="198.51.100.8")
        await add_bid(session, made, source=None)
        apart = await crafted_lot(session)  # the same address on another lot is not a pair
        await add_bid(session, apart, source="198.51.100.9")
        await add_bid(session, apart, source="198.51.100.10")
        findings = await run_rule(session, "trading.same_source_address")
    assert len(findings) == 1
    evidence = findings[0].evidence
    assert (evidence["field"], evidence["value"]) == ("source", "198.51.100.7")
    assert [bid["bid_id"] for bid in evidence["bids"]] == [a.id, b.id]
    assert all(bid["ledger_seq"] is not None for bid in evidence["bids"])
    async with database.transaction() as session:
        assert await run_rule(session, "trading.same_source_address", ignored_sources=["198.51.100.7"]) == []


async def test_one_party_replacing_its_bid_from_the_same_address_is_not_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session)
        first = await add_bid(session, made, source="198.51.100.7")
        first.status = "replaced"
        await add_bid(session, made, source="198.51.100.7", party_id=first.party_id)
        assert await run_rule(session, "trading.same_source_address") == []


async def test_one_certificate_behind_two_parties_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session)
        a = await add_bid(session, made, fingerprint="ab" * 32)
        b = await add_bid(session, made, fingerprint="ab" * 32)
        await add_bid(session, made, fingerprint="cd" * 32)
        findings = await run_rule(session, "trading.shared_certificate")
    assert len(findings) == 1 and findings[0].evidence["value"] == "ab" * 32
    assert {bid["bid_id"] for bid in findings[0].evidence["bids"]} == {a.id, b.id}
    assert findings[0].subject.key == f"cert:{'ab' * 32}"


async def test_one_key_certified_for_two_parties_is_flagged(database: Database) -> None:
    async with database.transaction() as session:
        made = await crafted_lot(session)
        a = await add_bid(session, made, fingerprint="01" * 32, key="ee" * 32)  # two certificates...
        b = await add_bid(session, made, fingerprint="02" * 32, key="ee" * 32)  # ...on one key
        await add_bid(session, made, fingerprint="03" * 32, key="ff" * 32)
        findings = await run_rule(session, "trading.shared_certificate")
    assert len(findings) == 1 and findings[0].evidence["field"] == "signer_key_sha256"
    assert {bid["bid_id"] for bid in findings[0].evidence["bids"]} == {a.id, b.id}
    assert {bid["cert_fingerprint"] for bid in findings[0].evidence["bids"]} == {"01" * 32, "02" * 32}


async def _opened(session, blobs, *documents: dict[str, bytes], prices=None):  # type: ignore[no-untyped-def]
    made = await crafted_lot(session)
    bids = [await add_bid(session, made) for _ in documents]
    await open_lot(session, made)
    prices = prices or ["100.00"] * len(documents)
    for bid, files, price in zip(bids, documents, prices, strict=True):
        await opened_row(session, made, bid, price=price, package=package(files, price) if files else None,
                         blobs=blobs)
    return made


async def test_docx_bids_sharing_author_or_company_are_flagged(database: Database, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    async with database.transaction() as session:
        made = await _opened(
            session, blobs,
            {"technical.docx": docx_bytes(["Plan A"], author="Li Lei", last_modified_by="Li Lei", company="Acme")},
            {"tech.docx": docx_bytes(["Plan B"], author="Li Lei", last_modified_by="Han Mei", company="Acme")},
            {"offer.docx": docx_bytes(["Plan C"], author="Wang Fang", last_modified_by="python-docx", company="Zeta")})
        findings = await run_rule(session, "trading.shared_document_metadata", blobs=blobs)
        no_blobs = await run_rule(session, "trading.shared_document_metadata")
    found = {(f.evidence["field"], f.evidence["value"]): f.evidence["bids"] for f in findings}
    assert set(found) == {("author", "Li Lei"), ("company", "Acme")}
    assert [(b["bid_id"], b["file"]) for b in found[("author", "Li Lei")]] == [
        (made.bids[0].id, "technical.docx"), (made.bids[1].id, "tech.docx")]
    assert no_blobs == []  # packages are only read from the blob store after the opening


async def test_an_unreadable_package_gives_nothing_to_compare(database: Database, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    async with database.transaction() as session:
        made = await crafted_lot(session)
        bids = [await add_bid(session, made), await add_bid(session, made)]
        await open_lot(session, made)
        for bid in bids:
            await opened_row(session, made, bid, package=b"not a zip at all", blobs=blobs)
        assert await run_rule(session, "trading.identical_files", blobs=blobs) == []


async def test_identical_files_and_long_passages_are_flagged(database: Database, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    shared_pdf = b"%PDF-1.7 the same qualification scan"
    async with database.transaction() as session:
        made = await _opened(
            session, blobs,
            {"quals.pdf": shared_pdf, "plan.docx": docx_bytes(["Intro one.", LONG])},
            {"licence.pdf": shared_pdf, "plan.docx": docx_bytes(["Intro two.", "  ".join(LONG.split(" "))])},
            {"other.pdf": b"%PDF-1.7 a different scan", "plan.docx": docx_bytes(["Intro three.", LONG[:150]]),
             "broken.docx": b"PK not really a docx"})
        files = await run_rule(session, "trading.identical_files", blobs=blobs)
        passages = await run_rule(session, "trading.identical_passages", blobs=blobs)
        shorter = await run_rule(session, "trading.identical_passages", blobs=blobs, min_passage_chars=10_000)
    first, second = made.bids[0].id, made.bids[1].id
    assert len(files) == 1 and [(b["bid_id"], b["file"]) for b in files[0].evidence["bids"]] == [
        (first, "quals.pdf"), (second, "licence.pdf")]
    assert len(passages) == 1 and passages[0].subject.key == f"lot:{made.lot.id}:bids:{first},{second}"
    assert passages[0].evidence["passages"][0]["text"] == LONG and passages[0].evidence["passage_count"] == 1
    assert shorter == []


async def test_prices_in_a_tight_cluster_are_flagged(database: Database) -> None:
    async with database.transaction() as session:
        tight = await _opened(session, None, {}, {}, {}, prices=["1000000.00", "1003000.00", "1004500.00"])
        spread = await _opened(session, None, {}, {}, {}, prices=["1000000.00", "1100000.00", "1300000.00"])
        findings = await run_rule(session, "trading.price_cluster")
        too_few = await run_rule(session, "trading.price_cluster", min_bids=4)
    assert [f.evidence["lot_id"] for f in findings] == [tight.lot.id]
    assert str(findings[0].evidence["spread"]) == "0.004500"
    assert [b["total_price"] for b in findings[0].evidence["bids"]][0] == 1000000
    assert spread.lot.id not in [f.evidence["lot_id"] for f in findings] and too_few == []


async def test_prices_in_an_arithmetic_sequence_are_flagged(database: Database) -> None:
    async with database.transaction() as session:
        stepped = await _opened(session, None, {}, {}, {}, {}, prices=["900.00", "930.00", "960.00", "990.00"])
        await _opened(session, None, {}, {}, {}, prices=["900.00", "930.00", "961.00"])
        await _opened(session, None, {}, {}, {}, prices=["900.00", "900.00", "900.00"])  # a cluster, not a step
        findings = await run_rule(session, "trading.price_sequence")
        tolerant = await run_rule(session, "trading.price_sequence", tolerance="1.00")
    assert [f.evidence["lot_id"] for f in findings] == [stepped.lot.id]
    assert str(findings[0].evidence["step"]) == "30.00"
    assert len(tolerant) == 2

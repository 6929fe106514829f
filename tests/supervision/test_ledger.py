"""The ledger on real databases: appends, signed heads, proofs and tamper detection."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from ca_interop.platform_keys import Ed25519PlatformSigner
from core.actors import SYSTEM
from core.database import Database
from supervision.ledger import append, inspect, tree
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.heads import sign_head
from supervision.ledger.models import LedgerEntry
from supervision.ledger.verify import embedded_seq, verify_ledger
from tests.supervision.test_merkle import td_verify_consistency, td_verify_inclusion


async def append_many(database: Database, count: int, stream: str = "test:1") -> None:
    async with database.transaction() as session:
        for number in range(count):
            await append(session, stream=stream, event_type="test.happened", actor=SYSTEM,
                         payload={"number": number, "note": "seq inside a payload: ,\"seq\":999,"})


@pytest.fixture
def signer(tmp_path: Path) -> Ed25519PlatformSigner:
    return Ed25519PlatformSigner.load_or_create(tmp_path / "keys" / "platform.pem")


async def test_appends_are_numbered_in_order_and_hash_their_canonical_bytes(database: Database) -> None:
    await append_many(database, 5)
    async with database.reader() as session:
        rows = (await session.execute(sa.select(LedgerEntry).order_by(LedgerEntry.seq))).scalars().all()
    assert [row.seq for row in rows] == [0, 1, 2, 3, 4]
    for row in rows:
        entry = json.loads(row.leaf)
        assert entry["seq"] == row.seq and entry["stream"] == "test:1"
        assert row.leaf == canonical_bytes(entry)
        assert row.leaf_hash == hashlib.sha256(b"\x00" + row.leaf).digest()
        assert embedded_seq(row.leaf) == row.seq


async def test_a_rolled_back_append_leaves_no_gap(database: Database) -> None:
    await append_many(database, 2)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await append(session, stream="test:1", event_type="test.lost", actor=SYSTEM, payload={})
            raise RuntimeError("the change failed")
    await append_many(database, 1)
    async with database.reader() as session:
        seqs = (await session.scalars(sa.select(LedgerEntry.seq).order_by(LedgerEntry.seq))).all()
        types = (await session.scalars(sa.select(LedgerEntry.type))).all()
    assert list(seqs) == [0, 1, 2]
    assert "test.lost" not in types


async def test_floats_are_refused(database: Database) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        async with database.transaction() as session:
            await append(session, stream="test:1", event_type="test.money", actor=SYSTEM, payload={"price": 1.5})


async def test_signed_head_verifies_with_openssl(database: Database, signer: Ed25519PlatformSigner,
                                                 tmp_path: Path) -> None:
    await append_many(database, 7)
    async with database.transaction() as session:
        document = await inspect.head(session, signer)
    assert document["tree_size"] == 7
    signed = {key: document[key] for key in ("tree_size", "root_hash", "timestamp", "key_id")}
    (tmp_path / "head.json").write_bytes(canonical_bytes(signed))
    (tmp_path / "head.sig").write_bytes(base64.b64decode(document["signature"]))
    (tmp_path / "key.pem").write_text(document["public_key"])
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "key.pem", "-rawin",
         "-in", tmp_path / "head.json", "-sigfile", tmp_path / "head.sig"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", tmp_path / "key.pem", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert document["key_id"] == hashlib.sha256(der).hexdigest()


async def test_every_proof_verifies_independently(database: Database) -> None:
    await append_many(database, 21)
    async with database.transaction() as session:
        for size in (1, 2, 7, 8, 13, 21):
            root = await tree.tree_root(session, size)
            for index in range(size):
                proof = await inspect.prove(session, index, size)
                assert proof["root_hash"] == root.hex()
                assert td_verify_inclusion(bytes.fromhex(proof["leaf_hash"]), index, size,
                                           [bytes.fromhex(h) for h in proof["audit_path"]], root)
        for first in range(1, 21):
            document = await inspect.consistency(session, first, 21)
            assert td_verify_consistency(first, 21, bytes.fromhex(document["first_root"]),
                                         bytes.fromhex(document["second_root"]),
                                         [bytes.fromhex(h) for h in document["proof"]])


async def test_proofs_survive_growth_between_builds(database: Database) -> None:
    await append_many(database, 5)
    async with database.transaction() as session:
        await tree.build_tree(session)
    await append_many(database, 6)
    async with database.transaction() as session:
        old_root = await tree.tree_root(session, 5)
        document = await inspect.consistency(session, 5, 11)
        assert document["first_root"] == old_root.hex()


async def test_out_of_range_requests_are_refused_with_the_range(database: Database) -> None:
    from core.errors import InvalidInput, NotFound

    await append_many(database, 3)
    async with database.transaction() as session:
        with pytest.raises(InvalidInput, match="not in a tree of size 3"):
            await inspect.prove(session, 3)
        with pytest.raises(InvalidInput, match="out of range"):
            await inspect.prove(session, 0, 4)
        with pytest.raises(InvalidInput, match="0 < first <= second <= 3"):
            await inspect.consistency(session, 2, 1)
        with pytest.raises(NotFound, match="entries 0 to 2"):
            await inspect.entry(session, 9)


# --- tampering ----------------------------------------------------------------------------


async def signed_ledger(database: Database, signer: Ed25519PlatformSigner, count: int = 12) -> None:
    await append_many(database, count)
    async with database.transaction() as session:
        await sign_head(session, signer)
        report = await verify_ledger(session)
    assert report.ok, report


async def tamper(database: Database, statement: str, **params: object) -> None:
    async with database.transaction() as session:
        await session.execute(sa.text(statement), params)


async def verify(database: Database):  # type: ignore[no-untyped-def]
    async with database.reader() as session:
        return await verify_ledger(session)


async def test_an_edited_entry_is_named(database: Database, signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer)
    async with database.reader() as session:
        leaf = bytes((await session.get(LedgerEntry, 6)).leaf)  # type: ignore[union-attr]
    edited = leaf.replace(b'"number":6', b'"number":7')
    await tamper(database, "UPDATE ledger_entries SET leaf = :leaf WHERE seq = 6", leaf=edited)
    report = await verify(database)
    assert not report.ok and report.first_bad_index == 6
    assert "hash" in (report.reason or "")


async def test_an_entry_edited_with_its_hash_is_named_by_the_tree(database: Database,
                                                                    signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer, count=16)
    async with database.reader() as session:
        leaf = bytes((await session.get(LedgerEntry, 9)).leaf)  # type: ignore[union-attr]
    edited = leaf.replace(b'"number":9', b'"number":0')
    await tamper(database, "UPDATE ledger_entries SET leaf = :leaf, leaf_hash = :digest WHERE seq = 9",
                 leaf=edited, digest=hashlib.sha256(b"\x00" + edited).digest())
    report = await verify(database)
    assert not report.ok
    assert report.first_bad_index in (8, 9)  # the lowest stored node covering it: leaves 8-9
    assert "signed head" in (report.reason or "")


async def test_a_deleted_entry_is_named(database: Database, signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer)
    await tamper(database, "DELETE FROM ledger_entries WHERE seq = 4")
    report = await verify(database)
    assert not report.ok and report.first_bad_index == 4 and "missing" in (report.reason or "")


async def test_a_deleted_last_entry_is_named(database: Database, signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer)
    await tamper(database, "DELETE FROM ledger_entries WHERE seq = 11")
    report = await verify(database)
    assert not report.ok and report.first_bad_index == 11


async def test_reordered_entries_are_named(database: Database, signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer)
    # Swap the contents of rows 3 and 4, each row keeping its own (self-consistent) hash.
    await tamper(database, "UPDATE ledger_entries SET seq = -1 WHERE seq = 3")
    await tamper(database, "UPDATE ledger_entries SET seq = 3 WHERE seq = 4")
    await tamper(database, "UPDATE ledger_entries SET seq = 4 WHERE seq = -1")
    report = await verify(database)
    assert not report.ok and report.first_bad_index == 3 and "moved" in (report.reason or "")


async def test_a_forged_head_signature_is_caught(database: Database, signer: Ed25519PlatformSigner) -> None:
    await signed_ledger(database, signer)
    await tamper(database, "UPDATE ledger_tree_heads SET tree_size = 11")
    report = await verify(database)
    assert not report.ok and "signature" in (report.reason or "")

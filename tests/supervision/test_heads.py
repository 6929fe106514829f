"""Published tree heads: publishing (scheduled and on demand), serving, and checking a
presented head against the ledger, or offline against a published head."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ca_interop.platform_keys import PlatformSigner
from core.actors import SYSTEM, Role
from core.clock import rfc3339, utcnow
from core.database import Database
from core.errors import InvalidInput, NotFound
from supervision import heads
from supervision.head_check import HeadRefused, check_against_published
from supervision.heads_models import PublishedHead
from supervision.ledger import inspect
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.heads import signed_fields
from supervision.ledger.merkle import verify_consistency
from tests.factories import actor_of, make_user
from tests.supervision.walk_replay import make_widget, platform_signer

SIGNER = platform_signer()


def signed_document(signer: PlatformSigner, size: int, root: bytes, *, key_id: str | None = None) -> dict[str, Any]:
    """A head over any fields, signed by ``signer``: how a forger with a key would make one."""
    fields = signed_fields(size, root, rfc3339(utcnow()), key_id or signer.key_id)
    return {**fields, "signature": base64.b64encode(signer.sign(canonical_bytes(fields))).decode(),
            "public_key": signer.public_key_pem}


async def _grow(database: Database, widgets: int = 1) -> None:
    async with database.transaction() as session:
        for _ in range(widgets):
            await make_widget(session)


async def _publish(database: Database, trigger: str = "demand") -> dict[str, Any]:
    async with database.transaction() as session:
        actor = actor_of(await make_user(session, Role.AUDITOR)) if trigger == "demand" else SYSTEM
        return await heads.publish_head(session, actor, SIGNER, trigger=trigger)


async def test_publishing_twice_without_new_entries_gives_the_same_head(database: Database) -> None:
    await _grow(database)
    first = await _publish(database)
    again = await _publish(database, trigger="schedule")
    await _grow(database)
    later = await _publish(database, trigger="schedule")
    assert again == first and first["trigger"] == "demand"
    assert later["tree_size"] > first["tree_size"] and later["trigger"] == "schedule"
    async with database.reader() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(PublishedHead)) == 2
        requested_by = await session.scalar(sa.select(PublishedHead.requested_by).where(
            PublishedHead.tree_size == later["tree_size"]))
    assert requested_by is None  # the platform's own schedule


async def test_published_heads_are_listed_by_size_page_by_page_and_served_by_size(database: Database) -> None:
    published = []
    for _ in range(3):
        await _grow(database)
        published.append(await _publish(database))
    async with database.reader() as session:
        page = await heads.list_published(session, limit=2)
        rest = await heads.list_published(session, after_size=page["next_after_size"], limit=2)
        since = await heads.list_published(session, since=utcnow())
        one = await heads.published_at_size(session, published[1]["tree_size"])
        with pytest.raises(NotFound, match="no head of size 1 was published; the nearest published sizes are"):
            await heads.published_at_size(session, 1)
    assert [h["tree_size"] for h in page["heads"] + rest["heads"]] == [h["tree_size"] for h in published]
    assert rest["next_after_size"] is None and since["heads"] == []
    assert one == published[1]


async def test_a_head_of_this_ledger_is_accepted_with_a_proof_to_the_current_head(database: Database) -> None:
    await _grow(database)
    old = await _publish(database)
    await _grow(database, 2)
    async with database.transaction() as session:
        result = await heads.check_presented(session, SIGNER, old)
    consistency = result["consistency"]
    assert result["ok"] and result["published"] and consistency["first"] == old["tree_size"]
    assert consistency["second"] > consistency["first"]
    assert verify_consistency(consistency["first"], consistency["second"], bytes.fromhex(old["root_hash"]),
                              bytes.fromhex(consistency["second_root"]),
                              [bytes.fromhex(node) for node in consistency["proof"]])
    # The same answer, checked with nothing but files: the old head against the current one.
    offline = check_against_published(old, result["current_head"], consistency, SIGNER.public_key_pem)
    assert offline["ok"] and offline["relation"] == "prefix of the published tree"


async def _refusal(database: Database, document: Any) -> HeadRefused:
    with pytest.raises(HeadRefused) as raised:
        async with database.transaction() as session:
            await heads.check_presented(session, SIGNER, document)
    return raised.value


async def test_a_head_with_a_bad_signature_is_refused(database: Database) -> None:
    await _grow(database)
    head = await _publish(database)
    altered = {**head, "timestamp": "2020-01-01T00:00:00Z"}
    refused = await _refusal(database, altered)
    assert refused.reason == "bad-signature" and "does not verify with the platform key" in refused.detail


async def test_a_head_signed_by_another_key_is_refused(database: Database) -> None:
    await _grow(database)
    head = await _publish(database)
    other = platform_signer()
    own_key = signed_document(other, head["tree_size"], bytes.fromhex(head["root_hash"]))
    posing = signed_document(other, head["tree_size"], bytes.fromhex(head["root_hash"]), key_id=SIGNER.key_id)
    assert (await _refusal(database, own_key)).reason == "wrong-key"
    assert (await _refusal(database, posing)).reason == "bad-signature"


async def test_a_head_with_the_wrong_root_for_its_size_is_refused(database: Database) -> None:
    await _grow(database)
    head = await _publish(database)
    forged = signed_document(SIGNER, head["tree_size"], b"\x07" * 32)  # as with a stolen key
    refused = await _refusal(database, forged)
    assert refused.reason == "wrong-root" and f"root at size {head['tree_size']} is {head['root_hash']}" in refused.detail


async def test_a_head_beyond_the_ledger_is_refused_as_stale_or_unknown(database: Database) -> None:
    await _grow(database)
    head = await _publish(database)
    stale = signed_document(SIGNER, head["tree_size"] + 5, bytes.fromhex(head["root_hash"]))
    refused = await _refusal(database, stale)
    assert refused.reason == "unknown-size" and "this ledger holds only" in refused.detail


async def test_a_malformed_head_is_named(database: Database) -> None:
    for document, expected in (([], "must be a JSON object"), ({"tree_size": 1}, "lacks root_hash"),
                               ({**signed_document(SIGNER, 1, b"\0" * 32), "tree_size": "1"}, "whole number"),
                               ({**signed_document(SIGNER, 1, b"\0" * 32), "signature": "!"}, "malformed")):
        with pytest.raises(InvalidInput, match=expected):
            async with database.transaction() as session:
                await heads.check_presented(session, SIGNER, document)


# --- offline: an archive's or a receipt's head against a published head -------------------------


async def _old_and_published(database: Database) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    await _grow(database)
    async with database.transaction() as session:
        old = await inspect.head(session, SIGNER)
    await _grow(database, 2)
    published = await _publish(database)
    async with database.reader() as session:
        proof = await inspect.consistency(session, old["tree_size"], published["tree_size"])
    return old, published, proof


async def test_an_archive_or_a_receipt_is_tied_to_a_published_head_with_files_alone(
        database: Database, tmp_path: Path) -> None:
    from supervision.head_check import embedded_head

    old, published, proof = await _old_and_published(database)
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ledger/head.json", json.dumps(old))
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps({"format": "bidhall-bid-receipt/1", "tree_head": old}))
    for path in (archive, receipt):
        report = check_against_published(embedded_head(path), published, proof, SIGNER.public_key_pem)
        assert report == {"ok": True, "tree_size": old["tree_size"], "published_tree_size": published["tree_size"],
                          "relation": "prefix of the published tree"}


async def test_offline_a_forged_or_unproven_head_is_refused(database: Database) -> None:
    old, published, proof = await _old_and_published(database)
    key = SIGNER.public_key_pem
    forged = signed_document(SIGNER, old["tree_size"], b"\x01" * 32)
    cases = [
        (forged, published, proof, "inconsistent"),
        (old, published, None, "no-proof"),
        (old, published, {**proof, "first": old["tree_size"] + 1}, "wrong-proof"),
        (old, {**published, "tree_size": published["tree_size"] + 1}, proof, "bad-signature"),
        (signed_document(platform_signer(), old["tree_size"], bytes.fromhex(old["root_hash"])), published, proof,
         "bad-signature"),
        (forged, {**old}, None, "wrong-root"),
    ]
    for presented, anchor, given_proof, reason in cases:
        with pytest.raises(HeadRefused) as raised:
            check_against_published(presented, anchor, given_proof, key)
        assert raised.value.reason == reason, (reason, raised.value.detail)


# --- the scheduled publication ---------------------------------------------------------------


async def test_the_scheduled_job_publishes_as_the_platform(database: Database, settings: Any) -> None:
    from core.tasks import close_worker_loop, create_celery_app
    from supervision.tasks import PUBLISH_HEAD_SECONDS, publish_tree_head

    await _grow(database)
    app = create_celery_app(settings)
    try:
        assert app.conf.beat_schedule["supervision.publish_tree_head"] == {
            "task": "supervision.publish_tree_head", "schedule": float(PUBLISH_HEAD_SECONDS)}
        size = publish_tree_head()
        assert publish_tree_head() == size  # nothing new: the same head
    finally:
        close_worker_loop()
        app.close()
    async with database.reader() as session:
        rows = (await session.scalars(sa.select(PublishedHead))).all()
    assert [(row.tree_size, row.trigger, row.requested_by) for row in rows] == [(size, "schedule", None)]

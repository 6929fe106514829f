"""The remote opening, step by step, with the replay of ``opening:<lot_id>`` checked
against the tables after every step (both databases)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from core.clock import travel
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.trading.opening_factories import (
    custodian_handover,
    opening_scene,
    signed_record,
)
from trading import opening, opening_decryption, opening_record
from trading.bid_models import Bid
from trading.models import Lot, Notice
from trading.opening_models import CustodianShare, DecryptionAttempt
from trading.opening_schemas import (
    KeyHandover,
    ObjectionAnswer,
    ObjectionText,
    OpeningStart,
    QuorumDecision,
    WindowClose,
)
from web.runtime import Runtime


async def _replays(runtime: Runtime, lot_id: int) -> None:
    for stream in (f"opening:{lot_id}",):
        async with runtime.database.reader() as session:
            check = await check_stream(session, runtime.registry, stream)
        assert check.matches, (check.replayed, check.stored)


async def _project_events(runtime: Runtime, project_id: int) -> list[str]:
    """The project's stream (lot status moves, notices, objections) as event types; the
    project itself was written by the test builders, so only these entries are there."""
    async with runtime.database.reader() as session:
        return list((await session.scalars(sa.select(LedgerEntry.type).where(
            LedgerEntry.stream == f"project:{project_id}").order_by(LedgerEntry.seq))).all())


async def test_opening_from_start_to_published_record(runtime: Runtime, tmp_path: Path) -> None:
    db, blobs = runtime.database, runtime.blobs
    async with db.transaction() as session:
        scene = await opening_scene(session, blobs, tmp_path)
    lot_id, first, second, third = scene.lot_id, *scene.bids

    async with db.transaction() as session:
        started = await opening.start_opening(session, scene.host, lot_id, OpeningStart(window_minutes=30))
    assert started.status == "decrypting" and started.bid_count == 3 and started.warning is None
    await _replays(runtime, lot_id)

    async with db.transaction() as session:
        result = await opening_decryption.hand_over_content_key(session, first.bidder.actor, lot_id,
                                                                first.handover(), blobs=blobs)
    assert result.accepted and result.row.outcome == "opened" and result.row.method == "bidder_key"
    assert result.row.total_price == Decimal("11000000.00") and result.row.sheet_items["project_manager"] == "张三"
    assert blobs.exists(result.row.package_sha256)
    await _replays(runtime, lot_id)

    # A wrong key: refused, recorded, and the bidder tries again.
    wrong = KeyHandover(bid_id=second.bid.id, content_key="A" * 43 + "=")
    async with db.transaction() as session:
        refused = await opening_decryption.hand_over_content_key(session, second.bidder.actor, lot_id, wrong,
                                                                 blobs=blobs)
    assert not refused.accepted and "does not open this envelope" in refused.detail
    assert refused.row.outcome == "pending" and refused.row.failed_attempts == 1
    await _replays(runtime, lot_id)
    async with db.transaction() as session:
        retried = await opening_decryption.hand_over_content_key(session, second.bidder.actor, lot_id,
                                                                 second.handover(), blobs=blobs)
    assert retried.accepted and retried.row.total_price == Decimal("11250000.55")
    await _replays(runtime, lot_id)

    # The third bidder never decrypts; at the window's end the law decides.
    with travel(by=timedelta(minutes=31)):
        async with db.transaction() as session:
            closed = await opening.close_decryption_window(session, scene.host, lot_id,
                                                           WindowClose(use_fallback=False))
    assert closed.status == "recording" and closed.record_sha256
    await _replays(runtime, lot_id)

    async with db.transaction() as session:
        objection = await opening_record.object_at_opening(session, first.bidder.actor, lot_id,
                                                           ObjectionText(text="The price of bidder 2 was misread."))
    await _replays(runtime, lot_id)
    async with db.transaction() as session:
        await opening_record.answer_opening_objection(session, scene.host, lot_id, objection.id,  # type: ignore[arg-type]
                                                      ObjectionAnswer(reply="Checked against the sheet: correct."))
    await _replays(runtime, lot_id)

    async with db.transaction() as session:
        record = await opening_record.read_opening_record(session, first.bidder.actor, lot_id)
    for sealed in (first, second, third):
        async with db.transaction() as session:
            await opening_record.confirm_opening_record(session, sealed.bidder.actor, lot_id,
                                                        signed_record(sealed.bidder, record, scene.ca),
                                                        revocation=scene.ca.revocation)
        await _replays(runtime, lot_id)

    async with db.transaction() as session:
        published = await opening.publish_opening_record(session, scene.host, lot_id, blobs=blobs)
    assert published.status == "published"
    await _replays(runtime, lot_id)
    assert await _project_events(runtime, scene.tender.project.id) == [  # type: ignore[arg-type]
        "trading.lot_status_changed", "trading.objection_raised", "trading.objection_replied",
        "trading.lot_status_changed"]
    assert blobs.path_for(published.record_sha256).read_bytes() == record  # type: ignore[arg-type]

    async with db.reader() as session:
        lot = await session.get(Lot, lot_id)
        statuses = {b.id: b.status for b in (await session.scalars(sa.select(Bid))).all()}
        attempts = (await session.scalars(sa.select(DecryptionAttempt))).all()
        view = await opening.get_opening(session, scene.host, lot_id)
        ledger = (await session.scalars(sa.select(LedgerEntry.leaf))).all()
    assert lot is not None and lot.status == "evaluating"
    assert statuses == {first.bid.id: "opened", second.bid.id: "opened", third.bid.id: "revoked"}
    assert [a.succeeded for a in attempts] == [True, False, True]
    assert [r.outcome for r in view.rows] == ["opened", "opened", "revoked"]
    assert len(view.confirmed_party_ids) == 3
    # No content key ever reaches the ledger.
    for sealed in (first, second):
        key = sealed.content_key()
        assert not any(key.hex().encode() in leaf or key in leaf for leaf in ledger)


async def test_too_few_bids_construction_fails_with_a_notice(runtime: Runtime, tmp_path: Path) -> None:
    db = runtime.database
    async with db.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path, bidders=2)
    async with db.transaction() as session:
        started = await opening.start_opening(session, scene.host, scene.lot_id, OpeningStart())
    assert started.status == "awaiting_decision" and "only 2 bid(s)" in (started.warning or "")
    await _replays(runtime, scene.lot_id)
    async with db.transaction() as session:
        try:
            await opening.decide_quorum(session, scene.host, scene.lot_id,
                                        QuorumDecision(decision="continue", reason="go on"))
        except Exception as error:  # noqa: BLE001 - checked below
            refused = error
    assert "fails and is tendered again" in str(refused)
    async with db.transaction() as session:
        failed = await opening.decide_quorum(session, scene.host, scene.lot_id,
                                             QuorumDecision(decision="fail", reason="Two bids only: re-tender."))
    assert failed.status == "failed"
    await _replays(runtime, scene.lot_id)
    assert await _project_events(runtime, scene.tender.project.id) == [  # type: ignore[arg-type]
        "trading.lot_status_changed", "trading.lot_status_changed", "trading.notice_published"]
    async with db.reader() as session:
        lot = await session.get(Lot, scene.lot_id)
        notices = (await session.scalars(sa.select(Notice).where(Notice.lot_id == scene.lot_id))).all()
    assert lot is not None and lot.status == "failed"
    assert [n.kind for n in notices] == ["failed"] and "re-tender" in notices[0].body


async def test_too_few_bids_procurement_may_continue(runtime: Runtime, tmp_path: Path) -> None:
    db = runtime.database
    async with db.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path, bidders=2, segment="government_procurement")
    async with db.transaction() as session:
        await opening.start_opening(session, scene.host, scene.lot_id, OpeningStart())
    async with db.transaction() as session:
        going = await opening.decide_quorum(session, scene.host, scene.lot_id,
                                            QuorumDecision(decision="continue", reason="competitive negotiation"))
    assert going.status == "decrypting" and going.window_ends_at is not None
    await _replays(runtime, scene.lot_id)


async def test_custodian_fallback_opens_what_bidders_did_not(runtime: Runtime, tmp_path: Path) -> None:
    db, blobs = runtime.database, runtime.blobs
    async with db.transaction() as session:
        scene = await opening_scene(session, blobs, tmp_path)
    lot_id, first, second, third = scene.lot_id, *scene.bids
    async with db.transaction() as session:
        await opening.start_opening(session, scene.host, lot_id, OpeningStart())
    async with db.transaction() as session:
        await opening_decryption.hand_over_content_key(session, first.bidder.actor, lot_id, first.handover(),
                                                       blobs=blobs)
    with travel(by=timedelta(minutes=31)):
        async with db.transaction() as session:
            closed = await opening.close_decryption_window(session, scene.host, lot_id, WindowClose())
        assert closed.status == "fallback"
        await _replays(runtime, lot_id)
        custodians = [await _staff(db) for _ in range(2)]
        async with db.transaction() as session:
            one = await opening_decryption.hand_over_key_share(session, custodians[0], lot_id,
                                                               custodian_handover(scene.tender, 0), blobs=blobs)
        assert one.shares_held == 1 and one.opened_bid_ids == []
        await _replays(runtime, lot_id)
        async with db.transaction() as session:
            two = await opening_decryption.hand_over_key_share(session, custodians[1], lot_id,
                                                               custodian_handover(scene.tender, 2), blobs=blobs)
    assert sorted(two.opened_bid_ids) == sorted([second.bid.id, third.bid.id])
    await _replays(runtime, lot_id)
    async with db.reader() as session:
        view = await opening.get_opening(session, scene.host, lot_id)
        shares = (await session.scalars(sa.select(CustodianShare))).all()
    assert view.status == "recording"
    assert [r.method for r in view.rows] == ["bidder_key", "custodian_key", "custodian_key"]
    assert [r.total_price for r in view.rows] == [Decimal("11000000.00"), Decimal("11250000.55"),
                                                  Decimal("11500001.10")]
    assert all(s.value is None and s.used_at is not None for s in shares)  # erased once used


async def _staff(db):  # noqa: ANN001, ANN202
    from core.actors import Role
    from tests.factories import actor_of, make_user

    async with db.transaction() as session:
        return actor_of(await make_user(session, Role.CENTER_STAFF))

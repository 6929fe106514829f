"""Bad input at the opening: each refused with a clear error, nothing half-stored."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ca_interop.demo_pki import DemoCA, Usage
from core.clock import travel
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from supervision.ledger.models import LedgerEntry
from tests.trading.opening_factories import (
    custodian_handover,
    opening_scene,
    signed_record,
)
from trading import opening, opening_decryption, opening_record
from trading.models import Lot
from trading.opening_models import (
    CustodianShare,
    DecryptionAttempt,
    Opening,
    OpeningRow,
    RecordConfirmation,
)
from trading.opening_schemas import (
    KeyHandover,
    ObjectionText,
    OpeningStart,
    ShareHandover,
    WindowClose,
)
from web.runtime import Runtime


async def _stored(runtime: Runtime) -> tuple:
    """Everything a refused step must leave unchanged."""
    async with runtime.database.reader() as session:
        counts = [await session.scalar(sa.select(sa.func.count()).select_from(model)) for model in
                  (LedgerEntry, Opening, DecryptionAttempt, CustodianShare, RecordConfirmation)]
        outcomes = sorted((await session.scalars(sa.select(OpeningRow.outcome))).all())
    blobs = sorted(p.name for p in runtime.blobs.root.rglob("*") if p.is_file() and "tmp" not in p.parts)
    work = sorted(p.name for p in runtime.blobs.tmp_dir.rglob("*")) if runtime.blobs.tmp_dir.exists() else []
    return (*counts, outcomes, blobs, work)


async def test_opening_started_early_is_refused_with_the_deadline(runtime: Runtime, tmp_path: Path) -> None:
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path, deadline_in=timedelta(hours=2))
    before = await _stored(runtime)
    with pytest.raises(RuleViolation) as refused:
        async with runtime.database.transaction() as session:
            await opening.start_opening(session, scene.host, scene.lot_id, OpeningStart())
    assert "cannot start before the bid deadline" in refused.value.detail
    assert refused.value.rule == "trading.opening_not_before_deadline"
    assert await _stored(runtime) == before
    async with runtime.database.reader() as session:
        assert (await session.get(Lot, scene.lot_id)).status == "bidding"  # type: ignore[union-attr]


async def _started(runtime: Runtime, tmp_path: Path, **options):  # noqa: ANN003, ANN202
    async with runtime.database.transaction() as session:
        scene = await opening_scene(session, runtime.blobs, tmp_path, **options)
    async with runtime.database.transaction() as session:
        await opening.start_opening(session, scene.host, scene.lot_id, OpeningStart())
    return scene


async def test_wrong_key_is_refused_recorded_and_releases_nothing(runtime: Runtime, tmp_path: Path) -> None:
    scene = await _started(runtime, tmp_path)
    sealed = scene.bids[0]
    right = sealed.content_key()
    wrong = bytes([right[0] ^ 0x80]) + right[1:]
    before = await _stored(runtime)
    async with runtime.database.transaction() as session:
        result = await opening_decryption.hand_over_content_key(
            session, sealed.bidder.actor, scene.lot_id,
            KeyHandover(bid_id=sealed.bid.id, content_key=base64.b64encode(wrong).decode()),  # type: ignore[arg-type]
            blobs=runtime.blobs)
    assert not result.accepted and "the content key does not open this envelope" in result.detail
    after = await _stored(runtime)
    # Recorded: one attempt and its ledger entry. Released: nothing (no blob, no plaintext file).
    assert after[0] == before[0] + 1 and after[2] == before[2] + 1
    assert after[5:] == before[5:] and after[3:5] == before[3:5]
    # A key of the wrong length is refused the same way.
    async with runtime.database.transaction() as session:
        short = await opening_decryption.hand_over_content_key(
            session, sealed.bidder.actor, scene.lot_id,
            KeyHandover(bid_id=sealed.bid.id, content_key=base64.b64encode(right[:16]).decode()),  # type: ignore[arg-type]
            blobs=runtime.blobs)
    assert not short.accepted and "16 bytes" in short.detail and short.row.failed_attempts == 2


def test_content_key_that_is_not_base64_is_invalid_input() -> None:
    with pytest.raises(ValueError, match="content_key must be base64"):
        KeyHandover(bid_id=1, content_key="not base64!")


async def test_a_bidder_handing_a_key_for_anothers_bid(runtime: Runtime, tmp_path: Path) -> None:
    scene = await _started(runtime, tmp_path)
    mine, theirs = scene.bids[0], scene.bids[1]
    before = await _stored(runtime)
    with pytest.raises(PermissionDenied, match="another bidder's"):
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_content_key(session, mine.bidder.actor, scene.lot_id,
                                                           theirs.handover(), blobs=runtime.blobs)
    assert await _stored(runtime) == before


async def test_key_after_the_window_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    scene = await _started(runtime, tmp_path)
    before = await _stored(runtime)
    with travel(by=timedelta(minutes=31)), pytest.raises(RuleViolation, match="decryption window closed at"):
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_content_key(session, scene.bids[0].bidder.actor, scene.lot_id,
                                                           scene.bids[0].handover(), blobs=runtime.blobs)
    assert await _stored(runtime) == before
    with pytest.raises(RuleViolation, match="window runs until"):
        async with runtime.database.transaction() as session:
            await opening.close_decryption_window(session, scene.host, scene.lot_id, WindowClose())
    assert await _stored(runtime) == before


async def _in_fallback(runtime: Runtime, tmp_path: Path):  # noqa: ANN202
    scene = await _started(runtime, tmp_path)
    with travel(by=timedelta(minutes=31)):
        async with runtime.database.transaction() as session:
            await opening.close_decryption_window(session, scene.host, scene.lot_id, WindowClose())
    return scene


async def test_a_share_from_a_non_custodian(runtime: Runtime, tmp_path: Path) -> None:
    scene = await _in_fallback(runtime, tmp_path)
    outsider = DemoCA.create("Outsider CA", "ecdsa").issue("Not a custodian", usage=Usage.ENCRYPTION)
    genuine = custodian_handover(scene.tender, 0)
    forged = ShareHandover(index=genuine.index, value=genuine.value, custodian_certificate=outsider.cert_pem.decode())
    before = await _stored(runtime)
    with pytest.raises(PermissionDenied, match="is not one of the custodians"):
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_key_share(session, scene.host, scene.lot_id, forged,
                                                         blobs=runtime.blobs)
    assert await _stored(runtime) == before
    wrong_index = ShareHandover(index=genuine.index % 3 + 1, value=genuine.value,
                                custodian_certificate=genuine.custodian_certificate)
    with pytest.raises(InvalidInput, match=f"is share {genuine.index}"):
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_key_share(session, scene.host, scene.lot_id, wrong_index,
                                                         blobs=runtime.blobs)
    # One custodian, one share: the same person cannot bring a second one.
    async with runtime.database.transaction() as session:
        await opening_decryption.hand_over_key_share(session, scene.host, scene.lot_id, genuine, blobs=runtime.blobs)
    before = await _stored(runtime)
    with pytest.raises(Conflict, match="each custodian hands over one"):
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_key_share(session, scene.host, scene.lot_id,
                                                         custodian_handover(scene.tender, 1), blobs=runtime.blobs)
    assert await _stored(runtime) == before


async def _recording(runtime: Runtime, tmp_path: Path):  # noqa: ANN202
    scene = await _started(runtime, tmp_path)
    for sealed in scene.bids:
        async with runtime.database.transaction() as session:
            await opening_decryption.hand_over_content_key(session, sealed.bidder.actor, scene.lot_id,
                                                           sealed.handover(), blobs=runtime.blobs)
    async with runtime.database.transaction() as session:
        record = await opening_record.read_opening_record(session, scene.host, scene.lot_id)
    return scene, record


async def test_confirming_twice_and_a_signature_over_other_bytes(runtime: Runtime, tmp_path: Path) -> None:
    scene, record = await _recording(runtime, tmp_path)
    bidder = scene.bids[0].bidder
    before = await _stored(runtime)
    with pytest.raises(InvalidInput, match="does not verify over the opening record"):
        async with runtime.database.transaction() as session:
            await opening_record.confirm_opening_record(session, bidder.actor, scene.lot_id,
                                                        signed_record(bidder, record + b" ", scene.ca),
                                                        revocation=scene.ca.revocation)
    with pytest.raises(PermissionDenied, match="names the organisation"):
        async with runtime.database.transaction() as session:
            other = scene.bids[1].bidder
            await opening_record.confirm_opening_record(session, bidder.actor, scene.lot_id,
                                                        signed_record(other, record, scene.ca),
                                                        revocation=scene.ca.revocation)
    assert await _stored(runtime) == before
    async with runtime.database.transaction() as session:
        await opening_record.confirm_opening_record(session, bidder.actor, scene.lot_id,
                                                    signed_record(bidder, record, scene.ca),
                                                    revocation=scene.ca.revocation)
    before = await _stored(runtime)
    with pytest.raises(Conflict, match="confirmed this record at .*once is enough"):
        async with runtime.database.transaction() as session:
            await opening_record.confirm_opening_record(session, bidder.actor, scene.lot_id,
                                                        signed_record(bidder, record, scene.ca),
                                                        revocation=scene.ca.revocation)
    assert await _stored(runtime) == before


async def test_actions_after_the_record_is_published(runtime: Runtime, tmp_path: Path) -> None:
    scene, record = await _recording(runtime, tmp_path)
    async with runtime.database.transaction() as session:
        await opening.publish_opening_record(session, scene.host, scene.lot_id, blobs=runtime.blobs)
    bidder = scene.bids[0].bidder
    before = await _stored(runtime)
    attempts = [
        lambda s: opening_record.confirm_opening_record(s, bidder.actor, scene.lot_id,
                                                        signed_record(bidder, record, scene.ca),
                                                        revocation=scene.ca.revocation),
        lambda s: opening_record.object_at_opening(s, bidder.actor, scene.lot_id, ObjectionText(text="late")),
        lambda s: opening_decryption.hand_over_content_key(s, bidder.actor, scene.lot_id, scene.bids[0].handover(),
                                                           blobs=runtime.blobs),
        lambda s: opening.close_decryption_window(s, scene.host, scene.lot_id, WindowClose()),
        lambda s: opening.publish_opening_record(s, scene.host, scene.lot_id, blobs=runtime.blobs),
        lambda s: opening.start_opening(s, scene.host, scene.lot_id, OpeningStart()),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict) as refused:
            async with runtime.database.transaction() as session:
                await attempt(session)
        assert "published" in refused.value.detail or "already started" in refused.value.detail
    assert await _stored(runtime) == before


async def test_only_the_host_runs_the_opening(runtime: Runtime, tmp_path: Path) -> None:
    scene = await _started(runtime, tmp_path)
    from core.actors import Role
    from tests.factories import actor_of, make_user

    async with runtime.database.transaction() as session:
        other_staff = actor_of(await make_user(session, Role.CENTER_STAFF))
    before = await _stored(runtime)
    with travel(by=timedelta(minutes=31)), pytest.raises(PermissionDenied, match="only the host"):
        async with runtime.database.transaction() as session:
            await opening.close_decryption_window(session, other_staff, scene.lot_id, WindowClose())
    assert await _stored(runtime) == before

"""The award: candidates, their publicity and objections, the winner and the sealed award
notice; the replay of ``award:<lot>`` after every step; the bad inputs, each refused with
nothing stored."""

from __future__ import annotations

import io
from datetime import timedelta

import docx
import pytest
import sqlalchemy as sa

from ca_interop.eseal import verify_signature
from core.actors import Role
from core.clock import travel
from core.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import actor_of, make_user
from tests.trading.award_factories import (
    PRICES,
    after_publicity,
    blob_store,
    confirm_first,
    demo_seal,
    evaluated_lot,
    to_publicity,
)
from trading import award, award_notice
from trading.award_events import award_stream
from trading.award_models import Award, AwardCandidate, AwardStatus
from trading.award_schemas import (
    CandidateIn,
    CandidateList,
    ObjectionReplyIn,
    PublicityObjectionIn,
    WinnerConfirmation,
)
from trading.models import Lot, Notice, Objection
from trading.states import LotStatus, NoticeKind


async def _counts(session) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """Ledger entries, awards, notices, objections: what a refused step must leave alone."""
    async def count(model) -> int:  # type: ignore[no-untyped-def]
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

    return (await count(LedgerEntry), await count(Award), await count(Notice), await count(Objection))


async def _replays(runtime, lot_id: int) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.reader() as session:
        check = await check_stream(session, runtime.registry, award_stream(lot_id))
    assert check.matches, (check.replayed, check.stored)


async def test_candidates_publicity_and_winner_replay_at_every_step(runtime) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await evaluated_lot(session, blobs, bidders=4)
        row = await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates(3))
        assert row.status == AwardStatus.CANDIDATES
    await _replays(runtime, lot.lot_id)
    async with runtime.database.transaction() as session:
        row = await award.publish_candidate_publicity(session, lot.tenderer, lot.lot_id)
        assert row.status == AwardStatus.PUBLICITY and row.publicity_until > row.publicity_start  # type: ignore[operator]
        assert (await session.get(Lot, lot.lot_id)).status == LotStatus.PUBLICITY  # type: ignore[union-attr]
        notice = await session.get(Notice, row.publicity_notice_id)
        assert notice.kind == NoticeKind.CANDIDATE_PUBLICITY and notice.publicity_until == row.publicity_until  # type: ignore[union-attr]
        assert [c["rank"] for c in notice.details["candidates"]] == [1, 2, 3]  # type: ignore[union-attr]
    await _replays(runtime, lot.lot_id)
    with after_publicity(row):
        async with runtime.database.transaction() as session:
            row = await confirm_first(session, lot, blobs)
    assert row.status == AwardStatus.AWARDED and row.winner_bid_id == lot.bids[0].id and row.price == PRICES[0]
    await _replays(runtime, lot.lot_id)
    async with runtime.database.reader() as session:
        assert (await session.get(Lot, lot.lot_id)).status == LotStatus.AWARDED  # type: ignore[union-attr]
        result = await session.get(Notice, row.result_notice_id)
        assert result.kind == NoticeKind.RESULT and result.document_sha256 == row.award_notice_sha256  # type: ignore[union-attr]


async def test_the_award_notice_names_the_winner_and_carries_the_platform_seal(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
        with after_publicity(row):
            row = await confirm_first(session, lot, blobs)
    document = blobs.path_for(row.award_notice_sha256).read_bytes()  # type: ignore[arg-type]
    text = "\n".join(cell.text for table in docx.Document(io.BytesIO(document)).tables
                     for r in table.rows for cell in r.cells)
    winner = lot.bidders[0].party
    assert winner.name in text and winner.uscc in text and str(PRICES[0]) in text and lot.made.project.code in text
    pictures = [r for r in docx.Document(io.BytesIO(document)).inline_shapes]
    assert len(pictures) == 1  # the seal's picture
    signature = blobs.path_for(row.seal_signature_sha256).read_bytes()  # type: ignore[arg-type]
    report = await verify_signature(document, signature)  # no validator: crypto checks only
    failed = [check for check in report["checks"] if check["passed"] is False]
    assert not failed and report["seal"]["es_id"] == demo_seal().es_id
    tampered = await verify_signature(document.replace(b"word/", b"word/", 1) + b"\0", signature)
    assert tampered["indication"] == "TOTAL_FAILED"


async def test_seal_verification_against_the_trust_list_and_the_platform_root(runtime) -> None:  # type: ignore[no-untyped-def]
    from tests.trading.award_factories import install_platform_seal

    seal = install_platform_seal(runtime)
    blobs = runtime.blobs
    async with runtime.database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
        with after_publicity(row):
            await confirm_first(session, lot, blobs, runtime.platform_seal)
        reader = actor_of(await make_user(session, Role.BIDDER))
    async with runtime.database.reader() as session:
        report = await award_notice.verify_award_notice(session, reader, lot.lot_id, blobs=blobs,
                                                        revocation=runtime.revocation, seal_roots=(seal.root,))
        assert report["indication"] == "TOTAL_PASSED", report["detail"]
        unknown_root = await award_notice.verify_award_notice(session, reader, lot.lot_id, blobs=blobs,
                                                              revocation=runtime.revocation)
        assert unknown_root["indication"] != "TOTAL_PASSED"


async def test_confirming_during_the_publicity_is_refused_and_nothing_stored(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
    async with database.transaction() as session:
        before = await _counts(session)
        with pytest.raises(RuleViolation, match="publicity of lot .* runs until") as refused:
            await confirm_first(session, lot, blobs)
        assert refused.value.rule == "candidate_publicity"
        assert await _counts(session) == before
    assert not list(blobs.root.glob("??/??/*"))[3:]  # only the three envelopes
    async with database.reader() as session:
        assert (await session.get(Award, row.id)).status == AwardStatus.PUBLICITY  # type: ignore[union-attr]


async def test_an_open_objection_blocks_the_winner_until_answered(runtime) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
        objection = await award.raise_publicity_objection(session, lot.bidders[2].actor, lot.lot_id,
                                                          PublicityObjectionIn(text="The first candidate's "
                                                                               "qualification has expired."))
        assert objection.stage == "publicity" and objection.reply_due > objection.raised_at
    await _replays(runtime, lot.lot_id)
    with after_publicity(row):
        async with runtime.database.transaction() as session:
            before = await _counts(session)
            with pytest.raises(RuleViolation, match=f"objection\\(s\\) {objection.id} .* not answered") as refused:
                await confirm_first(session, lot, blobs)
            assert refused.value.rule == "publicity_objection_reply" and await _counts(session) == before
        async with runtime.database.transaction() as session:
            with pytest.raises(PermissionDenied):
                await award.reply_publicity_objection(session, lot.bidders[0].actor, objection.id,
                                                      ObjectionReplyIn(reply="No."))
            await award.reply_publicity_objection(session, lot.tenderer, objection.id,
                                                  ObjectionReplyIn(reply="Checked: it is valid until 2030."))
            with pytest.raises(Conflict, match="answered"):
                await award.reply_publicity_objection(session, lot.tenderer, objection.id,
                                                      ObjectionReplyIn(reply="Again."))
        async with runtime.database.transaction() as session:
            await confirm_first(session, lot, blobs)
    await _replays(runtime, lot.lot_id)


async def test_an_objection_after_the_window_is_refused(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
    with travel(to=row.objection_until + timedelta(seconds=1)):  # type: ignore[operator]
        async with database.transaction() as session:
            before = await _counts(session)
            with pytest.raises(RuleViolation, match="objection window .* closed at") as refused:
                await award.raise_publicity_objection(session, lot.bidders[1].actor, lot.lot_id,
                                                      PublicityObjectionIn(text="Too late."))
            assert refused.value.rule == "publicity_objection_window" and await _counts(session) == before


async def test_only_bidders_of_the_lot_object(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        await to_publicity(session, lot)
        stranger = actor_of(await make_user(session, Role.BIDDER))
        with pytest.raises(PermissionDenied, match="only bidders of lot"):
            await award.raise_publicity_objection(session, stranger, lot.lot_id, PublicityObjectionIn(text="x"))


async def test_another_candidate_needs_a_reason(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        row = await to_publicity(session, lot)
    with after_publicity(row):
        async with database.transaction() as session:
            with pytest.raises(InvalidInput, match="candidate 2, not the first: state the reason") as refused:
                await award_notice.confirm_winner(session, lot.tenderer, lot.lot_id,
                                                  WinnerConfirmation(bid_id=lot.bids[1].id),  # type: ignore[arg-type]
                                                  blobs=blobs, seal=demo_seal())
            assert refused.value.errors[0].pointer == "$.reason"
            with pytest.raises(InvalidInput, match="is not a candidate"):
                await award_notice.confirm_winner(session, lot.tenderer, lot.lot_id,
                                                  WinnerConfirmation(bid_id=999999), blobs=blobs, seal=demo_seal())
        async with database.transaction() as session:
            reason = "The first candidate declined the award in writing."
            row = await award_notice.confirm_winner(session, lot.tenderer, lot.lot_id,
                                                    WinnerConfirmation(bid_id=lot.bids[1].id, reason=reason),  # type: ignore[arg-type]
                                                    blobs=blobs, seal=demo_seal())
    assert row.winner_party_id == lot.bidders[1].party.id and row.deviation_reason == reason
    text = "\n".join(c.text for t in docx.Document(blobs.path_for(row.award_notice_sha256)).tables  # type: ignore[arg-type]
                     for r in t.rows for c in r.cells)
    assert reason in text


async def test_bad_candidate_lists_are_refused(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs, bidders=4)
        other = await evaluated_lot(session, blobs, bidders=1)
        before = await _counts(session)
        with pytest.raises(RuleViolation, match="at most 3 ranked candidates"):
            await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates(4))
        lot.bids[1].status = "rejected"
        session.add(lot.bids[1])
        bad = CandidateList(candidates=[CandidateIn(bid_id=lot.bids[1].id, price=PRICES[0]),  # type: ignore[arg-type]
                                        CandidateIn(bid_id=other.bids[0].id, price=PRICES[1])])  # type: ignore[arg-type]
        with pytest.raises(InvalidInput) as refused:
            await award.record_candidates(session, lot.staff, lot.lot_id, bad)
        assert [e.pointer for e in refused.value.errors] == ["$.candidates[0].bid_id", "$.candidates[1].bid_id"]
        assert "rejected" in refused.value.detail and "not a bid of lot" in refused.value.detail
        assert await _counts(session) == before
        with pytest.raises(ValueError, match="appears twice"):
            CandidateList(candidates=[CandidateIn(bid_id=1, price=PRICES[0]), CandidateIn(bid_id=1, price=PRICES[0])])
        await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates(1))
        with pytest.raises(Conflict, match="already recorded"):
            await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates(1))
        lot.made.lot.status = LotStatus.BIDDING
        with pytest.raises(Conflict, match="is bidding; recording candidates needs it evaluating"):
            await award.record_candidates(session, lot.staff, lot.lot_id,
                                          lot.candidates(1))


async def test_only_the_tenderer_or_agency_of_the_project_publishes_and_confirms(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates())
        stranger = actor_of(await make_user(session, Role.TENDERER))
        with pytest.raises(PermissionDenied, match="tenderer or agency of project"):
            await award.publish_candidate_publicity(session, stranger, lot.lot_id)
        with pytest.raises(PermissionDenied, match="unpublished candidate list"):
            await award.get_award(session, actor_of(await make_user(session, Role.BIDDER)), lot.lot_id)
        row = await award.publish_candidate_publicity(session, lot.tenderer, lot.lot_id)
        _, candidates, _ = await award.get_award(session, lot.bidders[0].actor, lot.lot_id)
        assert [c["party_uscc"] for c in candidates] == [b.party.uscc for b in lot.bidders]
    with after_publicity(row):
        async with database.transaction() as session:
            with pytest.raises(PermissionDenied, match="confirming the winner is for the tenderer or agency"):
                await award_notice.confirm_winner(session, stranger, lot.lot_id,
                                                  WinnerConfirmation(bid_id=lot.bids[0].id),  # type: ignore[arg-type]
                                                  blobs=blobs, seal=demo_seal())


async def test_candidates_keep_their_exact_money_and_scores(database) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with database.transaction() as session:
        lot = await evaluated_lot(session, blobs)
        await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates())
    async with database.reader() as session:
        rows = list(await session.scalars(sa.select(AwardCandidate).order_by(AwardCandidate.rank)))
        assert [str(r.price) for r in rows] == [str(p) for p in PRICES[:3]]
        assert str(rows[0].score) == "92.50"

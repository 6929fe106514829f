"""An objection to the candidates upheld because the evaluation was wrong: the publicity is
withdrawn by a change notice, its candidates move to the award's history, the lot goes
back to evaluation, and the re-evaluation's candidates start a new publicity. Every step
replays; every refused step stores nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.actors import Role
from core.clock import travel
from core.errors import Conflict, InvalidInput
from identities import service as identities_service
from supervision.ledger.append import append
from supervision.ledger.models import LedgerEntry
from supervision.replay import check_stream
from tests.factories import PASSWORD, actor_of, signed_in
from tests.trading.award_factories import (
    PRICES,
    SCORES,
    after_publicity,
    blob_store,
    confirm_first,
    demo_seal,
    evaluated_lot,
    to_publicity,
)
from trading import award, award_notice
from trading.award_events import PUBLICITY_WITHDRAWN, award_stream
from trading.award_models import (
    Award,
    AwardCandidate,
    AwardStatus,
    AwardWithdrawal,
    PublicityObjectionOutcome,
)
from trading.award_schemas import (
    CandidateIn,
    CandidateList,
    ObjectionReplyIn,
    PublicityObjectionIn,
    WinnerConfirmation,
)
from trading.events import (
    LOT_ADDED,
    LOT_STATUS_CHANGED,
    PROJECT_CREATED,
    project_stream,
    row_snapshot,
)
from trading.models import Lot, Notice, Objection
from trading.states import LotStatus, NoticeKind

REASONS = "The committee scored the second bid's technical proposal against the wrong criteria."
UPHOLD = ObjectionReplyIn(reply="Your objection is upheld.", outcome=PublicityObjectionOutcome.UPHELD_EVALUATION,
                         reasons=REASONS)


async def _counts(session) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    """What a refused step must leave alone."""
    async def count(model) -> int:  # type: ignore[no-untyped-def]
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)

    return tuple([await count(model) for model in (LedgerEntry, AwardCandidate, AwardWithdrawal, Notice)])


async def _replays(runtime, lot) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.reader() as session:
        for stream in (award_stream(lot.lot_id), project_stream(lot.made.project.id)):
            check = await check_stream(session, runtime.registry, stream)
            assert check.matches, (stream, check.replayed, check.stored)


async def _streamed_lot(session, blobs, **options):  # type: ignore[no-untyped-def]
    """``evaluated_lot`` with its project stream begun as the project's creation would have
    begun it (the factory writes the rows directly), so the project stream replays."""
    lot = await evaluated_lot(session, blobs, **options)
    stream = project_stream(lot.made.project.id)
    await append(session, stream=stream, event_type=PROJECT_CREATED, actor=None,
                 payload={"project": row_snapshot(lot.made.project)})
    await append(session, stream=stream, event_type=LOT_ADDED, actor=None, payload={"row": row_snapshot(lot.made.lot)})
    return lot


async def _object(session, lot, bidder: int = 2, text: str = "The second bid was scored wrongly."):  # type: ignore[no-untyped-def]
    return await award.raise_publicity_objection(session, lot.bidders[bidder].actor, lot.lot_id,
                                                 PublicityObjectionIn(text=text))


def _reevaluated(lot) -> CandidateList:  # type: ignore[no-untyped-def]
    """The re-evaluation ranks the second bid first."""
    order = [lot.bids[1], lot.bids[0]]
    return CandidateList(candidates=[CandidateIn(bid_id=bid.id, price=PRICES[i], score=SCORES[i])  # type: ignore[arg-type]
                                     for i, bid in enumerate(order)], report_sha256="ab" * 32)


async def test_an_upheld_objection_withdraws_the_publicity_and_the_reevaluation_publishes_again(runtime) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await _streamed_lot(session, blobs)
        first = await to_publicity(session, lot)
        objection = await _object(session, lot)
        other = await _object(session, lot, bidder=1, text="The ranking is wrong too.")
        withdrawn_candidates = [(c.rank, c.bid_id) for c in await session.scalars(
            sa.select(AwardCandidate).order_by(AwardCandidate.rank))]
    async with runtime.database.transaction() as session:
        await award.reply_publicity_objection(session, lot.tenderer, objection.id, UPHOLD)
    await _replays(runtime, lot)
    async with runtime.database.reader() as session:
        row = await session.get(Award, first.id)
        assert row.status == AwardStatus.REEVALUATION and row.publicity_notice_id is None  # type: ignore[union-attr]
        assert (await session.get(Lot, lot.lot_id)).status == LotStatus.EVALUATING  # type: ignore[union-attr]
        assert (await session.get(Objection, objection.id)).status == "answered"  # type: ignore[union-attr]
        assert not list(await session.scalars(sa.select(AwardCandidate)))
        withdrawal = (await session.scalars(sa.select(AwardWithdrawal))).one()
        assert (withdrawal.round, withdrawal.objection_id, withdrawal.reasons) == (1, objection.id, REASONS)
        assert withdrawal.outcome == "upheld_evaluation" and withdrawal.publicity_notice_id == first.publicity_notice_id
        assert withdrawal.report_sha256 == first.report_sha256
        assert [(c["rank"], c["bid_id"]) for c in withdrawal.candidates] == withdrawn_candidates
        change = await session.get(Notice, withdrawal.change_notice_id)
        assert change.kind == NoticeKind.CHANGE and change.details["change"] == "publicity_withdrawn"  # type: ignore[union-attr]
        assert REASONS in change.body and change.details["objection_id"] == objection.id  # type: ignore[union-attr]
        moves = [json.loads(leaf)["payload"] for leaf in await session.scalars(sa.select(LedgerEntry.leaf).where(
            LedgerEntry.type == LOT_STATUS_CHANGED).order_by(LedgerEntry.seq))]
        assert (moves[-1]["from"], moves[-1]["to"]) == ("publicity", "evaluating")
        assert moves[-1]["details"]["withdrawal_id"] == withdrawal.id
        assert await session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
            LedgerEntry.type == PUBLICITY_WITHDRAWN)) == 1

    async with runtime.database.transaction() as session:
        await award.record_evaluated_candidates(session, lot.staff, lot.lot_id, _reevaluated(lot))
        second = await award.publish_candidate_publicity(session, lot.tenderer, lot.lot_id)
        notice = await session.get(Notice, second.publicity_notice_id)
    await _replays(runtime, lot)
    assert second.id == first.id and second.status == AwardStatus.PUBLICITY and second.report_sha256 == "ab" * 32
    assert notice.details["replaces_withdrawal_id"] == withdrawal.id  # type: ignore[union-attr]
    assert "re-evaluation" in notice.body  # type: ignore[union-attr]
    assert [c["bid_id"] for c in notice.details["candidates"]] == [lot.bids[1].id, lot.bids[0].id]  # type: ignore[union-attr]

    # The first round's other objection still needs its answer before the winner; it cannot
    # withdraw the new publicity, which it never saw.
    with after_publicity(second):
        async with runtime.database.transaction() as session:
            before = await _counts(session)
            with pytest.raises(Conflict, match="withdrawn before the current one started"):
                await award.reply_publicity_objection(session, lot.tenderer, other.id, UPHOLD)
            assert await _counts(session) == before
        async with runtime.database.transaction() as session:
            await award.reply_publicity_objection(session, lot.tenderer, other.id,
                                                  ObjectionReplyIn(reply="Moot: the result was re-evaluated."))
        async with runtime.database.transaction() as session:
            confirmed = await award_notice_confirm(session, lot, blobs, lot.bids[1].id)
    assert confirmed.winner_bid_id == lot.bids[1].id
    await _replays(runtime, lot)


async def award_notice_confirm(session, lot, blobs, bid_id: int):  # type: ignore[no-untyped-def]
    return await award_notice.confirm_winner(session, lot.tenderer, lot.lot_id, WinnerConfirmation(bid_id=bid_id),
                                             blobs=blobs, seal=demo_seal())


async def test_an_objection_answered_after_the_publicity_days_can_still_be_upheld(runtime) -> None:  # type: ignore[no-untyped-def]
    """The tenderer has 3 days from the objection, which may outlast the publicity; the
    winner waits for the answer, so the answer can still withdraw the result."""
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await _streamed_lot(session, blobs)
        row = await to_publicity(session, lot)
        objection = await _object(session, lot)
    with after_publicity(row):
        async with runtime.database.transaction() as session:
            await award.reply_publicity_objection(session, lot.tenderer, objection.id, UPHOLD)
    async with runtime.database.reader() as session:
        assert (await session.get(Lot, lot.lot_id)).status == LotStatus.EVALUATING  # type: ignore[union-attr]
    await _replays(runtime, lot)


async def test_upholding_after_the_publicity_ended_is_refused_with_nothing_stored(runtime) -> None:  # type: ignore[no-untyped-def]
    blobs = blob_store()
    async with runtime.database.transaction() as session:
        lot = await _streamed_lot(session, blobs)
        await to_publicity(session, lot)
        first = await _object(session, lot)
        second = await _object(session, lot, bidder=1)
        await award.reply_publicity_objection(session, lot.tenderer, first.id, UPHOLD)
    async with runtime.database.transaction() as session:
        before = await _counts(session)
        with pytest.raises(Conflict, match="publicity of lot .* has ended .* can no longer be upheld"):
            await award.reply_publicity_objection(session, lot.tenderer, second.id, UPHOLD)
        assert await _counts(session) == before
    async with runtime.database.reader() as session:
        assert (await session.get(Objection, second.id)).status == "open"  # type: ignore[union-attr]

    async with runtime.database.transaction() as session:  # the awarded lot: the publicity is over
        done = await evaluated_lot(session, blobs)
        row = await to_publicity(session, done)
        late = await _object(session, done)
        await award.reply_publicity_objection(session, done.tenderer, late.id, ObjectionReplyIn(reply="No."))
    with after_publicity(row):
        async with runtime.database.transaction() as session:
            await confirm_first(session, done, blobs)
    async with runtime.database.transaction() as session:
        before = await _counts(session)
        with pytest.raises(Conflict, match="has ended \\(the award is awarded"):
            await award.reply_publicity_objection(session, done.tenderer, late.id, UPHOLD)
        assert await _counts(session) == before


def test_an_upheld_outcome_needs_reasons_and_a_dismissed_one_takes_none() -> None:
    with pytest.raises(InvalidInput) as refused:
        ObjectionReplyIn.model_validate_json('{"reply": "Upheld.", "outcome": "upheld_evaluation"}')
    assert [error.pointer for error in refused.value.errors] == ["$.reasons"]
    with pytest.raises(InvalidInput) as refused:
        ObjectionReplyIn.model_validate_json('{"reply": "No.", "reasons": "Because."}')
    assert [error.pointer for error in refused.value.errors] == ["$.reasons"]
    assert ObjectionReplyIn.model_validate_json('{"reply": "No."}').outcome == "dismissed"


async def test_withdrawal_over_http(client, runtime) -> None:  # type: ignore[no-untyped-def]
    async with runtime.database.transaction() as session:
        tenderer_user, tenderer = await signed_in(session, Role.TENDERER)
        lot = await _streamed_lot(session, runtime.blobs, acting=actor_of(tenderer_user))
        await to_publicity(session, lot)
        objection = await _object(session, lot)
        _, reader = await identities_service.sign_in(session, lot.bidders[2].user.username, PASSWORD,
                                                     source_address="127.0.0.1", hours=1)
    reply = f"/award-objections/{objection.id}/reply"
    headers = {"Authorization": f"Bearer {tenderer}"}
    for body, pointer in (({"reply": "Upheld.", "outcome": "upheld_evaluation"}, "$.reasons"),
                          ({"reply": "Upheld.", "outcome": "upheld", "reasons": REASONS}, "$.outcome")):
        refused = await client.post(reply, json=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert pointer in [error["pointer"] for error in refused.json()["errors"]]
    upheld = await client.post(reply, json={"reply": "Upheld.", "outcome": "upheld_evaluation", "reasons": REASONS},
                               headers=headers)
    assert upheld.status_code == 200 and upheld.json()["status"] == "answered", upheld.text
    shown = (await client.get(f"/lots/{lot.lot_id}/award", headers={"Authorization": f"Bearer {reader}"})).json()
    assert shown["status"] == "reevaluation" and shown["candidates"] == []
    assert [(w["round"], w["objection_id"], w["reasons"]) for w in shown["withdrawals"]] == [(1, objection.id, REASONS)]
    assert [c["rank"] for c in shown["withdrawals"][0]["candidates"]] == [1, 2, 3]
    with travel(by=timedelta(seconds=1)):
        again = await client.post(reply, json={"reply": "Upheld.", "outcome": "upheld_evaluation",
                                               "reasons": REASONS}, headers=headers)
    assert again.status_code == 409 and "has ended" in again.json()["detail"]

"""Permission-walk entries of this trading concern (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored. The actor's own
party plays the part the use case needs (tenderer, agency, the winning bidder), so an
allowed role passes the finer checks too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from tests.trading.award_factories import (
    EvaluatedLot,
    after_publicity,
    blob_store,
    confirm_first,
    demo_seal,
    evaluated_lot,
    platform_signer,
    sign_file,
    tenderer_signer,
    to_publicity,
    upload_contract,
    winner_signer,
)
from trading import archive, award, award_notice, contracts
from trading.award_schemas import (
    ObjectionReplyIn,
    PublicityObjectionIn,
    WinnerConfirmation,
)
from trading.states import LotStatus

BLOBS = blob_store()


async def _lot(session: AsyncSession, actor: Actor) -> EvaluatedLot:
    return await evaluated_lot(session, BLOBS, acting=actor)


async def _in_publicity(session: AsyncSession, actor: Actor) -> tuple[EvaluatedLot, Any]:
    lot = await _lot(session, actor)
    return lot, await to_publicity(session, lot)


async def _awarded(session: AsyncSession, actor: Actor, *, contract: bool = False) -> EvaluatedLot:
    lot, row = await _in_publicity(session, actor)
    with after_publicity(row):
        await confirm_first(session, lot, BLOBS)
    if contract:
        await upload_contract(session, lot, BLOBS, Path(tempfile.mkdtemp(prefix="walk-contract-")))
    return lot


async def _record(session: AsyncSession, actor: Actor) -> Any:
    lot = await _lot(session, actor)
    return await award.record_candidates(session, actor, lot.lot_id, lot.candidates())


async def _publish(session: AsyncSession, actor: Actor) -> Any:
    lot = await _lot(session, actor)
    await award.record_candidates(session, lot.staff, lot.lot_id, lot.candidates())
    return await award.publish_candidate_publicity(session, actor, lot.lot_id)


async def _object(session: AsyncSession, actor: Actor) -> Any:
    lot, _ = await _in_publicity(session, actor)
    return await award.raise_publicity_objection(session, actor, lot.lot_id, PublicityObjectionIn(text="walk"))


async def _reply(session: AsyncSession, actor: Actor) -> Any:
    lot, _ = await _in_publicity(session, actor)
    objection = await award.raise_publicity_objection(session, lot.bidders[1].actor, lot.lot_id,
                                                      PublicityObjectionIn(text="walk"))
    return await award.reply_publicity_objection(session, actor, objection.id, ObjectionReplyIn(reply="ok"))  # type: ignore[arg-type]


async def _confirm(session: AsyncSession, actor: Actor) -> Any:
    lot, row = await _in_publicity(session, actor)
    with after_publicity(row):
        return await award_notice.confirm_winner(session, actor, lot.lot_id,
                                                 WinnerConfirmation(bid_id=lot.bids[0].id),  # type: ignore[arg-type]
                                                 blobs=BLOBS, seal=demo_seal())


async def _get(session: AsyncSession, actor: Actor) -> Any:
    lot, _ = await _in_publicity(session, actor)
    return await award.get_award(session, actor, lot.lot_id)


async def _verify(session: AsyncSession, actor: Actor) -> Any:
    lot = await _awarded(session, actor)
    return await award_notice.verify_award_notice(session, actor, lot.lot_id, blobs=BLOBS,
                                                  revocation=lot.ca.revocation)


async def _read_notice(session: AsyncSession, actor: Actor) -> Any:
    lot = await _awarded(session, actor)
    return await award_notice.award_notice_file(session, actor, lot.lot_id, "document")


async def _upload(session: AsyncSession, actor: Actor) -> Any:
    lot = await _awarded(session, actor)
    path = Path(tempfile.mkdtemp(prefix="walk-contract-")) / "contract.pdf"
    path.write_bytes(b"%PDF-1.7 contract")
    return await contracts.upload_contract(session, actor, lot.lot_id, source=path, media_type=contracts.PDF,
                                           blobs=BLOBS, max_bytes=1 << 20)


async def _sign(session: AsyncSession, actor: Actor) -> Any:
    lot = await _awarded(session, actor, contract=True)
    signer = await tenderer_signer(session, lot) if actor.has_any({Role.TENDERER}) else winner_signer(lot)
    award_row = await award.award_of(session, lot.made.lot)
    signature = sign_file(BLOBS.path_for(award_row.contract_sha256), signer)  # type: ignore[arg-type]
    return await contracts.sign_contract(session, actor, lot.lot_id, signature, blobs=BLOBS,
                                         revocation=lot.ca.revocation)


async def _read_contract(session: AsyncSession, actor: Actor) -> Any:
    lot = await _awarded(session, actor, contract=True)
    return await contracts.contract_file(session, actor, lot.lot_id)


async def _failed_project(session: AsyncSession, actor: Actor) -> EvaluatedLot:
    lot = await _lot(session, actor)
    lot.made.lot.status = LotStatus.FAILED
    session.add(lot.made.lot)
    return lot


async def _make_archive(session: AsyncSession, actor: Actor) -> Any:
    lot = await _failed_project(session, actor)
    return await archive.make_archive(session, actor, lot.made.project.id, blobs=BLOBS, signer=platform_signer())  # type: ignore[arg-type]


async def _read_archive(session: AsyncSession, actor: Actor) -> Any:
    lot = await _failed_project(session, actor)
    await archive.make_archive(session, lot.staff, lot.made.project.id, blobs=BLOBS, signer=platform_signer())  # type: ignore[arg-type]
    return await archive.get_archive(session, actor, lot.made.project.id)  # type: ignore[arg-type]


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "trading.record_candidates": _record,
    "trading.publish_candidate_publicity": _publish,
    "trading.raise_publicity_objection": _object,
    "trading.reply_publicity_objection": _reply,
    "trading.confirm_winner": _confirm,
    "trading.get_award": _get,
    "trading.verify_award_notice": _verify,
    "trading.read_award_notice": _read_notice,
    "trading.upload_contract": _upload,
    "trading.sign_contract": _sign,
    "trading.read_contract": _read_contract,
    "trading.make_archive": _make_archive,
    "trading.read_archive": _read_archive,
}

"""Permission-walk entries of the opening (merged by tests/identities/test_permissions.py).

Each entry calls the use case with real arguments as the given actor; allowed roles must
succeed, others are refused by the role check before anything is stored. The scene is
built around the actor: a bidder walking gets a bid of its own, centre staff hosts the
opening, a tenderer or agency is the project's own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor, Role
from core.blobs import BlobStore
from core.clock import travel, utcnow
from identities.models import Party, User
from tests.factories import actor_of, make_user
from tests.trading.factories import Bidder, make_bidder, open_lot, trusted_ca
from tests.trading.opening_factories import (
    OpeningScene,
    custodian_handover,
    seal_bid,
    signed_record,
)
from trading import opening, opening_decryption, opening_record
from trading.opening_schemas import (
    ObjectionAnswer,
    ObjectionText,
    OpeningStart,
    QuorumDecision,
    WindowClose,
)

_WORK = Path(tempfile.mkdtemp(prefix="bidhall-walk-opening-"))
BLOBS = BlobStore(_WORK / "blobs")


@dataclass
class Walk:
    scene: OpeningScene
    host: Actor
    own: Bidder | None  # the walking actor as a bidder, when it is one


async def _bidder_of(session: AsyncSession, scene_ca: Any, actor: Actor) -> Bidder:
    user, party = await session.get(User, actor.user_id), await session.get(Party, actor.party_id)
    assert user is not None and party is not None
    from ca_interop.demo_pki import Usage

    signing = scene_ca.ca.issue(party.name, usage=Usage.SIGNING, uscc=party.uscc, organization=party.name)
    encryption = scene_ca.ca.issue(party.name, usage=Usage.ENCRYPTION, uscc=party.uscc, organization=party.name)
    return Bidder(user=user, party=party, actor=actor, signing=signing, encryption=encryption)


async def _walk(session: AsyncSession, actor: Actor, *, bidders: int = 3, start: bool = True,
                open_all: bool = False, fallback: bool = False) -> Walk:
    tender = await open_lot(session, deadline=utcnow() - timedelta(minutes=1))
    if Role.TENDERER in actor.roles:
        tender.project.tenderer_party_id = actor.party_id  # type: ignore[assignment]
    elif Role.AGENCY in actor.roles:
        tender.project.agency_party_id = actor.party_id
    session.add(tender.project)
    ca = await trusted_ca(session)
    host = actor if Role.CENTER_STAFF in actor.roles else actor_of(await make_user(session, Role.CENTER_STAFF))
    scene = OpeningScene(tender=tender, ca=ca, host=host)
    own = await _bidder_of(session, ca, actor) if Role.BIDDER in actor.roles else None
    directory = _WORK / f"bids-{utcnow().timestamp()}"
    for index in range(bidders):
        bidder = own if (own is not None and index == 0) else await make_bidder(session, ca)
        scene.bids.append(await seal_bid(session, BLOBS, tender, bidder, directory))
    if start:
        await opening.start_opening(session, host, scene.lot_id, OpeningStart())
    if open_all:
        for sealed in scene.bids:
            await opening_decryption.hand_over_content_key(session, sealed.bidder.actor, scene.lot_id,
                                                           sealed.handover(), blobs=BLOBS)
    if fallback:
        with travel(by=timedelta(minutes=31)):
            await opening.close_decryption_window(session, host, scene.lot_id, WindowClose())
    return Walk(scene, host, own)


async def _start(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, start=False)
    return await opening.start_opening(session, actor, walk.scene.lot_id, OpeningStart())


async def _decide(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, bidders=2)
    return await opening.decide_quorum(session, actor, walk.scene.lot_id,
                                       QuorumDecision(decision="fail", reason="two bids only"))


async def _close(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    with travel(by=timedelta(minutes=31)):
        return await opening.close_decryption_window(session, actor, walk.scene.lot_id,
                                                     WindowClose(use_fallback=False))


async def _publish(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, open_all=True)
    return await opening.publish_opening_record(session, actor, walk.scene.lot_id, blobs=BLOBS)


async def _get(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    return await opening.get_opening(session, actor, walk.scene.lot_id)


async def _follow(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, start=False)
    return await opening_record.follow_opening(session, actor, walk.scene.lot_id)


async def _record(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, open_all=True)
    return await opening_record.read_opening_record(session, actor, walk.scene.lot_id)


async def _object(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    return await opening_record.object_at_opening(session, actor, walk.scene.lot_id, ObjectionText(text="objection"))


async def _answer(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    bidder = walk.scene.bids[-1].bidder
    objection = await opening_record.object_at_opening(session, bidder.actor, walk.scene.lot_id,
                                                       ObjectionText(text="objection"))
    return await opening_record.answer_opening_objection(session, actor, walk.scene.lot_id, objection.id,  # type: ignore[arg-type]
                                                         ObjectionAnswer(reply="answered"))


async def _confirm(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, open_all=True)
    signer = walk.own or walk.scene.bids[0].bidder
    record = await opening_record.read_opening_record(session, walk.host, walk.scene.lot_id)
    return await opening_record.confirm_opening_record(session, actor, walk.scene.lot_id,
                                                       signed_record(signer, record, walk.scene.ca),
                                                       revocation=walk.scene.ca.revocation)


async def _hand_over_key(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    return await opening_decryption.hand_over_content_key(session, actor, walk.scene.lot_id,
                                                          walk.scene.bids[0].handover(), blobs=BLOBS)


async def _envelope_head(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor)
    return await opening_decryption.read_envelope_head(session, actor, walk.scene.lot_id,
                                                       walk.scene.bids[0].bid.id, blobs=BLOBS)  # type: ignore[arg-type]


async def _share(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, fallback=True)
    return await opening_decryption.hand_over_key_share(session, actor, walk.scene.lot_id,
                                                        custodian_handover(walk.scene.tender, 0), blobs=BLOBS)


async def _key_record(session: AsyncSession, actor: Actor) -> Any:
    walk = await _walk(session, actor, start=False)
    return await opening_decryption.read_opening_key_record(session, actor, walk.scene.lot_id)


CALLS: dict[str, Callable[[AsyncSession, Actor], Awaitable[Any]]] = {
    "trading.start_opening": _start,
    "trading.decide_opening_quorum": _decide,
    "trading.close_decryption_window": _close,
    "trading.publish_opening_record": _publish,
    "trading.get_opening": _get,
    "trading.follow_opening": _follow,
    "trading.read_opening_record": _record,
    "trading.object_at_opening": _object,
    "trading.answer_opening_objection": _answer,
    "trading.confirm_opening_record": _confirm,
    "trading.hand_over_content_key": _hand_over_key,
    "trading.read_envelope_head": _envelope_head,
    "trading.hand_over_key_share": _share,
    "trading.read_opening_key_record": _key_record,
}

"""Publishing signed tree heads, serving them, and checking a head someone presents.

Heads are published on a schedule (``supervision.publish_tree_head`` in
``supervision.tasks``) and on demand (``POST /ledger/heads`` by an administrator, auditor
or regulator). Publishing is not a ledger entry: a head is a statement *about* the ledger,
not a change of any domain's state, and recording it would grow the very tree it signs (so
every scheduled publication would need yet another head). Who asked, when and why is kept
on the published head itself (``requested_by``, ``trigger``, ``published_at``).

A presented head is accepted when the platform key signed it and it belongs to this
ledger: its size is within the ledger and its root is the ledger's root at that size;
the answer carries the consistency proof from it to the current head, so the presenter
can check the rest offline (``supervision.head_check``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import PlatformSigner
from core.actors import Actor, Role
from core.clock import rfc3339, utcnow
from core.errors import NotFound
from core.usecases import use_case
from supervision.head_check import HeadRefused, check_signature, parse_head
from supervision.heads_models import PublishedHead
from supervision.ledger import tree
from supervision.ledger.heads import current_head, head_document
from supervision.ledger.models import LedgerTreeHead, LedgerTreeState

PUBLISHERS = frozenset({Role.ADMIN, Role.AUDITOR, Role.REGULATOR})
MAX_PAGE = 200


def published_document(published: PublishedHead, head: LedgerTreeHead) -> dict[str, Any]:
    return {**head_document(head), "published_at": rfc3339(published.published_at), "trigger": published.trigger}


@use_case("supervision.publish_tree_head", PUBLISHERS)
async def publish_head(session: AsyncSession, actor: Actor, signer: PlatformSigner, *,
                       trigger: str = "demand") -> dict[str, Any]:
    """Publish a head over every committed entry (the one already published if the ledger
    has not grown since)."""
    state = LedgerTreeState.__table__
    # Publishers take turns on the tree-state row, so two of them never publish one size twice.
    await session.execute(sa.update(state).where(state.c.id == 1).values(built_size=state.c.built_size))
    head = await current_head(session, signer)
    existing = await session.scalar(sa.select(PublishedHead).where(PublishedHead.tree_size == head.tree_size))
    if existing is not None:
        stored = await session.get(LedgerTreeHead, existing.head_id)
        return published_document(existing, stored)  # type: ignore[arg-type]
    published = PublishedHead(tree_size=head.tree_size, head_id=head.id, published_at=utcnow(),  # type: ignore[arg-type]
                              trigger=trigger, requested_by=actor.user_id)
    session.add(published)
    await session.flush()
    return published_document(published, head)


async def list_published(session: AsyncSession, *, since: datetime | None = None, after_size: int = -1,
                         limit: int = 50) -> dict[str, Any]:
    """Published heads by growing size, from ``since`` (publication time) on; paged by size."""
    query = (sa.select(PublishedHead, LedgerTreeHead).join(LedgerTreeHead, LedgerTreeHead.id == PublishedHead.head_id)
             .where(PublishedHead.tree_size > after_size).order_by(PublishedHead.tree_size).limit(limit + 1))
    if since is not None:
        query = query.where(PublishedHead.published_at >= since)
    rows = (await session.execute(query)).all()
    heads = [published_document(published, head) for published, head in rows[:limit]]
    return {"heads": heads, "next_after_size": heads[-1]["tree_size"] if len(rows) > limit else None}


async def published_at_size(session: AsyncSession, size: int) -> dict[str, Any]:
    row = (await session.execute(
        sa.select(PublishedHead, LedgerTreeHead).join(LedgerTreeHead, LedgerTreeHead.id == PublishedHead.head_id)
        .where(PublishedHead.tree_size == size))).one_or_none()
    if row is None:
        sizes = (await session.scalars(sa.select(PublishedHead.tree_size).order_by(
            sa.func.abs(PublishedHead.tree_size - size)).limit(2))).all()
        nearest = f"; the nearest published sizes are {', '.join(map(str, sorted(sizes)))}" if sizes else ""
        raise NotFound(f"no head of size {size} was published{nearest}")
    return published_document(*row)


async def check_presented(session: AsyncSession, signer: PlatformSigner, document: Any) -> dict[str, Any]:
    """Accept a head signed by the platform whose root is this ledger's root at its size;
    refused otherwise (:class:`HeadRefused` names the reason)."""
    head = parse_head(document)
    if document.get("key_id") != signer.key_id:
        raise HeadRefused("wrong-key", f"the head names key {str(document.get('key_id'))[:64]}, "
                                       f"not the platform key {signer.key_id}", "$.key_id")
    check_signature(head, signer.public_key_pem)
    size = await tree.ledger_size(session)
    if head.tree_size > size:
        raise HeadRefused("unknown-size", f"the head covers {head.tree_size} entries but this ledger holds only "
                                          f"{size}: it is stale (from a ledger since rolled back or another "
                                          "installation) or made up", "$.tree_size")
    if head.tree_size == 0:
        raise HeadRefused("unknown-size", "a head over the empty ledger commits to nothing", "$.tree_size")
    root = await tree.tree_root(session, head.tree_size)
    if root != head.root_hash:
        raise HeadRefused("wrong-root", f"the ledger's root at size {head.tree_size} is {root.hex()}, not the "
                                        f"head's {head.root_hash.hex()}: the head is forged", "$.root_hash")
    current = head_document(await current_head(session, signer))
    proof = [node.hex() for node in await tree.consistency_proof(session, head.tree_size, current["tree_size"])]
    published = await session.scalar(sa.select(PublishedHead.id).where(PublishedHead.tree_size == head.tree_size))
    return {"ok": True, "tree_size": head.tree_size, "published": published is not None, "current_head": current,
            "consistency": {"first": head.tree_size, "second": current["tree_size"],
                            "first_root": head.root_hash.hex(), "second_root": current["root_hash"],
                            "proof": proof}}

"""Signed tree heads: the platform's signed statement of the ledger's size and root."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import PlatformSigner, verify_signature
from core.clock import rfc3339, utcnow
from supervision.ledger.canonical import canonical_bytes
from supervision.ledger.models import LedgerTreeHead
from supervision.ledger.tree import build_tree, ledger_size, tree_root


def signed_fields(tree_size: int, root_hash: bytes, timestamp: str, key_id: str) -> dict[str, Any]:
    """The four fields a head signature covers, as their canonical JSON object."""
    return {"tree_size": tree_size, "root_hash": root_hash.hex(), "timestamp": timestamp, "key_id": key_id}


async def sign_head(session: AsyncSession, signer: PlatformSigner) -> LedgerTreeHead:
    """Build the tree to the current size and sign a new head over it."""
    size = await ledger_size(session)
    await build_tree(session, size)
    root = await tree_root(session, size)
    now = utcnow()
    message = canonical_bytes(signed_fields(size, root, rfc3339(now), signer.key_id))
    head = LedgerTreeHead(
        tree_size=size,
        root_hash=root,
        timestamp=now,
        key_id=signer.key_id,
        algorithm=signer.algorithm,
        public_key_pem=signer.public_key_pem,
        signature=signer.sign(message),
    )
    session.add(head)
    await session.flush()
    return head


async def latest_head(session: AsyncSession) -> LedgerTreeHead | None:
    query = sa.select(LedgerTreeHead).order_by(LedgerTreeHead.tree_size.desc(), LedgerTreeHead.id.desc()).limit(1)
    return await session.scalar(query)


async def current_head(session: AsyncSession, signer: PlatformSigner) -> LedgerTreeHead:
    """The latest head if it covers every entry, otherwise a freshly signed one."""
    head = await latest_head(session)
    if head is not None and head.tree_size == await ledger_size(session):
        return head
    return await sign_head(session, signer)


def head_document(head: LedgerTreeHead) -> dict[str, Any]:
    """The published form: the signed fields, the signature and the key to check it."""
    fields = signed_fields(head.tree_size, head.root_hash, rfc3339(head.timestamp), head.key_id)
    return {
        **fields,
        "signature": base64.b64encode(head.signature).decode("ascii"),
        "public_key": head.public_key_pem,
    }


def head_signature_valid(head: LedgerTreeHead) -> bool:
    fields = signed_fields(head.tree_size, head.root_hash, rfc3339(head.timestamp), head.key_id)
    return verify_signature(head.public_key_pem, canonical_bytes(fields), head.signature)

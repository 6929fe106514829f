"""The ledger as published documents: heads, entries, proofs and the verify report.

The same JSON is printed by ``bidhall ledger ...`` and served over HTTP, so anybody can
check it with any RFC 6962 / RFC 9162 verifier.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ca_interop.platform_keys import PlatformSigner
from core.actors import Actor, Role
from core.errors import InvalidInput, NotFound
from core.usecases import use_case
from supervision.ledger import tree
from supervision.ledger.heads import current_head, head_document
from supervision.ledger.models import LedgerEntry
from supervision.ledger.verify import verify_ledger
from supervision.replay_access import (
    Refusal,
    is_sealed,
    record_sealed_read,
    refuse_outside_jurisdiction,
)


async def head(session: AsyncSession, signer: PlatformSigner) -> dict[str, Any]:
    return head_document(await current_head(session, signer))


@use_case("supervision.read_ledger_entry", {Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
async def read_entry(session: AsyncSession, actor: Actor, index: int) -> dict[str, Any] | Refusal:
    """Entries name people and organisations, so reading them is for oversight roles;
    heads and proofs are public. A regulator reads only the entries of streams it oversees
    (a refusal is recorded, then refused after commit) and its reads of sealed streams are
    recorded, as with replay (``supervision.replay_access``)."""
    found = await entry(session, index)
    stream = found["entry"]["stream"]
    refusal = await refuse_outside_jurisdiction(session, actor, stream, {"entry": index})
    if refusal is not None:
        return refusal
    await record_sealed_read(session, actor, stream, await is_sealed(session, stream), "entry", {"entry": index})
    return found


async def entry(session: AsyncSession, index: int) -> dict[str, Any]:
    row = await session.get(LedgerEntry, index) if index >= 0 else None
    if row is None:
        size = await tree.ledger_size(session)
        raise NotFound(f"entry {index} does not exist; the ledger holds entries 0 to {size - 1}")
    leaf = bytes(row.leaf)
    return {"index": index, "leaf": base64.b64encode(leaf).decode("ascii"), "entry": json.loads(leaf)}


async def prove(session: AsyncSession, index: int, size: int | None = None) -> dict[str, Any]:
    current, built = await tree.ledger_sizes(session)
    size = current if size is None else size
    if not 0 < size <= current:
        raise InvalidInput(f"tree size {size} is out of range: the ledger holds {current} entries")
    if not 0 <= index < size:
        raise InvalidInput(f"entry {index} is not in a tree of size {size}")
    leaf_hash, path, root = await tree.inclusion_proof_with_root(session, index, size, built)
    return {
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": leaf_hash.hex(),
        "audit_path": [node.hex() for node in path],
        "root_hash": root.hex(),
    }


async def consistency(session: AsyncSession, first: int, second: int) -> dict[str, Any]:
    current = await tree.ledger_size(session)
    if not 0 < first <= second <= current:
        raise InvalidInput(f"sizes must satisfy 0 < first <= second <= {current}; got {first} and {second}")
    proof = await tree.consistency_proof(session, first, second)
    return {
        "first": first,
        "second": second,
        "first_root": (await tree.tree_root(session, first)).hex(),
        "second_root": (await tree.tree_root(session, second)).hex(),
        "proof": [node.hex() for node in proof],
    }


async def verify(session: AsyncSession) -> dict[str, Any]:
    return dataclasses.asdict(await verify_ledger(session))

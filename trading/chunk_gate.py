"""Letting the next chunk of an upload through without reading the database again.

Every chunk must come from the upload's owner, for a lot still taking bids, at the offset
the server has recorded. Reading that (token, user, upload, lot) for each of a gigabyte's
hundred and twenty-eight chunks cost a transaction apiece. A *pass* keeps what the last
check in this process found; the next chunk with the same token, at the offset this process
recorded, while the spool file still ends there, uses it for up to :data:`PASS_SECONDS`.
The bid deadline is compared with the clock for every chunk all the same.

What a pass may miss for up to :data:`PASS_SECONDS`: a token revoked or an account
deactivated, a lot suspended or cancelled. Nothing is lost by that: an upload is transport,
and submitting it as a bid checks all of these again in the database. Another process
taking a chunk changes the spool file's length, which voids the pass here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trading.uploads import ChunkTarget

PASS_SECONDS = 1.0
PASSES_KEPT = 4096


@dataclass(frozen=True)
class ChunkPass:
    credential: str  # a digest of the bearer token the check was made with
    target: ChunkTarget  # at the offset the next chunk must start from
    checked_at: float  # time.monotonic() of the database check


_passes: OrderedDict[str, ChunkPass] = OrderedDict()


def admitted(upload_id: str, credential: str, offset: int, spooled: int) -> ChunkTarget | None:
    """The target of a chunk at ``offset`` if a pass still covers it, else None (check in
    the database). Raises if the lot's bid deadline has passed."""
    from trading.uploads import check_lot_accepts_bids

    chunk_pass = _passes.get(upload_id)
    if (chunk_pass is None or chunk_pass.credential != credential
            or time.monotonic() - chunk_pass.checked_at > PASS_SECONDS
            or not offset == spooled == chunk_pass.target.offset):
        return None
    check_lot_accepts_bids(chunk_pass.target.lot)
    return chunk_pass.target


def issue(upload_id: str, credential: str, target: ChunkTarget) -> None:
    """Remember a check just made in the database (owner, lot, offset)."""
    _passes[upload_id] = ChunkPass(credential, target, time.monotonic())
    _passes.move_to_end(upload_id)
    while len(_passes) > PASSES_KEPT:
        _passes.popitem(last=False)


def advance(upload_id: str, received: int, *, complete: bool) -> None:
    """The chunk was recorded: the next one starts at ``received`` (none after the last)."""
    chunk_pass = _passes.get(upload_id)
    if complete or chunk_pass is None:
        _passes.pop(upload_id, None)
        return
    _passes[upload_id] = replace(chunk_pass, target=replace(chunk_pass.target, offset=received))


def expected_offset(upload_id: str) -> int | None:
    """Where this process expects the upload's next chunk, if it has a pass for it."""
    chunk_pass = _passes.get(upload_id)
    return chunk_pass.target.offset if chunk_pass else None


def void(upload_id: str) -> None:
    """Forget the pass: the chunk failed, or the upload is gone."""
    _passes.pop(upload_id, None)

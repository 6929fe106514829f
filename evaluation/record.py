"""Recording a session step: one ledger entry on the session's stream (the ledger wakes the
live channel's followers once the transaction commits).

Every entry of a session's stream is recorded here, with the session's row locked: the
writers of one stream never interleave, which the live channel relies on to hand a
message's entries to its followers without reading them back (``channel.act``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from evaluation.context import RECORDED, hold_session_lock
from evaluation.events import session_stream
from supervision.ledger.append import AppendedEntry, append


async def record(session: AsyncSession, actor: Actor | None, session_id: int, event_type: str,
                 payload: dict[str, Any]) -> AppendedEntry:
    """Append ``event_type`` to ``evaluation:<session_id>``.

    The payload names the acting member (``member_id``) when the step is one member's
    work, and the bid (``bid_id``) and party (``party_id``) it concerns, so that
    ``evaluation.views`` can decide what each viewer may see of it.
    """
    await hold_session_lock(session, session_id)  # a no-op under the channel, which locked it first
    appended = await append(session, stream=session_stream(session_id), event_type=event_type, actor=actor,
                            payload={"session_id": session_id, **payload})
    recorded = session.info.get(RECORDED)
    if recorded is not None:  # a channel message is watching what it records (evaluation.context)
        recorded.append((session_id, appended))
    return appended

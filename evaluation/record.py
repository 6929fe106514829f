"""Recording a session step: one ledger entry on the session's stream (the ledger wakes the
live channel's followers once the transaction commits)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from evaluation.events import session_stream
from supervision.ledger.append import AppendedEntry, append


async def record(session: AsyncSession, actor: Actor | None, session_id: int, event_type: str,
                 payload: dict[str, Any]) -> AppendedEntry:
    """Append ``event_type`` to ``evaluation:<session_id>``.

    The payload names the acting member (``member_id``) when the step is one member's
    work, and the bid (``bid_id``) and party (``party_id``) it concerns, so that
    ``evaluation.views`` can decide what each viewer may see of it.
    """
    return await append(session, stream=session_stream(session_id), event_type=event_type, actor=actor,
                        payload={"session_id": session_id, **payload})

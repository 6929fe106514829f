"""Recording a session step: one ledger entry on the session's stream, announced to the
live channel's followers once the transaction commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actors import Actor
from core.database import after_commit
from evaluation.events import session_stream
from supervision import live
from supervision.ledger.append import AppendedEntry, append

_ANNOUNCED_KEY = "evaluation_announced_streams"


async def record(session: AsyncSession, actor: Actor | None, session_id: int, event_type: str,
                 payload: dict[str, Any]) -> AppendedEntry:
    """Append ``event_type`` to ``evaluation:<session_id>``; followers wake after commit.

    The payload names the acting member (``member_id``) when the step is one member's
    work, and the bid (``bid_id``) and party (``party_id``) it concerns, so that
    ``evaluation.views`` can decide what each viewer may see of it.
    """
    stream = session_stream(session_id)
    entry = await append(session, stream=stream, event_type=event_type, actor=actor,
                         payload={"session_id": session_id, **payload})
    announced: set[str] = session.info.setdefault(_ANNOUNCED_KEY, set())
    if stream not in announced:  # one wake-up (and one NOTIFY) per stream and transaction
        announced.add(stream)
        await live.announce(session, stream)

        async def forget() -> None:
            session.info.pop(_ANNOUNCED_KEY, None)

        after_commit(session, forget)
    return entry

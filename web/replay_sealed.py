"""Which domain streams are sealed while they run, for the records of regulators' reads.

Supervision knows no domain, so the composition root installs these predicates
(``supervision.replay_access.register_sealed``):

- ``draw:<id>``: sealed until the draw is revealed. Before that, who was called is secret
  (a committee must not be known before it sits); a draw refilled after a recusal is
  sealed again until its new reveal.
- ``evaluation:<session_id>``: sealed until the session is finished: marks, scores and
  votes are the committee's until its report is signed. A suspended session is not
  finished (it is re-formed and goes on), so it stays sealed.

Every other stream is public to oversight as soon as it is written.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import EvaluationSession
from evaluation.states import Stage
from expert_pool.models import Draw
from supervision.replay_access import register_sealed


def _row_id(stream: str) -> int | None:
    ident = stream.partition(":")[2]
    return int(ident) if ident.isdigit() and len(ident) <= 18 else None


async def draw_sealed(session: AsyncSession, stream: str) -> bool:
    row_id = _row_id(stream)
    draw = await session.get(Draw, row_id) if row_id is not None else None
    return draw is not None and draw.status != "revealed"


async def evaluation_sealed(session: AsyncSession, stream: str) -> bool:
    row_id = _row_id(stream)
    evaluation = await session.get(EvaluationSession, row_id) if row_id is not None else None
    return evaluation is not None and evaluation.stage != Stage.FINISHED


def install() -> None:
    """Register the sealed predicates of the draw and evaluation streams."""
    register_sealed("draw", draw_sealed)
    register_sealed("evaluation", evaluation_sealed)

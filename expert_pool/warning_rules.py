"""Early-warning rules over the expert pool data (registered with ``supervision.warnings`` on import).

Defaults of the parameters are in ``data/warning_rules.json``; ``docs/warning-rules.md``
documents each rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from expert_pool.models import DrawCall, Expert
from supervision.scopes import Scope
from supervision.warnings.rules import (
    Finding,
    Subject,
    Window,
    load_defaults,
    warning_rule,
)

DEFAULTS = load_defaults("expert_pool")


@warning_rule("expert_pool.repeated_declining", "An expert repeatedly declining", DEFAULTS)
async def repeated_declining(session: AsyncSession, window: Window) -> list[Finding]:
    """An expert who answered at least ``min_declines`` calls within ``lookback_days`` with
    one of ``answers`` (declined, no answer), one of them in the window. Declining is a
    right, but an expert who always declines may be avoiding some tenders or picking
    others. The warning goes to the regulators of the expert's region (no segment).
    Evidence: the expert and each declined call with its draw and time."""
    answers = list(window.parameters["answers"])
    since = window.since - timedelta(days=window.integer("lookback_days"))
    answered = sa.func.coalesce(DrawCall.answered_at, DrawCall.called_at)
    rows = (await session.execute(
        sa.select(DrawCall, answered).where(DrawCall.answer.in_(answers), answered >= since,  # type: ignore[union-attr]
                                            answered <= window.until).order_by(DrawCall.id))).all()
    calls: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for call, _ in rows:
        calls[call.expert_id].append({"draw_id": call.draw_id, "position": call.position, "answer": call.answer,
                                      "called_at": call.called_at, "answered_at": call.answered_at})
    findings = []
    for expert_id, declined in sorted(calls.items()):
        recent = [c for c in declined if (c["answered_at"] or c["called_at"]) >= window.since]
        if len(declined) < window.integer("min_declines") or not recent:
            continue
        expert = await session.get(Expert, expert_id)
        if expert is None:
            continue
        findings.append(Finding(
            Subject("expert", f"expert:{expert_id}"),
            f"expert {expert.code} declined {len(declined)} calls", {
                "expert_id": expert_id, "expert_code": expert.code, "expert_name": expert.name,
                "lookback_days": window.integer("lookback_days"), "calls": declined},
            Scope(region_code=expert.region_code, segment=None)))
    return findings

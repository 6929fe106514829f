"""``bidhall demo``: the platform's story so far, run end to end against the configured database.

First a construction tender from the notice to the published opening record, with five
bidders using the bidder client (``web.demo_tender_run``). Then centre staff draw the
lot's evaluation committee from the demo pool, avoiding the five bidders: the simulator
calls the experts in the seed's order (the first one declines, so a replacement is
drawn), the regulator reveals the draw and anyone can verify it from the ledger. What it
made is written under the output folder, with ``summary.json`` naming every id.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import parse_rfc3339, rfc3339, travel, utcnow
from expert_pool import draws, notifications
from expert_pool.models import Draw, DrawCall, ExpertSpecialty
from expert_pool.notify.simulator import SimulatedProvider
from expert_pool.schemas import DrawRequest
from identities.models import Party
from web.demo import DEMO_PARTIES, demo_actor
from web.demo_tender_run import run_tender_demo
from web.runtime import Runtime

VENUE = "Fuzhou Public Resource Trading Center, evaluation room 2"


class FirstDeclines:
    """The simulator's behaviour for the demo: the first expert called declines."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, phone: str) -> str:
        self.seen.append(phone)
        return "decline" if len(self.seen) == 1 else "accept"


async def run_demo(runtime: Runtime, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    tender = await run_tender_demo(runtime, out)
    # The committee is drawn after the opening, on the demo's moved clock.
    with travel(parse_rfc3339(tender["opening"]["published_at"]) + timedelta(minutes=5)):
        summary = await _draw_committee(runtime, tender["lot_code"])
    summary = {"made_at": rfc3339(utcnow()), "project": tender["project"], "lot": tender["lot"],
               "lot_code": tender["lot_code"], "bids": tender["bids"], "opening": tender["opening"],
               "session": None, **summary}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


async def _draw_committee(runtime: Runtime, lot_code: str) -> dict[str, Any]:
    database = runtime.database
    async with database.transaction() as session:
        staff, regulator = await demo_actor(session, "staff"), await demo_actor(session, "regulator")
        avoid = [p.uscc for p in await session.scalars(sa.select(Party).where(Party.uscc.in_(
            [uscc for _, uscc, _ in DEMO_PARTIES.values()])))]
        quotas = await _committee_quotas(session)
        draw = await draws.request_draw(session, staff, DrawRequest(
            lot_reference=lot_code, evaluation_at=utcnow() + timedelta(days=1), venue=VENUE,
            region_rule="remote_pool", quotas=quotas, avoid_parties=avoid))
    await _notify_until_done(runtime, draw.id, SimulatedProvider(behaviour=FirstDeclines(),  # type: ignore[arg-type]
                                                                 callback_token="demo-simulator-token-0001"))
    async with database.transaction() as session:
        await draws.reveal_draw(session, regulator, draw.id)  # type: ignore[arg-type]
    async with database.reader() as session:
        verification = await draws.verify_from_ledger(session, draw.id)  # type: ignore[arg-type]
        finished = await session.get(Draw, draw.id)
        calls = list(await session.scalars(sa.select(DrawCall).where(DrawCall.draw_id == draw.id)
                                           .order_by(DrawCall.position)))
    return {
        "draw": {"id": draw.id, "lot_reference": lot_code, "quotas": quotas, "status": finished.status,  # type: ignore[union-attr]
                 "seed_commitment": draw.seed_commitment, "snapshot_commitment": draw.snapshot_commitment},
        "calls": [{"position": c.position, "specialty": c.specialty, "answer": c.answer} for c in calls],
        "verification": verification.to_dict(),
        "verify_command": f"bidhall draw verify {draw.id}",
    }



async def _committee_quotas(session: AsyncSession) -> dict[str, int]:
    """Five experts, as construction requires at least: three and two of the two specialties
    (second level, e.g. A04) that the pool covers best."""
    prefix = sa.func.substr(ExpertSpecialty.code, 1, 3)
    rows = await session.execute(sa.select(prefix, sa.func.count()).group_by(prefix)
                                 .order_by(sa.func.count().desc(), prefix).limit(2))
    first, second = [code for code, _ in rows]
    return {first: 3, second: 2}


async def _notify_until_done(runtime: Runtime, draw_id: int, simulator: SimulatedProvider) -> None:
    """What the Celery worker does, run here in order so the demo needs no worker."""
    window = timedelta(seconds=runtime.settings.answer_window_seconds)
    for _ in range(100):
        async with runtime.database.transaction() as session:
            placed = await notifications.place_due_calls(session, draw_id)
            status = (await session.get(Draw, draw_id)).status  # type: ignore[union-attr]
        if status != "calling":
            return
        for call_id in placed:
            async with runtime.database.transaction() as session:
                invitation = await notifications.claim_invitation(session, call_id, window)
            if invitation is not None:
                await notifications.send(simulator, invitation)
        async with runtime.database.transaction() as session:
            await notifications.apply_events(session, simulator.events_due())
    raise RuntimeError(f"draw {draw_id} did not finish")

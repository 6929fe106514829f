"""``bidhall demo``: the platform's story so far, run end to end against the configured database.

One demo server serves the whole story (``web.demo_tender_run.demo_server``). First a
construction tender from the notice to the published opening record, with five bidders
using the bidder client (``web.demo_tender_run``). Then centre staff draw the lot's
evaluation committee from the demo pool, avoiding the five bidders: the simulator calls
the experts in the seed's order (the first one declines, so a replacement is drawn). The
names stay sealed while the committee works: the next day the five experts evaluate the
bids over the live channel and sign the report, and the candidates go through publicity
to the award (``web.demo_evaluation_run``). Only then does the regulator reveal the draw,
and anyone can verify it from the ledger. Last, the regulator's view: warnings (one
crafted pair of bidders), the project's timeline, a published tree head and the OCDS
export (``web.demo_supervision_run``). What it made is written under the output
folder, with ``summary.json`` naming every id and file.
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
from expert_pool.models import Draw, DrawCall, Expert, ExpertSpecialty
from expert_pool.notify.simulator import SimulatedProvider
from expert_pool.schemas import DrawRequest
from identities.models import Party
from web.demo import DEMO_PARTIES, demo_actor
from web.demo_evaluation_run import (
    MAIN_VENUE,
    MAIN_VENUE_REGION,
    SECONDARY_VENUE,
    SECONDARY_VENUE_REGION,
    run_award_demo,
    run_evaluation_demo,
)
from web.demo_supervision_run import run_supervision_demo
from web.demo_tender_run import demo_server, run_tender_demo
from web.runtime import Runtime


class FirstDeclines:
    """The simulator's behaviour for the demo: the first expert called declines."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, phone: str) -> str:
        self.seen.append(phone)
        return "decline" if len(self.seen) == 1 else "accept"


async def run_demo(runtime: Runtime, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    with demo_server(runtime.settings) as base_url:
        tender = await run_tender_demo(runtime, base_url, out)
        # The committee is drawn after the opening, on the demo's moved clock.
        with travel(parse_rfc3339(tender["opening"]["published_at"]) + timedelta(minutes=5)):
            drawn = await _draw_committee(runtime, tender["lot_code"])
        with travel(parse_rfc3339(drawn["draw"]["evaluation_at"])):
            session = await run_evaluation_demo(runtime, base_url, tender, drawn["draw"]["id"], out)
        with travel(parse_rfc3339(session["finished_at"]) + timedelta(minutes=30)):
            award = await run_award_demo(runtime, base_url, tender["lot"], out)
        # Names may be known once the winner is decided.
        with travel(parse_rfc3339(award["confirmed_at"]) + timedelta(minutes=10)):
            revealed = await _reveal_draw(runtime, drawn["draw"]["id"])
            supervision = await run_supervision_demo(runtime, base_url, tender, out)
    summary = {"made_at": rfc3339(utcnow()), "project": tender["project"], "lot": tender["lot"],
               "lot_code": tender["lot_code"], "bids": tender["bids"], "opening": tender["opening"],
               "session": session, "award": award, "draw": {**drawn["draw"], **revealed["draw"]},
               "calls": drawn["calls"], "verification": revealed["verification"],
               "verify_command": f"bidhall draw verify {drawn['draw']['id']}", "supervision": supervision,
               "files": {**_files(out, tender, session, award), **_regulator_files(supervision)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def _files(out: Path, tender: dict[str, Any], session: dict[str, Any], award: dict[str, Any]) -> dict[str, Any]:
    """Where the story's documents are: the folder, and each file relative to it."""
    return {"folder": str(out.resolve()), "summary": "summary.json", "opening_record": tender["opening"]["record"],
            "receipts": [bid["receipt"] for bid in tender["bids"]], "evaluation_report": session["report"],
            "signed_evaluation_report": session["signed_report"], "award_notice": award["notice"],
            "award_notice_seal": award["seal_signature"]}


def _regulator_files(supervision: dict[str, Any]) -> dict[str, str]:
    """The regulator's view under names of their own (its summary is not the story's)."""
    return {(name if name == "ocds" else f"supervision_{name}"): path for name, path in supervision["files"].items()}


# Enough experts of a specialty in each venue's region that a decline can be replaced.
MIN_EXPERTS_PER_VENUE_SPECIALTY = 6


async def _draw_committee(runtime: Runtime, lot_code: str) -> dict[str, Any]:
    """Staff request the draw for remote off-site evaluation: three experts from Fuzhou at the
    main venue, two from Xiamen at the secondary one; the simulator calls until all five
    have accepted."""
    async with runtime.database.transaction() as session:
        staff = await demo_actor(session, "staff")
        avoid = [p.uscc for p in await session.scalars(sa.select(Party).where(Party.uscc.in_(
            [uscc for _, uscc, _ in DEMO_PARTIES.values()])))]
        first, second = await _committee_specialties(session)
        quotas = {first: 3, second: 2}
        evaluation_at = utcnow() + timedelta(days=1)
        draw = await draws.request_draw(session, staff, DrawRequest.model_validate({
            "lot_reference": lot_code, "evaluation_at": evaluation_at, "region_rule": "venues", "avoid_parties": avoid,
            "main_venue": {"name": MAIN_VENUE, "region_code": MAIN_VENUE_REGION, "quotas": {first: 2, second: 1}},
            "secondary_venues": [{"name": SECONDARY_VENUE, "region_code": SECONDARY_VENUE_REGION,
                                  "quotas": {first: 1, second: 1}}]}))
    await _notify_until_done(runtime, draw.id, SimulatedProvider(behaviour=FirstDeclines(),  # type: ignore[arg-type]
                                                                 callback_token="demo-simulator-token-0001"))
    async with runtime.database.reader() as session:
        calls = list(await session.scalars(sa.select(DrawCall).where(DrawCall.draw_id == draw.id)
                                           .order_by(DrawCall.position)))
    return {
        "draw": {"id": draw.id, "lot_reference": lot_code, "quotas": quotas, "evaluation_at": rfc3339(evaluation_at),
                 "venues": [{"name": v["name"], "region_code": v["region_code"], "quotas": v["quotas"]}
                            for v in draw.venues or []],
                 "seed_commitment": draw.seed_commitment, "snapshot_commitment": draw.snapshot_commitment},
        "calls": [{"position": c.position, "specialty": c.specialty, "venue": c.venue, "answer": c.answer}
                  for c in calls],
    }


async def _reveal_draw(runtime: Runtime, draw_id: int) -> dict[str, Any]:
    """The regulator publishes the seed and every call; the draw is checked from the ledger."""
    async with runtime.database.transaction() as session:
        await draws.reveal_draw(session, await demo_actor(session, "regulator"), draw_id)
    async with runtime.database.reader() as session:
        verification = await draws.verify_from_ledger(session, draw_id)
        finished = await session.get(Draw, draw_id)
    return {"draw": {"status": finished.status, "revealed_at": rfc3339(finished.revealed_at)},  # type: ignore[union-attr,arg-type]
            "verification": verification.to_dict()}


async def _committee_specialties(session: AsyncSession) -> tuple[str, str]:
    """The two specialties best covered in both venues' regions: five experts, as construction
    requires at least, are drawn of them. Second-level codes (e.g. A04) when each venue has
    enough experts of them to replace a decline, else first-level ones (a small demo pool)."""
    for level in (3, 1):
        prefix = sa.func.substr(ExpertSpecialty.code, 1, level)
        rows = await session.execute(
            sa.select(Expert.region_code, prefix, sa.func.count(sa.distinct(Expert.id)))
            .join(ExpertSpecialty, ExpertSpecialty.expert_id == Expert.id)
            .where(Expert.region_code.in_([MAIN_VENUE_REGION, SECONDARY_VENUE_REGION]))
            .group_by(Expert.region_code, prefix))
        coverage: dict[str, dict[str, int]] = {}
        for region, code, count in rows:
            coverage.setdefault(code, {})[region] = count
        ranked = sorted(coverage, key=lambda code: (-min(coverage[code].get(MAIN_VENUE_REGION, 0),
                                                         coverage[code].get(SECONDARY_VENUE_REGION, 0)), code))
        weakest = min(coverage[ranked[1]].values(), default=0) if len(ranked) > 1 else 0
        if weakest >= MIN_EXPERTS_PER_VENUE_SPECIALTY and len(coverage[ranked[1]]) == 2:
            return ranked[0], ranked[1]
    return ranked[0], ranked[1]


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

"""The regulator's side of the demo story, once the award is made and the draw revealed.

The early-warning rules run over the whole story as the worker's periodic job would; two
of the five bidders had their technical proposals written by the same hand
(``web.demo_tender_run.PROPOSAL_AUTHORS``), and the rule on document metadata finds them.
Then the provincial regulator looks as a regulator does, over HTTP: what is happening now,
the warnings of its jurisdiction with their evidence, the step-by-step timeline of the
project and the state of the opening; it publishes a signed tree head anyone can check
the archive and receipts against. Last, the project is exported as OCDS 1.1.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.actors import SYSTEM
from supervision.warnings.engine import run_rules
from trading.models import Project
from trading.ocds_publish import export_package
from trading.ocds_record import to_json
from web.demo_evaluation_run import call, http_request, login
from web.runtime import Runtime

TIMELINE_PAGE = 500
# Everyone in the demo works from this one machine: the rule on bids sent from the same
# network address would flag every pair, so the demo run tells it to skip the loopback.
DEMO_OVERRIDES = {"trading.same_source_address": {"ignored_sources": ["127.0.0.1", "::1"]}}


async def run_supervision_demo(runtime: Runtime, base_url: str, tender: dict[str, Any], out: Path) -> dict[str, Any]:
    folder = out / "supervision"
    folder.mkdir(parents=True, exist_ok=True)
    report = await _run_warning_rules(runtime, tender["project"])
    token = await login(base_url, "regulator")
    views = {
        "summary": await call(base_url, token, "GET", "/supervision/summary"),
        "warnings": (await http_request(base_url, token, "GET", f"/warnings?project={tender['project']}")).json(),
        "timeline": await _timeline(base_url, token, f"project:{tender['project']}"),
        "opening_state": await call(base_url, token, "GET", f"/supervision/streams/opening:{tender['lot']}/state"),
        "published_head": await call(base_url, token, "POST", "/ledger/heads"),
    }
    files = {name: _write(folder / f"{name}.json", body, out) for name, body in views.items()}
    files["ocds"] = await _export_ocds(runtime, tender["project"], out)
    return {"rules_run": report, "warnings": [_brief(w) for w in views["warnings"]],
            "timeline_steps": len(views["timeline"]["steps"]), "files": files}


async def _run_warning_rules(runtime: Runtime, project_id: int) -> dict[str, Any]:
    """What ``supervision.run_warning_rules`` does every hour, over the story so far."""
    async with runtime.database.transaction() as session:
        started = await session.scalar(sa.select(Project.created_at).where(Project.id == project_id))
        report = await run_rules(session, SYSTEM, since=started, blobs=runtime.blobs,  # type: ignore[arg-type]
                                 overrides=DEMO_OVERRIDES)
    return {"rules": len(report.rules), "findings": report.findings, "raised": report.raised,
            "failures": report.failures}


async def _timeline(base_url: str, token: str, stream: str) -> dict[str, Any]:
    """Every step of ``stream``, page after page."""
    steps: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        params = {"limit": TIMELINE_PAGE} if after is None else {"after": after, "limit": TIMELINE_PAGE}
        page = await call(base_url, token, "GET", f"/supervision/streams/{stream}/timeline", params=params)
        steps.extend(page["steps"])
        if page.get("next_after") is None:
            return {"stream": stream, "steps": steps}
        after = page["next_after"]


async def _export_ocds(runtime: Runtime, project_id: int, out: Path) -> str:
    async with runtime.database.reader() as session:
        package = await export_package(session, project_id)
    path = out / "ocds" / "release-package.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(package, indent=2))
    return str(path.relative_to(out))


def _write(path: Path, body: Any, out: Path) -> str:
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False))
    return str(path.relative_to(out))


def _brief(warning: dict[str, Any]) -> dict[str, Any]:
    return {key: warning.get(key) for key in ("id", "rule_code", "subject_key", "summary", "status")}

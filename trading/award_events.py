"""Award and archive events and their replay.

Two stream kinds:

- ``award:<lot_id>``: the award of one lot. Every entry carries the award row as it is after
  the step (so the fold is a plain merge), plus the rows the step added (the candidates,
  a contract signature). A price competition's lot starts at ``DEAL_CONCLUDED`` (written by
  the competition's close, with the deal confirmation as ``deal``) instead of the candidates. The notices and the lot's status changes the award causes are on
  the project's stream (``trading.notices.record_notice``, ``change_lot_status``), and so
  are the publicity objections (the ``trading_objections`` rows belong to the project).
  An upheld objection withdraws the publicity (``PUBLICITY_WITHDRAWN``): the entry carries
  the ``withdrawal`` row (which keeps the candidates as they were) and the ids of the
  candidates it ``discarded`` from the award; the re-evaluation's candidates come later as
  a new ``CANDIDATES_RECORDED``.
- ``archive:<project_id>``: the archive of a project. The first entry lists what the zip
  holds (the SHA-256 of its file list) and is itself inside the zip; the second names the
  finished zip, which no entry inside it can.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from supervision.replay import State, StreamKind, StreamRegistry
from trading.award_models import (
    Award,
    AwardCandidate,
    AwardWithdrawal,
    ContractSignature,
    ProjectArchive,
)
from trading.events import row_snapshot

CANDIDATES_RECORDED = "trading.award_candidates_recorded"
PUBLICITY_STARTED = "trading.candidate_publicity_started"
PUBLICITY_WITHDRAWN = "trading.candidate_publicity_withdrawn"
WINNER_CONFIRMED = "trading.winner_confirmed"
DEAL_CONCLUDED = "trading.deal_concluded"
DEAL_NOTICE_ISSUED = "trading.deal_notice_issued"
CONTRACT_UPLOADED = "trading.contract_uploaded"
CONTRACT_SIGNED = "trading.contract_signed"
AWARD_FAILED = "trading.award_failed"  # a re-evaluation rejected every bid
ARCHIVE_CONTENTS_LISTED = "trading.archive_contents_listed"
ARCHIVE_MADE = "trading.archive_made"

_AWARD_EVENTS = (CANDIDATES_RECORDED, PUBLICITY_STARTED, PUBLICITY_WITHDRAWN, WINNER_CONFIRMED, DEAL_CONCLUDED,
                 DEAL_NOTICE_ISSUED, CONTRACT_UPLOADED, CONTRACT_SIGNED, AWARD_FAILED)


def award_stream(lot_id: int | None) -> str:
    return f"award:{lot_id}"


def archive_stream(project_id: int | None) -> str:
    return f"archive:{project_id}"


def award_payload(award: Award, **rows: Any) -> dict[str, Any]:
    """The award row as it now is, with the rows the step added (already snapshots)."""
    return {"award": row_snapshot(award), **rows}


# --- award:<lot_id> ------------------------------------------------------------------------


def apply_award(state: State | None, entry: dict[str, Any]) -> State | None:
    kind, payload = entry["type"], entry["payload"]
    if kind not in _AWARD_EVENTS:
        return state
    state = state or {"award": {}, "candidates": {}, "signatures": {}, "withdrawals": {}}
    discarded = {str(row_id) for row_id in payload.get("discarded", [])}
    candidates = {key: row for key, row in state["candidates"].items() if key not in discarded}
    candidates.update({str(row["id"]): row for row in payload.get("candidates", [])})
    signatures = dict(state["signatures"])
    if "signature" in payload:
        signatures[str(payload["signature"]["id"])] = payload["signature"]
    withdrawals = dict(state["withdrawals"])
    if "withdrawal" in payload:
        withdrawals[str(payload["withdrawal"]["id"])] = payload["withdrawal"]
    return {"award": {**state["award"], **payload["award"]}, "candidates": candidates, "signatures": signatures,
            "withdrawals": withdrawals}


async def load_award_state(session: AsyncSession, stream: str) -> State | None:
    lot_id = _stream_id(stream)
    award = await session.scalar(sa.select(Award).where(Award.lot_id == lot_id)) if lot_id is not None else None
    if award is None:
        return None
    candidates = await session.scalars(sa.select(AwardCandidate).where(AwardCandidate.award_id == award.id))
    signatures = await session.scalars(sa.select(ContractSignature).where(ContractSignature.award_id == award.id))
    withdrawals = await session.scalars(sa.select(AwardWithdrawal).where(AwardWithdrawal.award_id == award.id))
    return {
        "award": row_snapshot(award),
        "candidates": {str(row.id): row_snapshot(row) for row in candidates},
        "signatures": {str(row.id): row_snapshot(row) for row in signatures},
        "withdrawals": {str(row.id): row_snapshot(row) for row in withdrawals},
    }


async def list_award_streams(session: AsyncSession) -> list[str]:
    return [award_stream(lot_id) for lot_id in (await session.scalars(sa.select(Award.lot_id))).all()]


# --- archive:<project_id> --------------------------------------------------------------------


def apply_archive(state: State | None, entry: dict[str, Any]) -> State | None:
    """Only the finished archive is a stored state: the listing entry is never committed
    without it (both are appended in one transaction)."""
    if entry["type"] == ARCHIVE_MADE:
        return {"archive": entry["payload"]["archive"]}
    return state


async def load_archive_state(session: AsyncSession, stream: str) -> State | None:
    project_id = _stream_id(stream)
    if project_id is None:
        return None
    archive = await session.scalar(sa.select(ProjectArchive).where(ProjectArchive.project_id == project_id))
    return {"archive": row_snapshot(archive)} if archive is not None else None


async def list_archive_streams(session: AsyncSession) -> list[str]:
    rows = await session.scalars(sa.select(ProjectArchive.project_id))
    return [archive_stream(project_id) for project_id in rows.all()]


def _stream_id(stream: str) -> int | None:
    text = stream.partition(":")[2]
    return int(text) if text.isdigit() else None


def register(registry: StreamRegistry) -> None:
    """Register the ``award`` and ``archive`` stream kinds with the replay registry."""
    registry.register(StreamKind("award", apply_award, load_award_state, list_award_streams))
    registry.register(StreamKind("archive", apply_archive, load_archive_state, list_archive_streams))

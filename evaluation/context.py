"""What every step of a session works with: the session row, the platform services, and
the acting member (if the actor is one); and the checks every step repeats.

The live channel builds a :class:`Context` per message (the session row locked for the
message's transaction), so two messages of one session never interleave their checks
and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ca_interop.revocation import RevocationSource
from core.actors import Actor
from core.blobs import BlobStore
from core.errors import Conflict, PermissionDenied
from evaluation.models import CommitteeMember, EvaluationSession
from evaluation.states import MemberStatus, Stage


@dataclass(frozen=True)
class EvaluationServices:
    """Platform services a session step may need (from ``web.runtime.Runtime``)."""

    blobs: BlobStore
    revocation: RevocationSource


@dataclass
class Context:
    ev: EvaluationSession
    services: EvaluationServices
    actor: Actor
    member: CommitteeMember | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    """What a step already loaded in this message's transaction, for the stage check that
    follows it (e.g. the scores table after a score), so it is not queried twice."""

    @property
    def session_id(self) -> int:
        return self.ev.id  # type: ignore[return-value]

    def require_stage(self, *stages: Stage, doing: str) -> None:
        """A message for another stage changes nothing and says which stage it is."""
        if self.ev.stage not in stages:
            wanted = " or ".join(stages)
            raise WrongStage(f"{doing} belongs to the {wanted} stage; the session is in {self.ev.stage}")

    def require_member(self, *statuses: MemberStatus, doing: str) -> CommitteeMember:
        if self.member is None:
            raise PermissionDenied(f"{doing} is for members of this evaluation committee only")
        if statuses and self.member.status not in statuses:
            wanted = " or ".join(statuses)
            raise Conflict(f"{doing} needs a member who is {wanted}; seat {self.member.seat} is {self.member.status}")
        return self.member

    def require_active_member(self, doing: str) -> CommitteeMember:
        return self.require_member(MemberStatus.ACTIVE, doing=doing)

    def require_chair(self, doing: str) -> CommitteeMember:
        member = self.require_active_member(doing)
        if self.ev.chair_member_id != member.id:
            raise PermissionDenied(f"{doing} is for the chair of the committee")
        return member


class WrongStage(Conflict):
    code = "evaluation-wrong-stage"
    title = "The message belongs to another stage of the session"

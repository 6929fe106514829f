"""The stages of an evaluation session and the statuses of its members.

The server decides the stage: a session moves on by itself when the stage's work is
complete (every member signed in and declared, a chair elected, every bid reviewed by
every member, ...); no client message names the stage to go to. Moves go through one
guarded setter (``ALLOWED_STAGE_MOVES``), as trading's lot statuses do.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    SIGN_IN = "sign_in"                      # members sign in, staff confirm identity, conflicts declared
    CHAIR_ELECTION = "chair_election"
    PRELIMINARY_REVIEW = "preliminary_review"
    DETAILED_SCORING = "detailed_scoring"    # skipped by methods without scored factors
    RESULTS = "results"                      # ranking shown; members accept or state dissent
    REPORT_SIGNING = "report_signing"
    FINISHED = "finished"                    # signed report handed to trading
    SUSPENDED = "suspended"                  # a replacement draw could not be filled: re-form


ALLOWED_STAGE_MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.SIGN_IN: frozenset({Stage.CHAIR_ELECTION, Stage.SUSPENDED}),
    Stage.CHAIR_ELECTION: frozenset({Stage.PRELIMINARY_REVIEW}),
    Stage.PRELIMINARY_REVIEW: frozenset({Stage.DETAILED_SCORING, Stage.RESULTS}),
    Stage.DETAILED_SCORING: frozenset({Stage.RESULTS}),
    Stage.RESULTS: frozenset({Stage.REPORT_SIGNING, Stage.DETAILED_SCORING}),
    Stage.REPORT_SIGNING: frozenset({Stage.FINISHED}),
    Stage.FINISHED: frozenset(),
    Stage.SUSPENDED: frozenset(),
}

# Stages a session does not leave: nothing changes it any more.
FINISHED_STAGES = frozenset({Stage.FINISHED, Stage.SUSPENDED})


class MemberStatus(StrEnum):
    SEATED = "seated"          # revealed to the session, not signed in yet
    SIGNED_IN = "signed_in"    # certificate checked; waits for staff to confirm identity
    CONFIRMED = "confirmed"    # identity confirmed at the venue; must declare
    ACTIVE = "active"          # declared no conflict: a working member
    RECUSED = "recused"        # left for a conflict; a replacement is drawn


class ClarificationStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"

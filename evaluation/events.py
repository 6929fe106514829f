"""The entries of an evaluation session's stream ``evaluation:<session_id>``.

Each event type is one thing that happened in the session. Payloads carry what the
committee and the regulators need to rebuild the session (replay); what a given viewer
of the live channel may see of an entry is decided in ``evaluation.views``.
"""

from __future__ import annotations

SESSION_OPENED = "evaluation.session_opened"
COMMITTEE_REVEALED = "evaluation.committee_revealed"
STAFF_CHECKED_IN = "evaluation.staff_checked_in"        # a staff member on duty at one venue
MEMBER_SIGNED_IN = "evaluation.member_signed_in"
IDENTITY_CONFIRMED = "evaluation.identity_confirmed"
CONFLICT_DECLARED = "evaluation.conflict_declared"      # "no conflict" declaration
MEMBER_RECUSED = "evaluation.member_recused"
MEMBER_SEATED = "evaluation.member_seated"              # a replacement joins
CHAIR_VOTED = "evaluation.chair_voted"
CHAIR_ELECTED = "evaluation.chair_elected"
CHAIR_VOTE_TIED = "evaluation.chair_vote_tied"          # no majority: the votes are reset
STAGE_CHANGED = "evaluation.stage_changed"
BID_REVIEWED = "evaluation.bid_reviewed"                # one member's marks for one bid
REVIEW_CONCLUDED = "evaluation.review_concluded"        # committee result by majority, dissent
CLARIFICATION_ASKED = "evaluation.clarification_asked"
CLARIFICATION_ANSWERED = "evaluation.clarification_answered"
CLARIFICATION_EXPIRED = "evaluation.clarification_expired"
BID_SCORED = "evaluation.bid_scored"                    # one member's scores for one bid
SCORE_FLAGGED = "evaluation.score_flagged"
SCORE_CONFIRMED = "evaluation.score_confirmed"
RESCORE_REQUESTED = "evaluation.rescore_requested"
SCORING_CONCLUDED = "evaluation.scoring_concluded"      # every member's scores, revealed to the committee
RESULTS_COMPUTED = "evaluation.results_computed"
RESULTS_ACCEPTED = "evaluation.results_accepted"
DISSENT_RECORDED = "evaluation.dissent_recorded"
REPORT_PREPARED = "evaluation.report_prepared"
REPORT_SIGNED = "evaluation.report_signed"
SESSION_FINISHED = "evaluation.session_finished"
SESSION_SUSPENDED = "evaluation.session_suspended"


def session_stream(session_id: int | None) -> str:
    return f"evaluation:{session_id}"

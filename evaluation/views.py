"""Who sees what of a session's entries, live and on reading the session.

* Oversight (regulators, auditors, administrators) see every entry unchanged, as it happens.
* Members see their own work in full and the committee's work once the committee has
  concluded it: another member's marks, scores, acceptance or signature show only as
  progress (``submitted``) until a committee-level entry (``REVIEW_CONCLUDED``,
  ``SCORING_CONCLUDED``, ...) carries them. Nobody but oversight sees source addresses.
* Centre staff run the room: they see progress by seat (sign-in, identity, who has
  submitted, stage changes) and which staff member is on duty at which venue, never
  names, expert codes, marks, scores or results. Members see the venue staff too.
* A bidder sees its own clarification requests and answers, and not who asked.

Everything is decided per entry from the entry alone, so a follower resuming from a
sequence number sees exactly what it would have seen live.
"""

from __future__ import annotations

from typing import Any

from evaluation import events

OVERSIGHT = "oversight"
MEMBER = "member"
STAFF = "staff"
BIDDER = "bidder"

INDIVIDUAL_WORK = frozenset({events.BID_REVIEWED, events.BID_SCORED, events.SCORE_FLAGGED,
                             events.SCORE_CONFIRMED, events.RESULTS_ACCEPTED, events.REPORT_SIGNED})
CLARIFICATIONS = frozenset({events.CLARIFICATION_ASKED, events.CLARIFICATION_ANSWERED,
                            events.CLARIFICATION_EXPIRED})
PROGRESS_KEYS = ("session_id", "member_id", "seat", "bid_id")
# What staff may read of any payload: seats, statuses, venues, stages, ids and times.
STAFF_KEYS = frozenset({"session_id", "member_id", "seat", "bid_id", "party_id", "venue", "status", "from", "to",
                        "round", "voters", "for_seat", "clarification_id", "due_at", "asked_at", "answered_at",
                        "replaces_member_id", "replaces_seat", "lot_id", "project_id", "draw_id", "method",
                        "report_sha256", "count"})
MEMBER_LIST_STAFF_KEYS = ("member_id", "seat", "status", "venue")
# Who runs which venue is the staff's own business: they see those payloads whole.
STAFF_FACTS = frozenset({events.STAFF_CHECKED_IN})
HIDDEN_FROM_BIDDERS = frozenset({"member_id", "seat", "asked_by_member_id", "name", "expert_code"})


def visible(kind: str, entry: dict[str, Any], *, member_id: int | None = None,
            party_id: int | None = None) -> dict[str, Any] | None:
    """``entry`` as a viewer of ``kind`` may see it, or None when it may not see it at all."""
    if kind == OVERSIGHT:
        return entry
    if kind == MEMBER:
        return _for_member(entry, member_id)
    if kind == STAFF:
        return _for_staff(entry)
    if kind == BIDDER:
        return _for_bidder(entry, party_id)
    return None


def audience(kind: str, entry: dict[str, Any], *, member_id: int | None = None,
             party_id: int | None = None) -> tuple[Any, ...]:
    """Which version of ``entry`` a viewer gets: two viewers with the same audience get the
    same :func:`visible` result, so the live channel shapes and encodes an entry once per
    audience rather than once per connection. It follows :func:`visible` exactly: a member
    differs from another only on individual work (its own, or another's), a bidder only
    on its own clarifications."""
    payload = entry.get("payload") or {}
    if kind == MEMBER and entry.get("type") in INDIVIDUAL_WORK:
        return (MEMBER, payload.get("member_id") == member_id)
    if kind == BIDDER:
        if entry.get("type") not in CLARIFICATIONS or party_id is None or payload.get("party_id") != party_id:
            return (BIDDER, None)
        return (BIDDER, party_id)
    return (kind,)


def _without(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in keys}


def _progress(payload: dict[str, Any]) -> dict[str, Any]:
    shown = {key: payload[key] for key in PROGRESS_KEYS if key in payload}
    shown["submitted"] = True
    return shown


def _for_member(entry: dict[str, Any], member_id: int | None) -> dict[str, Any]:
    shown = _without(entry, "source")
    payload = entry.get("payload") or {}
    if entry.get("type") in INDIVIDUAL_WORK and payload.get("member_id") != member_id:
        shown["payload"] = _progress(payload)
    return shown


def _for_staff(entry: dict[str, Any]) -> dict[str, Any]:
    shown = _without(entry, "source")
    actor = entry.get("actor")
    shown["actor"] = {"roles": actor.get("roles", [])} if isinstance(actor, dict) else None
    payload = entry.get("payload") or {}
    if entry.get("type") in INDIVIDUAL_WORK:
        shown["payload"] = _progress(payload)
        return shown
    if entry.get("type") in STAFF_FACTS:
        return shown
    reduced = {key: value for key, value in payload.items() if key in STAFF_KEYS}
    if isinstance(payload.get("members"), list):
        reduced["members"] = [{key: seat[key] for key in MEMBER_LIST_STAFF_KEYS if key in seat}
                              for seat in payload["members"] if isinstance(seat, dict)]
    shown["payload"] = reduced
    return shown


def _for_bidder(entry: dict[str, Any], party_id: int | None) -> dict[str, Any] | None:
    payload = entry.get("payload") or {}
    if entry.get("type") not in CLARIFICATIONS or party_id is None or payload.get("party_id") != party_id:
        return None
    shown = _without(entry, "source", "actor")
    shown["payload"] = {key: value for key, value in payload.items() if key not in HIDDEN_FROM_BIDDERS}
    return shown

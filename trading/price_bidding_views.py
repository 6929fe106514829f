"""Who sees what of a competition: bidders and the public see bidder numbers, never names;
a bidder sees its own number marked, and its own sealed quote but nobody else's before the
close, nor who else registered (the count of bidders is kept from the bidders, as
exchanges do against collusion). Centre staff and regulators see everything.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core import clock
from core.actors import Actor, Role
from trading import price_bidding_events as events
from trading import price_bidding_rules as rules
from trading.events import row_snapshot
from trading.price_bidding_models import PriceCompetition, PriceQuote

OVERSIGHT = frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.AUDITOR, Role.ADMIN})
_HIDDEN_COMPETITION = ("created_by", "leader_registration_id", "winner_registration_id")
_PUBLIC_QUOTE = ("id", "bidder_number", "phase", "round_number", "amount", "commitment", "salt", "submitted_at")
_PUBLIC_REGISTRATION = ("id", "bidder_number", "wants_live", "registered_at")


def sees_names(actor: Actor) -> bool:
    return actor.has_any(OVERSIGHT)


def public_competition(snapshot: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in snapshot.items() if key not in _HIDDEN_COMPETITION}
    if snapshot["mode"] == rules.SEALED_QUOTE and snapshot["phase"] != "closed":
        shown["quote_count"] = None  # how many sealed quotes there are is kept until the close too
    return shown


def public_quote(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {key: snapshot.get(key) for key in _PUBLIC_QUOTE}


def summary(snapshot: dict[str, Any], your_number: str | None, now: datetime) -> dict[str, Any]:
    """The board a follower shows: phase, current price, leader's number, end and time left."""
    ends_at = clock.parse_rfc3339(snapshot["ends_at"])
    current = snapshot["current_price"]
    paused_at = clock.parse_rfc3339(snapshot["suspended_at"]) if snapshot.get("suspended_at") else None
    clock_at = paused_at or now  # while the lot is suspended the clock stands still
    if snapshot["phase"] == "dutch":
        running_start = clock.parse_rfc3339(snapshot["starts_at"]) + timedelta(
            seconds=snapshot.get("paused_seconds") or 0)
        current = str(rules.dutch_price(Decimal(snapshot["starting_price"]), Decimal(snapshot["increment"]),
                                        Decimal(snapshot["dutch_floor_price"]), snapshot["dutch_interval_seconds"],
                                        running_start, clock_at))
    return {"phase": snapshot["phase"], "current_price": current, "leader_number": snapshot["leader_number"],
            "your_number": your_number, "you_lead": your_number is not None and snapshot["leader_number"] == your_number,
            "ends_at": snapshot["ends_at"], "server_time": clock.rfc3339(now),
            "suspended": paused_at is not None,
            "seconds_left": max(0, int((ends_at - clock_at).total_seconds())) if snapshot["phase"] != "closed" else 0,
            "result": snapshot["result"], "final_price": snapshot["final_price"],
            "winner_number": snapshot["winner_number"]}


def quote_visible(quote: PriceQuote, competition: PriceCompetition, your_number: str | None, names: bool) -> bool:
    """A sealed quote is seen by its bidder (and oversight, as a commitment) until the close."""
    return names or quote.amount is not None or quote.bidder_number == your_number


def competition_view(competition: PriceCompetition, quotes: list[PriceQuote], your_number: str | None,
                     names: bool, now: datetime) -> dict[str, Any]:
    snapshot = row_snapshot(competition)
    board = summary(snapshot, your_number, now)
    shown = [public_quote(row_snapshot(quote)) for quote in quotes
             if quote_visible(quote, competition, your_number, names)]
    shown_competition = snapshot if names else public_competition(snapshot)
    return {**shown_competition, "current_price": board["current_price"], "server_time": now,
            "your_number": your_number, "you_lead": board["you_lead"], "quotes": shown}


def entry_view(actor: Actor, your_number: str | None) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """What a live follower sees of each entry, with the board after it (``view``)."""
    if sees_names(actor):
        return lambda entry: {**entry, "view": summary(entry["payload"]["competition"], None, clock.utcnow())}
    known = {"number": your_number}

    def view(entry: dict[str, Any]) -> dict[str, Any] | None:
        payload = entry["payload"]
        changes = payload.get("changes", {})
        own = [row for row in changes.get("registrations", []) if row["party_id"] == actor.party_id]
        if own:
            known["number"] = own[0]["bidder_number"]
        if entry["type"] in (events.REGISTERED, events.LIVE_DECLARED) and not own:
            return None  # who else registered stays unknown to bidders
        quotes = [row for row in changes.get("quotes", [])
                  if row["amount"] is not None or row["bidder_number"] == known["number"]]
        if entry["type"] == events.QUOTED and not quotes:
            return None  # another bidder's sealed quote
        facts = {key: value for key, value in payload.items() if key not in ("competition", "changes")}
        shown = {**facts, "competition": public_competition(payload["competition"]), "changes": {
            "registrations": [{key: row[key] for key in _PUBLIC_REGISTRATION} for row in own],
            "quotes": [public_quote(row) for row in quotes]}}
        return {"seq": entry["seq"], "stream": entry["stream"], "type": entry["type"], "time": entry["time"],
                "actor": None, "source": None, "payload": shown,
                "view": summary(payload["competition"], known["number"], clock.utcnow())}

    return view

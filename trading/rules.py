"""The legal time rules of the four segments, as data (DOMAIN.md "Time limits").

Every number lives in ``trading/data/time_rules.json``: one row per rule, for one
procedure of a segment or for all of them (``procedure: "*"``), with its legal source and
whether the figure is confirmed. This module only interprets the rows; no limit is
written here. A province that tightens a period, or a corrected figure, is an edit of the
JSON file.

How periods are counted (the rule of Chinese law, Civil Code arts. 200-204, which the
bidding and procurement regulations follow):

* Days are Asia/Shanghai calendar dates; times are stored in UTC and converted first.
* The day the period starts is not counted: a notice issued on 1 March with a 20-day
  minimum allows a bid deadline on 21 March or later, whatever the times of day.
* A working-day period skips weekends and public holidays and counts the adjusted
  working weekends (调休上班), from :class:`trading.calendar.WorkingCalendar`.
* A period within which something must be done ends at 24:00 (Shanghai) of its last day;
  the functions return that moment as 23:59:59.999999 Shanghai, in UTC.
* When the last day of such a calendar-day period is a holiday or weekend, the period
  ends on the next working day (Civil Code art. 203); so does a bid deadline moved by a
  late clarification, since it ends the period for submitting bids. Minimum durations
  (documents on sale, publicity) are not extended, and a timetable is not refused for a
  deadline on a day off.

A rule's ``bound`` says how ``amount`` applies between its ``measured_from`` and
``measured_to`` points: ``at_least`` (the span lasts at least that long), ``within`` (the
second point comes at most that long after the first), ``not_before`` and ``same_time``
(the timetable's internal order). Points named after :class:`Timetable` fields are checked
by :func:`timetable_breaches`; the others (``known_at``, ``raised_at``...) are events the
deadline functions count from.

The same file caps the bid bond (``bid_bond_caps``: a percentage of the lot's budget, per
segment and procedure); :func:`bid_bond_cap` finds the row, ``trading.lot_fields`` applies it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from typing import Any

from core.clock import SHANGHAI, to_shanghai
from core.errors import FieldError, InvalidInput, RuleViolation
from trading.calendar import WorkingCalendar
from trading.states import PROCEDURES_BY_SEGMENT, ObjectionStage, Segment

DEFAULT_TABLE = "data/time_rules.json"
"""The packaged rule table, relative to the ``trading`` package."""

ALL_PROCEDURES = "*"
DEFAULT_MINIMUM_BIDDERS = 1
"""When no row of ``minimum_bidders`` applies, one bid is enough to go on."""

PUBLICITY_KINDS = ("candidate_publicity", "result_publicity", "listing_period", "disclosure_period")
"""The rule kinds :func:`publicity_end` looks for, first found wins."""


class DayUnit(StrEnum):
    CALENDAR = "calendar_days"
    WORKING = "working_days"


class Bound(StrEnum):
    AT_LEAST = "at_least"
    WITHIN = "within"
    NOT_BEFORE = "not_before"
    SAME_TIME = "same_time"


class RuleTableError(ValueError):
    """The rule table file is inconsistent; the message names the row and the problem."""


@dataclass(frozen=True)
class TimeRule:
    """One legal time limit. ``id`` is ``segment.procedure.kind``."""

    id: str
    segment: str
    procedure: str  # "*" = every procedure of the segment (in rule_table(); rules_for() fills it in)
    kind: str
    amount: int
    unit: DayUnit
    description: str
    source: str  # law and article
    confirmed: bool
    bound: Bound = Bound.AT_LEAST
    measured_from: str | None = None
    measured_to: str | None = None

    @property
    def requirement(self) -> str:
        """``at least 20 days``, ``within 7 working days``..."""
        return f"{self.bound.value.replace('_', ' ')} {_days(self.amount, self.unit)}"


@dataclass(frozen=True)
class MinimumBidders:
    segment: str
    procedure: str
    count: int
    description: str
    source: str
    confirmed: bool


@dataclass(frozen=True)
class BidBondCap:
    """The most a lot's bid bond may be: ``percent`` of its budget. ``id`` is ``segment.procedure.bid_bond_cap``."""

    id: str
    segment: str
    procedure: str
    percent: Decimal
    description: str
    source: str
    confirmed: bool

    def maximum(self, budget: Decimal) -> Decimal:
        """The exact cap (not rounded: a bond is refused only when it is above it)."""
        return budget * self.percent / 100


@dataclass(frozen=True)
class Timetable:
    """A lot's published timetable (aware datetimes; naive ones are refused, not guessed).

    ``bidding_from`` is when bids, price sheets or listing quotes start being accepted,
    where that differs from ``documents_from`` (land tender and listing); without it,
    bidding starts when the documents are issued.
    """

    published_at: datetime
    documents_from: datetime
    documents_until: datetime
    bid_deadline: datetime
    opening_at: datetime
    clarification_until: datetime | None = None
    objection_until: datetime | None = None
    bidding_from: datetime | None = None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None:
                _aware(value, item.name, pointer=f"$.timetable.{item.name}")

    @property
    def bidding_starts(self) -> datetime:
        return self.bidding_from or self.documents_from


TIMETABLE_POINTS: dict[str, str] = {
    "published_at": "the notice's publication",
    "documents_from": "the documents' issue",
    "documents_until": "the end of the documents' availability",
    "bidding_starts": "the start of bidding",
    "bid_deadline": "the bid deadline",
    "opening_at": "the opening",
    "clarification_until": "the last clarification",
    "objection_until": "the last day for objections to the documents",
}
"""Timetable points a rule can measure between, with how messages name them."""


@dataclass(frozen=True)
class RuleBreach:
    """A rule the timetable breaks; ``message`` names the rule, its source, what was required and given."""

    rule: str
    message: str


# ----------------------------------------------------------------- the table


@dataclass(frozen=True)
class RuleTable:
    rules: tuple[TimeRule, ...]
    minimum_bidders: tuple[MinimumBidders, ...]
    bid_bond_caps: tuple[BidBondCap, ...] = ()


def load_rule_table(data: Mapping[str, Any], *, source: str = "rule table") -> RuleTable:
    """Parse and check a table of the shape of ``time_rules.json``."""
    rows = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(rows, list):
        raise RuleTableError(f"{source} has no 'rules' list")
    rules = [_parse_rule(row, f"{source} rules[{index}]") for index, row in enumerate(rows)]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleTableError(f"{source}: rule {rule.id} appears twice")
        seen.add(rule.id)
    minimums = [_parse_minimum(row, f"{source} minimum_bidders[{index}]")
                for index, row in enumerate(data.get("minimum_bidders") or [])]
    caps = [_parse_bond_cap(row, f"{source} bid_bond_caps[{index}]")
            for index, row in enumerate(data.get("bid_bond_caps") or [])]
    return RuleTable(rules=tuple(rules), minimum_bidders=tuple(minimums), bid_bond_caps=tuple(caps))


@functools.cache
def packaged_rule_table() -> RuleTable:
    text = resources.files("trading").joinpath(DEFAULT_TABLE).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleTableError(f"trading/{DEFAULT_TABLE} is not valid JSON: {exc}") from None
    return load_rule_table(data, source=f"trading/{DEFAULT_TABLE}")


def rule_table() -> list[TimeRule]:
    """Every row of the packaged table, as written (``procedure`` may be ``"*"``)."""
    return list(packaged_rule_table().rules)


def rules_for(segment: str, procedure: str) -> list[TimeRule]:
    """The rules that apply to a procedure, each with the procedure filled in.

    A row for the procedure itself replaces the segment's ``"*"`` row of the same kind;
    the rule ids are ``segment.procedure.kind``.
    """
    segment, procedure = check_segment_procedure(segment, procedure)
    chosen: dict[str, TimeRule] = {}
    for wanted in (ALL_PROCEDURES, procedure):
        for rule in packaged_rule_table().rules:
            if rule.segment == segment and rule.procedure == wanted:
                chosen[rule.kind] = rule
    return [dataclasses.replace(rule, procedure=procedure, id=f"{segment}.{procedure}.{rule.kind}")
            for rule in chosen.values()]


def minimum_bidders(segment: str, procedure: str) -> int:
    """How many bids the procedure needs to go on (3 where the law says so, else 1)."""
    segment, procedure = check_segment_procedure(segment, procedure)
    rows = {row.procedure: row for row in packaged_rule_table().minimum_bidders if row.segment == segment}
    row = rows.get(procedure) or rows.get(ALL_PROCEDURES)
    return row.count if row else DEFAULT_MINIMUM_BIDDERS


def bid_bond_caps() -> list[BidBondCap]:
    """Every bid bond cap of the packaged table, as written (``procedure`` may be ``"*"``)."""
    return list(packaged_rule_table().bid_bond_caps)


def bid_bond_cap(segment: str, procedure: str) -> BidBondCap | None:
    """The cap on a lot's bid bond in this procedure (its own row, else the segment's ``"*"``
    row), with the procedure filled in; None: the rules set no cap."""
    segment, procedure = check_segment_procedure(segment, procedure)
    rows = {row.procedure: row for row in packaged_rule_table().bid_bond_caps if row.segment == segment}
    row = rows.get(procedure) or rows.get(ALL_PROCEDURES)
    if row is None:
        return None
    return dataclasses.replace(row, procedure=procedure, id=f"{segment}.{procedure}.bid_bond_cap")


def check_segment_procedure(segment: str, procedure: str) -> tuple[str, str]:
    """The names as plain strings, or InvalidInput listing the known ones."""
    known_segments = [item.value for item in Segment]
    if str(segment) not in known_segments:
        raise InvalidInput(f"unknown segment {str(segment)!r}; known segments: {', '.join(known_segments)}",
                           [FieldError("$.segment", f"one of {', '.join(known_segments)}")])
    allowed = [item.value for item in PROCEDURES_BY_SEGMENT[Segment(str(segment))]]
    if str(procedure) not in allowed:
        raise InvalidInput(f"unknown procedure {str(procedure)!r} for segment {segment}; "
                           f"its procedures: {', '.join(allowed)}",
                           [FieldError("$.procedure", f"one of {', '.join(allowed)}")])
    return str(segment), str(procedure)


# ----------------------------------------------------------------- the timetable check


def timetable_breaches(segment: str, procedure: str, timetable: Timetable,
                       calendar: WorkingCalendar | None = None) -> list[RuleBreach]:
    """Every rule of the procedure the timetable breaks (empty: it may be published)."""
    calendar = calendar or WorkingCalendar.default()
    breaches = []
    for rule in rules_for(segment, procedure):
        if rule.measured_from not in TIMETABLE_POINTS or rule.measured_to not in TIMETABLE_POINTS:
            continue  # counted from events (objections, publicity...), not from the timetable
        start, end = getattr(timetable, rule.measured_from), getattr(timetable, rule.measured_to)
        if start is None or end is None:
            continue  # an optional point the timetable does not give
        message = _breach_message(rule, start, end, calendar)
        if message:
            breaches.append(RuleBreach(rule=rule.id, message=message))
    return breaches


def _breach_message(rule: TimeRule, start: datetime, end: datetime, calendar: WorkingCalendar) -> str | None:
    first, second = TIMETABLE_POINTS[rule.measured_from], TIMETABLE_POINTS[rule.measured_to]
    head = f"{rule.id}: "
    tail = "" if rule.confirmed else "; this figure is unconfirmed (see trading/data/time_rules.json)"
    if rule.bound is Bound.NOT_BEFORE:
        if end >= start:
            return None
        return (f"{head}{second} may not come before {first} ({rule.source}); the timetable gives "
                f"{second} at {_local(end)} and {first} at {_local(start)} (Asia/Shanghai){tail}")
    if rule.bound is Bound.SAME_TIME:
        if end == start:
            return None
        return (f"{head}{second} must be at the same moment as {first} ({rule.source}); the timetable "
                f"gives {second} at {_local(end)} and {first} at {_local(start)} (Asia/Shanghai){tail}")
    first_day, last_day = _local_date(start), _local_date(end)
    given = _count(calendar, rule.unit, first_day, last_day)
    if rule.bound is Bound.AT_LEAST and given >= rule.amount:
        return None
    if rule.bound is Bound.WITHIN and given <= rule.amount:
        return None
    return (f"{head}{rule.requirement} from {first} to {second} ({rule.source}); the timetable gives "
            f"{_days(given, rule.unit)} ({first_day} to {last_day}){_coverage(calendar, rule, first_day, last_day)}"
            f"{tail}")


# ----------------------------------------------------------------- deadlines


def clarification_deadline(segment: str, procedure: str, *, clarified_at: datetime, bid_deadline: datetime,
                           calendar: WorkingCalendar | None = None) -> datetime | None:
    """The bid deadline a late clarification forces, or None when it is early enough.

    The new deadline is the earliest lawful day (``clarified_at`` + the cut-off, e.g.
    15 days for construction) at the old deadline's time of day; if that day is a holiday
    or weekend, the next working day (Civil Code art. 203: the bid deadline ends the
    period for submitting bids).
    """
    clarified_at = _aware(clarified_at, "clarified_at")
    bid_deadline = _aware(bid_deadline, "bid_deadline")
    rule = _find(segment, procedure, ("clarification_cutoff",))
    if rule is None:
        return None
    calendar = calendar or WorkingCalendar.default()
    earliest = _shift(calendar, rule.unit, _local_date(clarified_at), rule.amount)
    if earliest <= _local_date(bid_deadline):
        return None
    new_day = calendar.next_working_day(earliest)
    return datetime.combine(new_day, to_shanghai(bid_deadline).time(), tzinfo=SHANGHAI).astimezone(timezone.utc)


def objection_deadline(segment: str, procedure: str, stage: str, *, bid_deadline: datetime | None = None,
                       publicity_until: datetime | None = None, known_at: datetime | None = None,
                       calendar: WorkingCalendar | None = None) -> datetime | None:
    """The last moment an objection (challenge) may be raised at ``stage``; None: no limit in the rules.

    Construction: documents up to 10 days before the bid deadline, the result during the
    publicity; objections at the opening are raised in the session itself (None here).
    Procurement: 7 working days from ``known_at`` at every stage.
    """
    stage = _stage(stage)
    anchors = {"bid_deadline": bid_deadline, "publicity_until": publicity_until, "known_at": known_at}
    anchors = {name: None if value is None else _aware(value, name) for name, value in anchors.items()}
    rule = _find(segment, procedure, (f"{stage}_objection_window", "objection_window"))
    if rule is None:
        return None
    calendar = calendar or WorkingCalendar.default()
    if rule.bound is Bound.AT_LEAST:  # raised at least `amount` before an end point
        anchor = _anchor(rule, rule.measured_to, anchors)
        return _end_of_day(_shift(calendar, rule.unit, _local_date(anchor), -rule.amount))
    anchor = _anchor(rule, rule.measured_from, anchors)
    return _due(calendar, rule, anchor)


def objection_reply_due(segment: str, procedure: str, stage: str, raised_at: datetime,
                        calendar: WorkingCalendar | None = None) -> datetime:
    """When the reply to an objection raised at ``raised_at`` is due at the latest."""
    stage = _stage(stage)
    raised_at = _aware(raised_at, "raised_at")
    rule = _require(segment, procedure, (f"{stage}_objection_reply", "objection_reply"),
                    f"objection reply period at stage {stage!r}")
    return _due(calendar or WorkingCalendar.default(), rule, raised_at)


def publicity_end(segment: str, procedure: str, start: datetime, calendar: WorkingCalendar | None = None) -> datetime:
    """The earliest end of the candidate publicity, result announcement, listing or disclosure from ``start``."""
    start = _aware(start, "start")
    rule = _require(segment, procedure, PUBLICITY_KINDS, "publicity, listing or disclosure period")
    calendar = calendar or WorkingCalendar.default()
    return _end_of_day(_shift(calendar, rule.unit, _local_date(start), rule.amount))


def period_end(segment: str, procedure: str, kind: str, start: datetime,
               calendar: WorkingCalendar | None = None) -> datetime:
    """The end of the ``kind`` period counted from ``start`` (complaints, reports, extensions...)."""
    start = _aware(start, "start")
    rule = _require(segment, procedure, (kind,), f"{kind!r} period")
    calendar = calendar or WorkingCalendar.default()
    if rule.bound is Bound.WITHIN:
        return _due(calendar, rule, start)
    return _end_of_day(_shift(calendar, rule.unit, _local_date(start), rule.amount))


# ----------------------------------------------------------------- day arithmetic


def _count(calendar: WorkingCalendar, unit: DayUnit, first: date, last: date) -> int:
    """Days of ``unit`` in ``(first, last]``: the starting day is not counted."""
    if unit is DayUnit.WORKING:
        return calendar.working_days_between(first, last)
    return (last - first).days


def _shift(calendar: WorkingCalendar, unit: DayUnit, day: date, amount: int) -> date:
    if unit is DayUnit.WORKING:
        return calendar.add_working_days(day, amount)
    return day + timedelta(days=amount)


def _due(calendar: WorkingCalendar, rule: TimeRule, start: datetime) -> datetime:
    """End of the last day of a period to act; a calendar-day period ending on a day off runs on."""
    last = _shift(calendar, rule.unit, _local_date(start), rule.amount)
    if rule.unit is DayUnit.CALENDAR and rule.amount > 0:
        last = calendar.next_working_day(last)
    return _end_of_day(last)


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _local_date(moment: datetime) -> date:
    return to_shanghai(moment).date()


def _local(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


def _days(amount: int, unit: DayUnit) -> str:
    noun = "working day" if unit is DayUnit.WORKING else "day"
    return f"{amount} {noun}" if abs(amount) == 1 else f"{amount} {noun}s"


def _coverage(calendar: WorkingCalendar, rule: TimeRule, first: date, last: date) -> str:
    missing = calendar.uncovered_years(first, last) if rule.unit is DayUnit.WORKING else []
    if not missing:
        return ""
    years = ", ".join(str(year) for year in missing)
    return (f" (the working-day calendar has no official holiday data for {years}, so only weekends "
            f"were skipped; add the year to core/data/holidays.json)")


# ----------------------------------------------------------------- lookups and checks


def _find(segment: str, procedure: str, kinds: Iterable[str]) -> TimeRule | None:
    by_kind = {rule.kind: rule for rule in rules_for(segment, procedure)}
    return next((by_kind[kind] for kind in kinds if kind in by_kind), None)


def _require(segment: str, procedure: str, kinds: tuple[str, ...], what: str) -> TimeRule:
    rule = _find(segment, procedure, kinds)
    if rule is None:
        raise RuleViolation(f"the rule table has no {what} for {segment}.{procedure} "
                            f"(trading/data/time_rules.json)", rule=f"{segment}.{procedure}.{kinds[0]}")
    return rule


def _anchor(rule: TimeRule, name: str | None, anchors: Mapping[str, datetime | None]) -> datetime:
    if name not in anchors:
        raise RuleTableError(f"{rule.id} counts from {name!r}, which objection_deadline does not take")
    value = anchors[name]
    if value is None:
        raise InvalidInput(f"{rule.id} counts from {name}: give {name}", [FieldError(f"$.{name}", "required")])
    return _aware(value, name)


def _stage(stage: str) -> str:
    known = [item.value for item in ObjectionStage]
    if str(stage) not in known:
        raise InvalidInput(f"unknown objection stage {str(stage)!r}; known stages: {', '.join(known)}",
                           [FieldError("$.stage", f"one of {', '.join(known)}")])
    return str(stage)


def _aware(value: object, name: str, *, pointer: str | None = None) -> datetime:
    pointer = pointer or f"$.{name}"
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a date and time, not {value!r}", [FieldError(pointer, "not a datetime")])
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} has no time zone ({value.isoformat()}); give an aware time, e.g. in UTC",
                           [FieldError(pointer, "naive datetime: the time zone is missing")])
    return value


def _parse_rule(row: object, where: str) -> TimeRule:
    if not isinstance(row, Mapping):
        raise RuleTableError(f"{where}: a rule is an object")
    try:
        segment, procedure, kind = str(row["segment"]), str(row["procedure"]), str(row["kind"])
        rule = TimeRule(
            id=f"{segment}.{procedure}.{kind}", segment=segment, procedure=procedure, kind=kind,
            amount=row["amount"], unit=DayUnit(row["unit"]), description=str(row["description"]),
            source=str(row["source"]), confirmed=row["confirmed"], bound=Bound(row["bound"]),
            measured_from=row.get("from"), measured_to=row.get("to"))
    except KeyError as exc:
        raise RuleTableError(f"{where}: missing {exc.args[0]!r}") from None
    except ValueError as exc:
        raise RuleTableError(f"{where}: {exc}") from None
    _check_names(segment, procedure, where)
    if not isinstance(rule.amount, int) or isinstance(rule.amount, bool) or rule.amount < 0:
        raise RuleTableError(f"{where}: amount must be a whole number of days >= 0, not {rule.amount!r}")
    if not isinstance(rule.confirmed, bool) or not rule.source.strip():
        raise RuleTableError(f"{where}: every rule needs its legal source and a true/false 'confirmed'")
    if not all(isinstance(point, str) and point.isidentifier() for point in (rule.measured_from, rule.measured_to)):
        raise RuleTableError(f"{where}: 'from' and 'to' must name a timetable point or an event")
    return rule


def _parse_minimum(row: object, where: str) -> MinimumBidders:
    if not isinstance(row, Mapping) or not isinstance(row.get("count"), int) or row["count"] < 1:
        raise RuleTableError(f"{where}: needs a whole 'count' >= 1")
    _check_names(str(row.get("segment")), str(row.get("procedure")), where)
    return MinimumBidders(segment=str(row["segment"]), procedure=str(row["procedure"]), count=row["count"],
                          description=str(row.get("description") or ""), source=str(row.get("source") or ""),
                          confirmed=bool(row.get("confirmed")))


def _parse_bond_cap(row: object, where: str) -> BidBondCap:
    if not isinstance(row, Mapping):
        raise RuleTableError(f"{where}: a bid bond cap is an object")
    try:
        percent = Decimal(str(row["percent"]))
        segment, procedure = str(row["segment"]), str(row["procedure"])
        cap = BidBondCap(id=f"{segment}.{procedure}.bid_bond_cap", segment=segment, procedure=procedure,
                         percent=percent, description=str(row["description"]), source=str(row["source"]),
                         confirmed=row["confirmed"])
    except KeyError as exc:
        raise RuleTableError(f"{where}: missing {exc.args[0]!r}") from None
    except InvalidOperation:
        raise RuleTableError(f"{where}: percent must be a decimal number as text, not {row['percent']!r}") from None
    _check_names(segment, procedure, where)
    if not percent.is_finite() or not 0 < percent <= 100:
        raise RuleTableError(f"{where}: percent must be above 0 and at most 100, not {row['percent']!r}")
    if not isinstance(cap.confirmed, bool) or not cap.source.strip():
        raise RuleTableError(f"{where}: every cap needs its legal source and a true/false 'confirmed'")
    return cap


def _check_names(segment: str, procedure: str, where: str) -> None:
    if segment not in {item.value for item in Segment}:
        raise RuleTableError(f"{where}: unknown segment {segment!r}")
    if procedure != ALL_PROCEDURES and procedure not in PROCEDURES_BY_SEGMENT[Segment(segment)]:
        raise RuleTableError(f"{where}: {procedure!r} is not a procedure of {segment}")

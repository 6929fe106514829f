"""The legal limits of complaints to the regulator, as data (``trading/data/complaint_rules.json``).

Which matters need an objection (异议) or a challenge (质疑) to the tenderer first, when
the window to complain closes, when the regulator must decide on acceptance and on the
case, and how long it may suspend the procedure all differ between construction and
government procurement; each figure lives in the JSON file with its legal source, and this
module only counts. Counting follows ``trading/rules.py``: Asia/Shanghai dates, the
starting day not counted, a period ends at 24:00 of its last day, and a calendar-day
period to act that ends on a day off runs to the next working day.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from importlib import resources
from typing import Any

from core.clock import SHANGHAI, to_shanghai
from core.errors import FieldError, InvalidInput, RuleViolation
from trading.calendar import WorkingCalendar

DEFAULT_DATA = "data/complaint_rules.json"
WORKING_DAYS = "working_days"
CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True)
class Period:
    """One legal period: ``amount`` days of ``unit`` from the point named ``start``."""

    rule: str
    amount: int | None
    unit: str
    start: str
    description: str
    source: str
    confirmed: bool

    def ends(self, moment: datetime, calendar: WorkingCalendar | None = None) -> datetime:
        """The last moment of the period counted from ``moment``."""
        if self.amount is None:
            raise ValueError(f"{self.rule} has no length")
        calendar = calendar or WorkingCalendar.default()
        first = to_shanghai(moment).date()
        if self.unit == WORKING_DAYS:
            last = calendar.add_working_days(first, self.amount)
        else:
            last = first + timedelta(days=self.amount)
            if self.start != "suspended_at":  # a period to act runs on past a day off (Civil Code art. 203)
                last = calendar.next_working_day(last)
        return end_of_day(last)

    @property
    def requirement(self) -> str:
        noun = "working days" if self.unit == WORKING_DAYS else "days"
        return f"{self.amount} {noun} ({self.source})"


@dataclass(frozen=True)
class Matter:
    name: str
    objection_stage: str | None
    description: str
    source: str


@dataclass(frozen=True)
class SegmentRules:
    segment: str
    matters: dict[str, Matter]
    window: Period
    window_from_with_objection: str
    acceptance: Period
    decision: Period
    suspension: Period

    def matter(self, name: str) -> Matter:
        found = self.matters.get(name)
        if found is None:
            known = ", ".join(sorted(self.matters))
            raise InvalidInput(f"a complaint in {self.segment} is about one of: {known}; not {name!r}",
                               [FieldError("$.matter", f"one of {known}")])
        return found


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=SHANGHAI).astimezone(timezone.utc)


def rules_for(segment: str) -> SegmentRules:
    """The complaint rules of ``segment``; a segment without rules takes no complaints here."""
    found = packaged_rules().get(str(segment))
    if found is None:
        raise RuleViolation(f"the complaint rules (trading/data/complaint_rules.json) have no entry for segment "
                            f"{segment}; complaints in it are filed with the regulator directly",
                            rule=f"{segment}.complaint_rules")
    return found


@functools.cache
def packaged_rules() -> dict[str, SegmentRules]:
    text = resources.files("trading").joinpath(DEFAULT_DATA).read_text(encoding="utf-8")
    return load_rules(json.loads(text))


def load_rules(data: dict[str, Any]) -> dict[str, SegmentRules]:
    return {segment: _segment(segment, entry) for segment, entry in data["segments"].items()}


def _segment(segment: str, entry: dict[str, Any]) -> SegmentRules:
    matters = {name: Matter(name=name, objection_stage=row["objection_stage"], description=row["description"],
                            source=row["source"]) for name, row in entry["matters"].items()}
    window = entry["window"]
    return SegmentRules(segment=segment, matters=matters, window=_period(window),
                        window_from_with_objection=window["from_with_objection"],
                        acceptance=_period(entry["acceptance"]), decision=_period(entry["decision"]),
                        suspension=_period(entry["suspension"], amount_key="max", start="suspended_at"))


def _period(row: dict[str, Any], *, amount_key: str = "amount", start: str | None = None) -> Period:
    amount = row[amount_key]
    if amount is not None and (not isinstance(amount, int) or amount < 0):
        raise ValueError(f"{row['rule']}: {amount_key} must be a whole number of days")
    if row["unit"] not in (WORKING_DAYS, CALENDAR_DAYS):
        raise ValueError(f"{row['rule']}: unit must be {WORKING_DAYS} or {CALENDAR_DAYS}")
    return Period(rule=row["rule"], amount=amount, unit=row["unit"], start=start or row["from"],
                  description=row["description"], source=row["source"], confirmed=bool(row["confirmed"]))

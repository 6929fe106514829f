"""The working-day calendar: which Asia/Shanghai dates are working days (工作日).

Shared by every domain that counts legal periods in working days (trading's time rules,
complaints, the expert pool's draw timing); ``trading.calendar`` re-exports it.

Legal periods counted in working days (government procurement's 5 working days of
document availability, 7 working days to challenge, state property's 20 working days of
disclosure...) skip weekends and public holidays, and count the weekend days the State
Council turns into working days (调休上班). Those days change every year, so they are
configuration: ``core/data/holidays.json`` holds the official schedules
(国务院办公厅关于部分节假日安排的通知), one entry per year, and a new year is added by
editing that file.

A year without an entry is not *covered*: the calendar then treats Monday to Friday as
working days, which is wrong around holidays, and callers say so (see
:meth:`WorkingCalendar.covers`) instead of pretending to know.

Counting follows the rule for legal periods (Civil Code arts. 200-204): the day an event
happens is not counted, so :meth:`add_working_days` and :meth:`working_days_between`
start from the day after.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

DEFAULT_DATA = "data/holidays.json"
"""The packaged schedules, relative to the ``core`` package."""

_SATURDAY = 5
_MAX_SPAN_DAYS = 366 * 20  # a guard against runaway loops on absurd input, far beyond any legal period


class CalendarDataError(ValueError):
    """The holiday data is inconsistent (bad date, weekday marked as adjusted working day...)."""


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: its holidays and its adjusted working weekend days."""

    year: int
    source: str
    holidays: frozenset[date]
    working_weekends: frozenset[date]


class WorkingCalendar:
    """Working days of the Asia/Shanghai calendar, from official yearly schedules.

    Build it with :meth:`default` (the packaged schedules, loaded once) or
    :meth:`from_data` (the same shape as ``holidays.json``, for tests and configuration).
    """

    def __init__(self, schedules: Iterable[YearSchedule]) -> None:
        self._years = {schedule.year: schedule for schedule in schedules}
        self._holidays = frozenset().union(*(s.holidays for s in self._years.values()))
        self._working_weekends = frozenset().union(*(s.working_weekends for s in self._years.values()))

    # ----------------------------------------------------------------- building

    @classmethod
    def default(cls) -> WorkingCalendar:
        """The calendar of ``trading/data/holidays.json``, read once per process."""
        return _packaged_calendar()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """A calendar from ``{"years": {"2026": {"holidays": [...], "working_weekends": [...]}}}``."""
        years = data.get("years") if isinstance(data, Mapping) else None
        if not isinstance(years, Mapping):
            raise CalendarDataError("holiday data needs a 'years' object keyed by year")
        return cls(_parse_year(key, entry) for key, entry in years.items())

    # ----------------------------------------------------------------- questions

    @property
    def covered_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._years))

    def covers(self, day: date) -> bool:
        """Whether the official schedule of ``day``'s year is known."""
        return _as_date(day).year in self._years

    def uncovered_years(self, start: date, end: date) -> list[int]:
        """The years between ``start`` and ``end`` (inclusive, any order) with no official data."""
        first, last = sorted((_as_date(start).year, _as_date(end).year))
        return [year for year in range(first, last + 1) if year not in self._years]

    def source_of(self, year: int) -> str | None:
        schedule = self._years.get(year)
        return schedule.source if schedule else None

    def is_working_day(self, day: date) -> bool:
        """Weekdays are working days unless a holiday; weekends are not, unless adjusted (调休)."""
        day = _as_date(day)
        if day in self._working_weekends:
            return True
        if day in self._holidays:
            return False
        return day.weekday() < _SATURDAY

    def add_working_days(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself is not counted).

        A negative ``count`` goes back: ``-3`` is the third working day before ``day``;
        ``0`` is ``day`` itself.
        """
        day = _as_date(day)
        step = timedelta(days=1 if count >= 0 else -1)
        remaining = abs(count)
        walked = 0
        while remaining:
            day += step
            walked += 1
            if walked > _MAX_SPAN_DAYS:
                raise ValueError(f"{count} working days is beyond any legal period")
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; negative (counting ``(end, start]``) when end < start."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        if (end - start).days > _MAX_SPAN_DAYS:
            raise ValueError(f"{start} to {end} is beyond any legal period")
        return sum(1 for offset in range(1, (end - start).days + 1)
                   if self.is_working_day(start + timedelta(days=offset)))

    def next_working_day(self, day: date) -> date:
        """``day`` if it is a working day, else the first working day after it.

        This is Civil Code art. 203: when the last day of a period is a statutory holiday,
        the period ends on the day after the holiday.
        """
        day = _as_date(day)
        return day if self.is_working_day(day) else self.add_working_days(day, 1)


@functools.cache
def _packaged_calendar() -> WorkingCalendar:
    text = resources.files("core").joinpath(DEFAULT_DATA).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarDataError(f"core/{DEFAULT_DATA} is not valid JSON: {exc}") from None
    return WorkingCalendar.from_data(data)


def _as_date(day: date) -> date:
    """Dates only: a datetime's calendar date depends on its zone, so the caller picks it."""
    if not isinstance(day, date) or hasattr(day, "hour"):
        raise TypeError(f"a date is needed (the Asia/Shanghai calendar date), not {day!r}")
    return day


def _parse_year(key: object, entry: object) -> YearSchedule:
    try:
        year = int(str(key))
    except ValueError:
        raise CalendarDataError(f"year key {key!r} is not a year") from None
    if not isinstance(entry, Mapping):
        raise CalendarDataError(f"{year}: the schedule must be an object")
    holidays: set[date] = set()
    for index, item in enumerate(entry.get("holidays") or []):
        where = f"{year}.holidays[{index}]"
        if not isinstance(item, Mapping):
            raise CalendarDataError(f"{where}: a holiday is an object with 'from' and 'until'")
        first, last = _parse_date(item.get("from"), where), _parse_date(item.get("until"), where)
        if last < first:
            raise CalendarDataError(f"{where}: 'until' {last} is before 'from' {first}")
        holidays.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    working = {_parse_date(text, f"{year}.working_weekends") for text in entry.get("working_weekends") or []}
    for day in sorted(holidays | working):
        if day.year != year:
            raise CalendarDataError(f"{year}: {day} belongs to another year")
    for day in sorted(working):
        if day.weekday() < _SATURDAY:
            raise CalendarDataError(f"{year}: adjusted working day {day} is a weekday, not a weekend day")
        if day in holidays:
            raise CalendarDataError(f"{year}: {day} is listed both as a holiday and as a working day")
    return YearSchedule(year=year, source=str(entry.get("source") or ""),
                        holidays=frozenset(holidays), working_weekends=frozenset(working))


def _parse_date(text: object, where: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise CalendarDataError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None

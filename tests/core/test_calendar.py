"""The working-day calendar against the State Council schedules of 2025 and 2026."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.calendar import CalendarDataError, WorkingCalendar


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


def test_default_is_loaded_once(calendar):
    assert WorkingCalendar.default() is calendar
    assert calendar.covered_years == (2025, 2026)
    assert "2026" in calendar.source_of(2026)


@pytest.mark.parametrize(("day", "working"), [
    (date(2026, 2, 13), True),   # Friday before the Spring Festival
    (date(2026, 2, 14), True),   # Saturday, adjusted working day (调休上班)
    (date(2026, 2, 15), False),  # first day of the Spring Festival holiday
    (date(2026, 2, 17), False),  # Spring Festival, a Tuesday
    (date(2026, 2, 23), False),  # last day of the holiday, a Monday
    (date(2026, 2, 24), True),
    (date(2026, 2, 28), True),   # Saturday, adjusted working day
    (date(2026, 3, 1), False),   # ordinary Sunday
    (date(2026, 9, 20), True),   # Sunday, adjusted working day before National Day
    (date(2026, 9, 25), False),  # Mid-Autumn Festival, a Friday
    (date(2026, 10, 1), False),
    (date(2026, 10, 7), False),  # National Day holiday, a Wednesday
    (date(2026, 10, 8), True),
    (date(2026, 10, 10), True),  # Saturday, adjusted working day
    (date(2026, 10, 11), False),
    (date(2026, 1, 4), True),    # Sunday after New Year, adjusted
    (date(2025, 1, 26), True),   # 2025 Spring Festival adjusted Sunday
    (date(2025, 10, 8), False),  # 2025 National Day and Mid-Autumn, 8 days
    (date(2025, 10, 11), True),
])
def test_is_working_day(calendar, day, working):
    assert calendar.is_working_day(day) is working


def test_working_days_across_the_2026_spring_festival(calendar):
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    # 13 Fri, 14 Sat (adjusted), then 24, 25, 26 after the holiday
    assert calendar.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6
    assert calendar.working_days_between(date(2026, 2, 14), date(2026, 2, 23)) == 0


def test_working_days_across_the_2026_national_day(calendar):
    assert calendar.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)  # adjusted Sunday
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)  # adjusted Saturday
    assert calendar.add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    # 24 Thu; 25-27 Mid-Autumn; 28, 29, 30; 1-7 National Day; 8, 9, 10 (Sat)
    assert calendar.working_days_between(date(2026, 9, 24), date(2026, 10, 11)) == 6


def test_the_starting_day_is_not_counted(calendar):
    monday = date(2026, 3, 2)
    assert calendar.add_working_days(monday, 0) == monday
    assert calendar.add_working_days(monday, 1) == date(2026, 3, 3)
    assert calendar.working_days_between(monday, monday) == 0
    assert calendar.working_days_between(monday, date(2026, 3, 3)) == 1


def test_counting_backwards(calendar):
    assert calendar.add_working_days(date(2026, 2, 24), -1) == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 24), -2) == date(2026, 2, 13)
    assert calendar.working_days_between(date(2026, 2, 28), date(2026, 2, 13)) == -6


def test_next_working_day_rolls_over_holidays(calendar):
    assert calendar.next_working_day(date(2026, 2, 16)) == date(2026, 2, 24)
    assert calendar.next_working_day(date(2026, 2, 14)) == date(2026, 2, 14)
    assert calendar.next_working_day(date(2026, 3, 7)) == date(2026, 3, 9)


def test_a_year_without_data_is_not_covered_and_uses_weekends_only(calendar):
    assert calendar.covers(date(2026, 12, 31))
    assert not calendar.covers(date(2027, 1, 1))
    assert calendar.uncovered_years(date(2026, 12, 1), date(2028, 1, 5)) == [2027, 2028]
    assert calendar.uncovered_years(date(2026, 1, 1), date(2025, 1, 1)) == []
    # 2027's Spring Festival is unknown here: Monday 8 February counts as a working day
    assert calendar.add_working_days(date(2027, 2, 5), 1) == date(2027, 2, 8)
    assert calendar.is_working_day(date(2027, 10, 1))


def test_from_data_builds_a_calendar_for_tests_or_configuration():
    custom = WorkingCalendar.from_data({"years": {"2030": {
        "holidays": [{"name": "test", "from": "2030-01-01", "until": "2030-01-02"}],
        "working_weekends": ["2030-01-05"]}}})
    assert not custom.is_working_day(date(2030, 1, 1))
    assert custom.is_working_day(date(2030, 1, 5))
    assert custom.covers(date(2030, 6, 1)) and not custom.covers(date(2026, 1, 1))
    assert custom.is_working_day(date(2026, 2, 17))  # this calendar does not know 2026


@pytest.mark.parametrize(("data", "complaint"), [
    ({}, "'years'"),
    ({"years": {"20x6": {}}}, "not a year"),
    ({"years": {"2026": {"holidays": [{"from": "2026-02-30", "until": "2026-03-01"}]}}}, "not a date"),
    ({"years": {"2026": {"holidays": [{"from": "2026-03-02", "until": "2026-03-01"}]}}}, "before"),
    ({"years": {"2026": {"holidays": ["2026-03-02"]}}}, "an object"),
    ({"years": {"2026": {"working_weekends": ["2026-03-02"]}}}, "is a weekday"),
    ({"years": {"2026": {"working_weekends": ["2025-03-01"]}}}, "another year"),
    ({"years": {"2026": {"holidays": [{"from": "2026-02-28", "until": "2026-02-28"}],
                         "working_weekends": ["2026-02-28"]}}}, "both"),
])
def test_inconsistent_holiday_data_is_refused(data, complaint):
    with pytest.raises(CalendarDataError, match=complaint):
        WorkingCalendar.from_data(data)


def test_datetimes_are_refused_where_a_shanghai_date_is_meant(calendar):
    with pytest.raises(TypeError, match="Asia/Shanghai"):
        calendar.is_working_day(datetime(2026, 3, 2, 12, 0))

"""The working-day calendar lives in ``core.calendar`` (the expert pool counts working days
too); trading's modules import it from here as before."""

from __future__ import annotations

from core.calendar import CalendarDataError, WorkingCalendar, YearSchedule

__all__ = ["CalendarDataError", "WorkingCalendar", "YearSchedule"]

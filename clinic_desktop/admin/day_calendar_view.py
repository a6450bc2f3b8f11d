"""A day calendar: one column per dentist (or per chair), appointments as blocks coloured by type, hours shaded."""

from __future__ import annotations

from .calendar_grid import REPAINT_INTERVAL_MS, CalendarGrid

__all__ = ["REPAINT_INTERVAL_MS", "DayCalendarView"]

_HEADER = CalendarGrid.header_height  # px for the column titles (tests aim at the grid with these)
_GUTTER = CalendarGrid.gutter  # px for the hour labels


class DayCalendarView(CalendarGrid):
    """One day, side by side per dentist or per chair; drag, resize and keys come from CalendarGrid."""

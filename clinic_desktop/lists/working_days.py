"""Which days the confirmation list covers, from the store alone (pure: no Qt)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..clinic_clock import ClinicClock, parse_instant
from ..store import EntityStore

__all__ = ["next_working_days"]


def next_working_days(store: EntityStore, clock: ClinicClock, count: int) -> list[date]:
    """The next `count` days after today on which someone works: a weekday with working hours, not a day the
    whole clinic is closed (an exception with no dentist covering the whole day)."""
    weekdays = {int(row["weekday"]) for row in store.rows("working_hours")}
    closed: list[tuple[datetime, datetime]] = [
        (parse_instant(row["start"]), parse_instant(row["end"])) for row in store.rows("schedule_exception")
        if row.get("dentist_id") is None and row.get("kind") == "closed"]
    days: list[date] = []
    day = clock.today()
    for _ in range(366):
        if len(days) >= count or not weekdays:
            break
        day += timedelta(days=1)
        if day.weekday() not in weekdays:
            continue
        lo, hi = clock.day_bounds(day)
        if any(start <= lo and end >= hi for start, end in closed):
            continue
        days.append(day)
    return days

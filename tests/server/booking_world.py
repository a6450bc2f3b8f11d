"""The demo clinic as the pure booking rules see it: ids, types, hours and fixed instants for rule tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from server.booking import ApptType, ClinicSettings, WorkingPeriod

SMITH, PATEL = 1, 2
ALICE, BOB = 7, 8
CHAIR_1, CHAIR_2 = 11, 12
LONDON = ZoneInfo("Europe/London")
SETTINGS = ClinicSettings()
CHECK_UP = ApptType(1, "Check-up", 30)
CLEANING = ApptType(2, "Cleaning", 45)
FILLING = ApptType(3, "Filling", 60)
ROOT_CANAL = ApptType(4, "Root canal", 90, patient_bookable=False)
HOURS = [  # Mon-Fri 09:00-12:00 and 13:00-17:00 for both dentists
    WorkingPeriod(dentist, weekday, start, end)
    for dentist in (SMITH, PATEL)
    for weekday in range(5)
    for start, end in ((time(9), time(12)), (time(13), time(17)))
]
MONDAY = date(2026, 4, 20)
NOW = datetime(2026, 4, 13, 8, 0, tzinfo=UTC)  # a week before, 09:00 in London


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A London wall-clock instant."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=LONDON)

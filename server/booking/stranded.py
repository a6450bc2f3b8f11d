"""Appointments a change of hours leaves outside working time ("stranded"), for the server and the app alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from .calendar import local_date, working_intervals
from .model import BusyInterval, ScheduleException, WorkingPeriod
from .settings import ClinicSettings

__all__ = ["NEEDS_TIME", "stranded_ids"]

# Statuses still waiting for their time: an appointment in the chair or done is past rebooking.
NEEDS_TIME = frozenset({"scheduled", "confirmed", "checked_in"})


def stranded_ids(
    settings: ClinicSettings,
    appointments: Iterable[BusyInterval],
    hours: Sequence[WorkingPeriod],
    exceptions: Sequence[ScheduleException],
) -> list[int]:
    """Ids of the appointments that do not lie wholly inside one of their dentist's working intervals.

    The same rule a booking must pass (weekly hours minus closures plus extras, per local date), so a
    day off or shortened hours over a booked time is reported exactly where a new booking would be refused.
    """
    intervals: dict[tuple[int, date], list[tuple[datetime, datetime]]] = {}
    out: list[int] = []
    for appt in appointments:
        if appt.dentist_id is None or appt.appointment_id is None:
            continue
        key = (appt.dentist_id, local_date(appt.start, settings.zone))
        if key not in intervals:
            intervals[key] = working_intervals(settings, appt.dentist_id, key[1], hours, exceptions)
        if not any(start <= appt.start and appt.end <= end for start, end in intervals[key]):
            out.append(appt.appointment_id)
    return out

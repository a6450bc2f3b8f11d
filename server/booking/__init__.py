"""The booking rules: pure functions over plain values, with no database, sockets or Qt.

The server loads rows, turns them into these value types, asks these functions, and writes;
the assistant asks the same functions, so every path into the schedule obeys one set of rules.
All instants are timezone-aware and come back in UTC; working hours are clinic-local wall time.
"""

from __future__ import annotations

from .calendar import working_intervals
from .errors import BookingError
from .model import (
    ApptType,
    Blockout,
    BusyInterval,
    ScheduleException,
    Slot,
    WorkingPeriod,
)
from .rules import (
    OVERRIDABLE,
    check_booking,
    check_duration,
    check_patient_change,
    may_act_on,
)
from .settings import ClinicSettings
from .slots import find_slots
from .status import OCCUPYING, check_transition, next_statuses, undo_statuses
from .stranded import NEEDS_TIME, stranded_ids

__all__ = [
    "NEEDS_TIME",
    "OCCUPYING",
    "OVERRIDABLE",
    "ApptType",
    "Blockout",
    "BookingError",
    "BusyInterval",
    "ClinicSettings",
    "ScheduleException",
    "Slot",
    "WorkingPeriod",
    "check_booking",
    "check_duration",
    "check_patient_change",
    "check_transition",
    "find_slots",
    "may_act_on",
    "next_statuses",
    "stranded_ids",
    "undo_statuses",
    "working_intervals",
]

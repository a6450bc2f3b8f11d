"""Plain value types the booking rules work on, built by the server from database rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from ._common import require_aware

__all__ = ["EXCEPTION_KINDS", "ApptType", "Blockout", "BusyInterval", "ScheduleException", "Slot", "WorkingPeriod"]

EXCEPTION_KINDS = frozenset({"closed", "extra"})


@dataclass(frozen=True, slots=True)
class WorkingPeriod:
    """One stretch of a dentist's weekly hours in local wall-clock time; a break is the gap between two."""

    dentist_id: int
    weekday: int  # 0 = Monday
    start: time
    end: time  # 00:00 means midnight at the end of the day

    def __post_init__(self) -> None:
        """Catch impossible rows early rather than silently producing no hours."""
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.end != time(0) and self.end <= self.start:
            raise ValueError("a working period must end after it starts")


@dataclass(frozen=True, slots=True)
class ScheduleException:
    """A one-off change to the hours: `closed` removes time, `extra` adds bookable time."""

    dentist_id: int | None  # None = the whole clinic
    start: datetime
    end: datetime
    kind: str  # "closed" | "extra"
    reason: str = ""

    def __post_init__(self) -> None:
        """Keep exceptions well formed so interval arithmetic never sees nonsense."""
        require_aware("start", self.start)
        require_aware("end", self.end)
        if self.end <= self.start:
            raise ValueError("an exception must end after it starts")
        if self.kind not in EXCEPTION_KINDS:
            raise ValueError(f"kind must be one of {sorted(EXCEPTION_KINDS)}")


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """An existing appointment that occupies its dentist, patient and chair for its duration."""

    start: datetime
    end: datetime
    dentist_id: int | None = None
    patient_id: int | None = None
    chair_id: int | None = None
    appointment_id: int | None = None

    def __post_init__(self) -> None:
        """Busy blocks must be comparable instants in the right order."""
        require_aware("start", self.start)
        require_aware("end", self.end)
        if self.end < self.start:
            raise ValueError("a busy interval must not end before it starts")


@dataclass(frozen=True, slots=True)
class Blockout:
    """A typed block on the schedule (a meeting, lunch, an emergency reserve…) of one dentist, one chair,
    or (both None) the whole clinic. `allow_online` comes from its type: whether online (patient) and
    assistant bookings may use the time. Time whose type does not allow it is closed to them, and staff
    book into it only with an explicit override."""

    start: datetime
    end: datetime
    type_name: str
    allow_online: bool = False
    dentist_id: int | None = None
    chair_id: int | None = None

    def __post_init__(self) -> None:
        require_aware("start", self.start)
        require_aware("end", self.end)
        if self.end <= self.start:
            raise ValueError("a blockout must end after it starts")

    def applies_to(self, dentist_id: int, chair_id: int | None) -> bool:
        """Whether this block covers a booking with this dentist in this chair (None: no chair)."""
        return (self.dentist_id is None or self.dentist_id == dentist_id) and (
            self.chair_id is None or self.chair_id == chair_id)

    @property
    def closed(self) -> bool:
        """Whether the block keeps bookings out (those without an override)."""
        return not self.allow_online


@dataclass(frozen=True, slots=True)
class ApptType:
    """A kind of appointment: how long it takes and whether patients may book it themselves."""

    id: int
    name: str
    duration_minutes: int
    patient_bookable: bool = True

    def __post_init__(self) -> None:
        """A zero-length appointment would fit everywhere and mean nothing."""
        if self.duration_minutes <= 0:
            raise ValueError("duration_minutes must be positive")


@dataclass(frozen=True, slots=True)
class Slot:
    """A free start time for one dentist, with the end the appointment type implies (UTC)."""

    dentist_id: int
    start: datetime
    end: datetime

"""Finding free start times: working intervals minus busy time, stepped along the slot grid."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from server.protocol import Reason

from ._common import require_aware, require_role
from .calendar import (
    Interval,
    day_bounds,
    day_intervals,
    grid_starts,
    local_date,
    merge,
    subtract,
)
from .errors import BookingError
from .model import (
    ApptType,
    Blockout,
    BusyInterval,
    ScheduleException,
    Slot,
    WorkingPeriod,
)
from .settings import ClinicSettings

__all__ = ["find_slots"]


class _BusyIndex:
    """Merged busy intervals sorted by start, so a day's slice is two bisects instead of a scan."""

    __slots__ = ("ends", "intervals", "starts")

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = merge(intervals)
        self.starts = [s for s, _ in self.intervals]
        self.ends = [e for _, e in self.intervals]  # sorted too, because merged intervals are disjoint

    def within(self, lo: datetime, hi: datetime) -> list[Interval]:
        """The busy intervals that overlap [lo, hi)."""
        return self.intervals[bisect_right(self.ends, lo) : bisect_left(self.starts, hi)]


def find_slots(
    *,
    settings: ClinicSettings,
    appt_type: ApptType,
    dentist_ids: Iterable[int],
    date_from: date,
    date_to: date,
    hours: Iterable[WorkingPeriod],
    exceptions: Iterable[ScheduleException],
    busy: Iterable[BusyInterval],
    now: datetime,
    role: str,
    patient_id: int | None = None,
    blockouts: Iterable[Blockout] = (),
    chair_id: int | None = None,
    duration_minutes: int | None = None,
) -> list[Slot]:
    """Free start times for a type between two local dates (inclusive), sorted by (start, dentist_id).

    A start is offered when it is on the local slot grid, not in the past, and the whole duration
    fits inside one working interval without touching a busy interval of the dentist or, when
    `patient_id` is given, of the patient. Patients also get the notice and advance windows, and
    are refused a staff-only type outright.

    Blockouts whose type does not allow online bookings are never offered (staff book into them only
    with an explicit override, patients and the assistant not at all). With `chair_id`, the chair's
    appointments and blockouts are busy time too. `duration_minutes` (staff) replaces the type's length.
    """
    require_role(role)
    require_aware("now", now)
    if role == "patient" and not appt_type.patient_bookable:
        raise BookingError(
            Reason.FORBIDDEN,
            f"{appt_type.name} appointments can only be booked by the clinic; please call us.",
        )
    zone = settings.zone
    now = now.astimezone(UTC)
    if duration_minutes is not None and role == "patient":
        raise BookingError(Reason.FORBIDDEN, "Only the clinic can choose an appointment's length.")
    duration = timedelta(minutes=duration_minutes if duration_minutes is not None else appt_type.duration_minutes)
    earliest = now
    latest: datetime | None = None
    if role == "patient":
        earliest = now + timedelta(minutes=settings.min_notice_minutes)
        latest = now + timedelta(days=settings.max_advance_days)
    first_day = max(date_from, local_date(earliest, zone))
    last_day = date_to if latest is None else min(date_to, local_date(latest, zone))
    if first_day > last_day:
        return []

    dentists = list(dict.fromkeys(dentist_ids))
    wanted = set(dentists)
    range_lo, _ = day_bounds(first_day, zone)
    _, range_hi = day_bounds(last_day, zone)

    periods: dict[int, list[WorkingPeriod]] = defaultdict(list)
    for period in hours:
        if period.dentist_id in wanted:
            periods[period.dentist_id].append(period)
    clinic_exceptions: list[ScheduleException] = []
    own_exceptions: dict[int, list[ScheduleException]] = defaultdict(list)
    for exc in exceptions:
        if exc.start >= range_hi or exc.end <= range_lo:
            continue
        if exc.dentist_id is None:
            clinic_exceptions.append(exc)
        elif exc.dentist_id in wanted:
            own_exceptions[exc.dentist_id].append(exc)
    busy_by_dentist: dict[int, list[Interval]] = defaultdict(list)
    shared_busy: list[Interval] = []
    for block in busy:
        if block.end <= range_lo or block.start >= range_hi:
            continue
        interval = (block.start.astimezone(UTC), block.end.astimezone(UTC))
        if block.dentist_id is not None and block.dentist_id in wanted:
            busy_by_dentist[block.dentist_id].append(interval)
        if patient_id is not None and block.patient_id == patient_id:
            shared_busy.append(interval)
        elif chair_id is not None and block.chair_id == chair_id:
            shared_busy.append(interval)  # the chair: busy for every dentist
    for blocked in blockouts:
        if not blocked.closed or blocked.end <= range_lo or blocked.start >= range_hi:
            continue
        interval = (blocked.start.astimezone(UTC), blocked.end.astimezone(UTC))
        if blocked.chair_id is not None and blocked.chair_id != chair_id:
            continue
        if blocked.dentist_id is None:
            shared_busy.append(interval)
        elif blocked.dentist_id in wanted:
            busy_by_dentist[blocked.dentist_id].append(interval)
    busy_index = {d: _BusyIndex(busy_by_dentist[d] + shared_busy) for d in dentists}

    slots: list[Slot] = []
    day = first_day
    while day <= last_day:
        for dentist_id in dentists:
            working = day_intervals(
                day, zone, periods[dentist_id], clinic_exceptions + own_exceptions[dentist_id]
            )
            if not working:
                continue
            taken = busy_index[dentist_id].within(working[0][0], working[-1][1])
            for free in subtract(working, taken):
                lo = max(free[0], earliest)
                hi = free[1] if latest is None else min(free[1], latest + duration)
                if lo >= hi:
                    continue
                for start in grid_starts((lo, hi), day, zone, settings.slot_minutes, duration):
                    slots.append(Slot(dentist_id, start, start + duration))
        day += timedelta(days=1)
    slots.sort(key=lambda slot: (slot.start, slot.dentist_id))
    return slots

"""Local-calendar arithmetic: a dentist's working intervals on a local date and the start-time grid.

Working hours are local wall-clock times in the clinic's zone; they are expanded per date with
`zoneinfo`, so 09:00 is 09:00 local on both sides of a DST change. A local time that does not exist
(spring forward) or occurs twice (fall back) is resolved with fold=0, i.e. with the offset in force
before the change. Every instant leaving this module is in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .model import ScheduleException, WorkingPeriod
from .settings import ClinicSettings

__all__ = ["working_intervals"]

Interval = tuple[datetime, datetime]

_ONE_DAY = timedelta(days=1)


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time on a local date (fold=0 for gaps and overlaps)."""
    return datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=zone).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> Interval:
    """The local date as a half-open UTC interval: local midnight to the next local midnight."""
    return local_instant(day, time(0), zone), local_instant(day + _ONE_DAY, time(0), zone)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The clinic-local date an instant falls on."""
    return instant.astimezone(zone).date()


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort intervals and join the ones that overlap or touch, so "inside one interval" is meaningful."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(intervals: Sequence[Interval], cuts: Sequence[Interval]) -> list[Interval]:
    """Remove merged, sorted `cuts` from merged, sorted `intervals` in one sweep (half-open intervals)."""
    result: list[Interval] = []
    j = 0
    for start, end in intervals:
        while j < len(cuts) and cuts[j][1] <= start:
            j += 1
        cursor = start
        k = j
        while k < len(cuts) and cuts[k][0] < end:
            cut_start, cut_end = cuts[k]
            if cut_start > cursor:
                result.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def clip(intervals: Iterable[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    """Cut intervals to [lo, hi), dropping the ones that fall outside."""
    return [(max(s, lo), min(e, hi)) for s, e in intervals if s < hi and e > lo]


def _weekly(day: date, zone: ZoneInfo, periods: Iterable[WorkingPeriod]) -> list[Interval]:
    """The weekly periods of that weekday turned into UTC instants for this local date."""
    weekday = day.weekday()
    out: list[Interval] = []
    for period in periods:
        if period.weekday != weekday:
            continue
        start = local_instant(day, period.start, zone)
        end_day = day + _ONE_DAY if period.end == time(0) else day
        end = local_instant(end_day, period.end, zone)
        if start < end:  # a period lying wholly inside a DST gap can collapse; drop it
            out.append((start, end))
    return out


def day_intervals(
    day: date,
    zone: ZoneInfo,
    periods: Iterable[WorkingPeriod],
    exceptions: Iterable[ScheduleException],
) -> list[Interval]:
    """Working intervals for periods and exceptions already known to concern this dentist.

    The order matters and follows the rule the clinic uses: weekly hours minus every closure,
    then plus every extra, so an explicitly added stretch of hours is always bookable.
    """
    lo, hi = day_bounds(day, zone)
    closed: list[Interval] = []
    extra: list[Interval] = []
    for exc in exceptions:
        if exc.start < hi and exc.end > lo:
            span = (max(exc.start.astimezone(UTC), lo), min(exc.end.astimezone(UTC), hi))
            (closed if exc.kind == "closed" else extra).append(span)
    hours = subtract(merge(_weekly(day, zone, periods)), merge(closed))
    return merge(clip(hours + extra, lo, hi))


def working_intervals(
    settings: ClinicSettings,
    dentist_id: int,
    day: date,
    hours: Iterable[WorkingPeriod],
    exceptions: Iterable[ScheduleException],
) -> list[tuple[datetime, datetime]]:
    """The dentist's bookable intervals on a local date, in UTC, sorted and merged."""
    return day_intervals(
        day,
        settings.zone,
        (p for p in hours if p.dentist_id == dentist_id),
        (e for e in exceptions if e.dentist_id is None or e.dentist_id == dentist_id),
    )


def is_on_grid(instant: datetime, zone: ZoneInfo, slot_minutes: int) -> bool:
    """Whether an instant's local wall-clock time is a whole multiple of the slot from local midnight."""
    local = instant.astimezone(zone)
    if local.second or local.microsecond:
        return False
    return (local.hour * 60 + local.minute) % slot_minutes == 0


def grid_starts(
    free: Interval, day: date, zone: ZoneInfo, slot_minutes: int, duration: timedelta
) -> list[datetime]:
    """Every grid start time in a free interval of that local date whose whole duration fits in it.

    Where the UTC offset is the same at both ends the grid is evenly spaced in UTC and is stepped
    through directly; an interval spanning a DST change enumerates the day's local grid instead,
    keeping both occurrences of a repeated wall time and skipping wall times that never happen.
    """
    start, end = free
    latest = end - duration
    if latest < start:
        return []
    step = timedelta(minutes=slot_minutes)
    if start.astimezone(zone).utcoffset() == end.astimezone(zone).utcoffset():
        local = start.astimezone(zone)
        since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
        remainder = since_midnight % step
        first = start if not remainder else start + (step - remainder)
        count = (latest - first) // step + 1 if first <= latest else 0
        return [first + i * step for i in range(count)]
    return [s for s in day_grid(day, zone, slot_minutes) if start <= s <= latest]


def day_grid(day: date, zone: ZoneInfo, slot_minutes: int) -> list[datetime]:
    """All UTC instants on a local date whose wall-clock time lies on the grid (both folds, no gaps)."""
    instants: set[datetime] = set()
    for minute in range(0, 24 * 60, slot_minutes):
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        for fold in (0, 1):
            instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == wall:  # exists on this date
                instants.add(instant)
    return sorted(instants)

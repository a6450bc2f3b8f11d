"""Working intervals on local dates: weekly hours, breaks, exceptions and DST change days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.booking import (
    ApptType,
    ClinicSettings,
    ScheduleException,
    Slot,
    WorkingPeriod,
    find_slots,
    working_intervals,
)

SMITH, PATEL = 1, 2
LONDON = ZoneInfo("Europe/London")
SETTINGS = ClinicSettings()
CHECK_UP = ApptType(1, "Check-up", 30)


def weekdays(dentist_id: int, days: range = range(5)) -> list[WorkingPeriod]:
    """09:00-17:00 with a 12:00-13:00 break on the given weekdays (demo hours by default)."""
    return [
        period
        for weekday in days
        for period in (
            WorkingPeriod(dentist_id, weekday, time(9), time(12)),
            WorkingPeriod(dentist_id, weekday, time(13), time(17)),
        )
    ]


HOURS = weekdays(SMITH) + weekdays(PATEL)


def utc(*args: int) -> datetime:
    """A UTC instant."""
    return datetime(*args, tzinfo=UTC)


def local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = LONDON) -> datetime:
    """A clinic-local wall-clock instant."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


WEDNESDAY = date(2026, 4, 15)  # British Summer Time: local = UTC + 1
SATURDAY = date(2026, 4, 18)


def test_break_splits_the_day_into_two_intervals() -> None:
    """A 12:00-13:00 break leaves a morning and an afternoon interval, in UTC."""
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, []) == [
        (utc(2026, 4, 15, 8), utc(2026, 4, 15, 11)),
        (utc(2026, 4, 15, 12), utc(2026, 4, 15, 16)),
    ]


def test_results_are_in_utc() -> None:
    """Every returned instant carries the UTC zone, whatever the clinic's zone is."""
    for start, end in working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, []):
        assert start.tzinfo is UTC and end.tzinfo is UTC


def test_only_that_dentists_hours_count() -> None:
    """A colleague's hours do not make a dentist available."""
    hours = weekdays(PATEL)
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, hours, []) == []
    assert working_intervals(SETTINGS, PATEL, WEDNESDAY, hours, []) != []


def test_touching_periods_are_merged() -> None:
    """Two periods that meet at 12:00 form one interval, so an appointment may span the seam."""
    hours = [
        WorkingPeriod(SMITH, 2, time(9), time(12)),
        WorkingPeriod(SMITH, 2, time(12), time(13)),
    ]
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, hours, []) == [
        (utc(2026, 4, 15, 8), utc(2026, 4, 15, 12))
    ]


def test_clinic_wide_closed_day_removes_everyones_hours() -> None:
    """A whole-clinic closure (dentist_id None) leaves no working time for any dentist."""
    closed = ScheduleException(
        None, local(WEDNESDAY, 0), local(WEDNESDAY + timedelta(days=1), 0), "closed", "Staff training"
    )
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, [closed]) == []
    assert working_intervals(SETTINGS, PATEL, WEDNESDAY, HOURS, [closed]) == []
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY + timedelta(days=1), HOURS, [closed]) != []


def test_dentists_day_off_does_not_touch_a_colleague() -> None:
    """A closure for one dentist removes their hours only."""
    day_off = ScheduleException(
        SMITH, local(WEDNESDAY, 0), local(WEDNESDAY + timedelta(days=1), 0), "closed", "Day off"
    )
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, [day_off]) == []
    assert working_intervals(SETTINGS, PATEL, WEDNESDAY, HOURS, [day_off]) == [
        (utc(2026, 4, 15, 8), utc(2026, 4, 15, 11)),
        (utc(2026, 4, 15, 12), utc(2026, 4, 15, 16)),
    ]


def test_partial_closure_cuts_a_hole() -> None:
    """A two-hour closure in the afternoon splits the afternoon interval around it."""
    dentist_appt = ScheduleException(SMITH, local(WEDNESDAY, 14), local(WEDNESDAY, 15), "closed")
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, [dentist_appt]) == [
        (utc(2026, 4, 15, 8), utc(2026, 4, 15, 11)),
        (utc(2026, 4, 15, 12), utc(2026, 4, 15, 13)),
        (utc(2026, 4, 15, 14), utc(2026, 4, 15, 16)),
    ]


def test_extra_hours_on_a_saturday() -> None:
    """An "extra" exception opens a Saturday morning for that dentist only."""
    extra = ScheduleException(SMITH, local(SATURDAY, 9), local(SATURDAY, 13), "extra", "Catch-up clinic")
    assert working_intervals(SETTINGS, SMITH, SATURDAY, HOURS, []) == []
    assert working_intervals(SETTINGS, SMITH, SATURDAY, HOURS, [extra]) == [
        (utc(2026, 4, 18, 8), utc(2026, 4, 18, 12))
    ]
    assert working_intervals(SETTINGS, PATEL, SATURDAY, HOURS, [extra]) == []


def test_clinic_wide_extra_hours_apply_to_every_dentist() -> None:
    """An "extra" exception without a dentist opens the time for everyone."""
    extra = ScheduleException(None, local(SATURDAY, 10), local(SATURDAY, 12), "extra")
    for dentist in (SMITH, PATEL):
        assert working_intervals(SETTINGS, dentist, SATURDAY, HOURS, [extra]) == [
            (utc(2026, 4, 18, 9), utc(2026, 4, 18, 11))
        ]


def test_extra_hours_extend_a_working_day() -> None:
    """Extra hours over the lunch break join the morning and afternoon into one interval."""
    extra = ScheduleException(SMITH, local(WEDNESDAY, 12), local(WEDNESDAY, 13), "extra")
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, HOURS, [extra]) == [
        (utc(2026, 4, 15, 8), utc(2026, 4, 15, 16))
    ]


def test_extra_hours_are_clipped_to_the_local_day() -> None:
    """An extra spanning local midnight counts on each local date only up to that midnight."""
    extra = ScheduleException(
        SMITH, local(SATURDAY, 20), local(SATURDAY + timedelta(days=1), 2), "extra"
    )
    assert working_intervals(SETTINGS, SMITH, SATURDAY, HOURS, [extra]) == [
        (utc(2026, 4, 18, 19), utc(2026, 4, 18, 23))
    ]
    assert working_intervals(SETTINGS, SMITH, SATURDAY + timedelta(days=1), HOURS, [extra]) == [
        (utc(2026, 4, 18, 23), utc(2026, 4, 19, 1))
    ]


def test_local_date_follows_the_clinic_zone() -> None:
    """In New York the same weekly hours land five hours later in UTC than in London (winter)."""
    new_york = ClinicSettings(timezone="America/New_York")
    day = date(2026, 1, 14)
    assert working_intervals(new_york, SMITH, day, HOURS, [])[0] == (
        utc(2026, 1, 14, 14),
        utc(2026, 1, 14, 17),
    )
    assert working_intervals(SETTINGS, SMITH, day, HOURS, [])[0] == (
        utc(2026, 1, 14, 9),
        utc(2026, 1, 14, 12),
    )


# The DST change days (Sundays): zone, change day, UTC hour of 09:00 local the day before and on the day.
DST_DAYS = [
    ("Europe/London", date(2026, 3, 29), 9, 8),  # GMT -> BST
    ("Europe/London", date(2026, 10, 25), 8, 9),  # BST -> GMT
    ("America/New_York", date(2026, 3, 8), 14, 13),  # EST -> EDT
    ("America/New_York", date(2026, 11, 1), 13, 14),  # EDT -> EST
]
EVERY_DAY = weekdays(SMITH, range(7))


def day_slots(
    settings: ClinicSettings, day: date, exceptions: list[ScheduleException] | None = None
) -> list[Slot]:
    """Admin's check-up slots for Dr Smith (working every day) on one local date, asked long before."""
    return find_slots(
        settings=settings,
        appt_type=CHECK_UP,
        dentist_ids=[SMITH],
        date_from=day,
        date_to=day,
        hours=EVERY_DAY,
        exceptions=exceptions or [],
        busy=[],
        now=utc(2025, 1, 1),
        role="admin",
    )


@pytest.mark.parametrize(("zone", "change_day", "utc_hour_before", "utc_hour_on"), DST_DAYS)
def test_dst_change_keeps_nine_oclock_local(
    zone: str, change_day: date, utc_hour_before: int, utc_hour_on: int
) -> None:
    """The 09:00 slot is 09:00 local on both sides of a DST change, so its UTC instant moves by an hour."""
    settings = ClinicSettings(timezone=zone)
    day_before = change_day - timedelta(days=1)
    before = day_slots(settings, day_before)[0].start
    during = day_slots(settings, change_day)[0].start
    assert before == datetime.combine(day_before, time(utc_hour_before), tzinfo=UTC)
    assert during == datetime.combine(change_day, time(utc_hour_on), tzinfo=UTC)
    assert during - before == timedelta(hours=24 + utc_hour_on - utc_hour_before)
    assert abs(utc_hour_on - utc_hour_before) == 1
    assert before.astimezone(settings.zone).time() == during.astimezone(settings.zone).time() == time(9)


@pytest.mark.parametrize(("zone", "change_day", "utc_hour_before", "utc_hour_on"), DST_DAYS)
def test_dst_change_day_has_a_normal_days_slots(
    zone: str, change_day: date, utc_hour_before: int, utc_hour_on: int
) -> None:
    """A DST change day offers as many slots as an ordinary day, each lasting its real 30 minutes."""
    settings = ClinicSettings(timezone=zone)
    normal = day_slots(settings, change_day - timedelta(days=7))
    during = day_slots(settings, change_day)
    assert len(normal) == 26  # 09:00-11:30 and 13:00-16:30 every 15 minutes
    assert len(during) == len(normal)
    assert [s.start.astimezone(ZoneInfo(zone)).time() for s in during] == [
        s.start.astimezone(ZoneInfo(zone)).time() for s in normal
    ]
    assert all(s.end - s.start == timedelta(minutes=30) for s in during)


@pytest.mark.parametrize(
    ("zone", "change_day", "expected"),
    [
        ("Europe/London", date(2026, 3, 29), 92),  # 23 hours: 01:00-01:45 never happen
        ("Europe/London", date(2026, 10, 25), 100),  # 25 hours: 01:00-01:45 happen twice
        ("America/New_York", date(2026, 3, 8), 92),
        ("America/New_York", date(2026, 11, 1), 100),
    ],
)
def test_round_the_clock_hours_on_a_dst_day_follow_the_wall_clock(
    zone: str, change_day: date, expected: int
) -> None:
    """A 24-hour extra on a DST day offers each real grid time: none in the gap, both in the overlap."""
    settings = ClinicSettings(timezone=zone)
    start = datetime.combine(change_day, time(0), tzinfo=settings.zone)
    end = datetime.combine(change_day + timedelta(days=1), time(0), tzinfo=settings.zone)
    whole_day = ScheduleException(SMITH, start, end, "extra")
    slots = day_slots(settings, change_day, [whole_day])
    starts = [s.start for s in slots]
    assert len(starts) == expected - 1  # the 23:45 start would end after midnight
    assert len(set(starts)) == len(starts)
    assert all(s.start.astimezone(settings.zone).minute % 15 == 0 for s in slots)
    assert all(b - a in (timedelta(minutes=15),) for a, b in zip(starts, starts[1:]))


def test_nonexistent_start_time_uses_the_offset_before_the_change() -> None:
    """Hours from 01:30 on the spring-forward day (a time that never happens) start at 02:30 BST."""
    day = date(2026, 3, 29)
    hours = [WorkingPeriod(SMITH, 6, time(1, 30), time(3))]
    assert working_intervals(SETTINGS, SMITH, day, hours, []) == [
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2))
    ]


def test_ambiguous_start_time_uses_the_first_occurrence() -> None:
    """Hours from 01:30 on the fall-back day (a time that happens twice) start at the first 01:30."""
    day = date(2026, 10, 25)
    hours = [WorkingPeriod(SMITH, 6, time(1, 30), time(3))]
    assert working_intervals(SETTINGS, SMITH, day, hours, []) == [
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3))
    ]


def test_hours_ending_at_midnight() -> None:
    """A period ending 00:00 runs to the end of the local day."""
    hours = [WorkingPeriod(SMITH, 2, time(20), time(0))]
    assert working_intervals(SETTINGS, SMITH, WEDNESDAY, hours, []) == [
        (utc(2026, 4, 15, 19), utc(2026, 4, 15, 23))
    ]


def test_grid_restarts_from_local_midnight_across_a_dst_change() -> None:
    """On the spring-forward day a 45-minute grid keeps to local wall times (02:15), not UTC steps."""
    settings = ClinicSettings(slot_minutes=45)
    day = date(2026, 3, 29)
    whole_day = ScheduleException(
        SMITH, local(day, 0), local(day + timedelta(days=1), 0), "extra"
    )
    walls = [f"{s.start.astimezone(LONDON):%H:%M}" for s in day_slots(settings, day, [whole_day])]
    assert walls[:5] == ["00:00", "00:45", "02:15", "03:00", "03:45"]  # 01:30 never happens
    assert all((int(w[:2]) * 60 + int(w[3:])) % 45 == 0 for w in walls)

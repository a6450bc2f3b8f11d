"""find_slots: the grid, busy time, patient windows, ordering and speed."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta

import pytest

from server.booking import (
    ApptType,
    BookingError,
    BusyInterval,
    ClinicSettings,
    ScheduleException,
    Slot,
    check_booking,
    find_slots,
)
from server.protocol import Reason
from tests.server.booking_world import (
    ALICE, BOB, CHECK_UP, CLEANING, FILLING, HOURS, LONDON, MONDAY, NOW, PATEL, ROOT_CANAL, SETTINGS,
    SMITH, local,
)


def slots(
    appt_type: ApptType = CHECK_UP,
    *,
    dentists: tuple[int, ...] = (SMITH,),
    date_from: date = MONDAY,
    date_to: date = MONDAY,
    exceptions: list[ScheduleException] | None = None,
    busy: list[BusyInterval] | None = None,
    now: datetime = NOW,
    role: str = "admin",
    patient_id: int | None = None,
    settings: ClinicSettings = SETTINGS,
) -> list[Slot]:
    """find_slots with the demo clinic's hours and defaults that tests override one at a time."""
    return find_slots(
        settings=settings,
        appt_type=appt_type,
        dentist_ids=dentists,
        date_from=date_from,
        date_to=date_to,
        hours=HOURS,
        exceptions=exceptions or [],
        busy=busy or [],
        now=now,
        role=role,
        patient_id=patient_id,
    )


def local_times(found: list[Slot], dentist: int | None = None) -> list[str]:
    """Start times as London "HH:MM", optionally for one dentist."""
    return [
        f"{s.start.astimezone(LONDON):%H:%M}" for s in found if dentist is None or s.dentist_id == dentist
    ]


def quarter_hours(start: str, last: str) -> list[str]:
    """Every quarter hour from start to last inclusive, as "HH:MM"."""
    h, m = map(int, start.split(":"))
    lh, lm = map(int, last.split(":"))
    out = []
    while (h, m) <= (lh, lm):
        out.append(f"{h:02d}:{m:02d}")
        h, m = (h, m + 15) if m < 45 else (h + 1, 0)
    return out


def test_starts_fall_on_the_15_minute_grid() -> None:
    """A check-up can start every quarter hour from 09:00 to 11:30 and 13:00 to 16:30."""
    assert local_times(slots()) == quarter_hours("09:00", "11:30") + quarter_hours("13:00", "16:30")


def test_a_coarser_grid_gives_fewer_starts() -> None:
    """With a 30-minute grid only :00 and :30 starts are offered."""
    found = local_times(slots(settings=ClinicSettings(slot_minutes=30)))
    assert found == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"] + [
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30"
    ]


def test_slot_end_is_start_plus_duration_in_utc() -> None:
    """Each slot ends one type-duration after it starts, and both are UTC instants."""
    for slot in slots(CLEANING):
        assert slot.end - slot.start == timedelta(minutes=45)
        assert slot.start.tzinfo is UTC and slot.end.tzinfo is UTC


def test_filling_does_not_fit_before_the_break() -> None:
    """A 60-minute filling may start at 11:00 but not 11:15 or 11:30, which would run into the break."""
    found = local_times(slots(FILLING))
    assert found == quarter_hours("09:00", "11:00") + quarter_hours("13:00", "16:00")
    assert "11:30" not in found and "11:15" not in found


def test_dentists_own_appointment_blocks_overlapping_starts() -> None:
    """Dr Smith's 10:00-10:30 appointment removes the starts that would overlap it, not Dr Patel's."""
    busy = [BusyInterval(local(MONDAY, 10), local(MONDAY, 10, 30), dentist_id=SMITH, patient_id=BOB)]
    found = slots(busy=busy, dentists=(SMITH, PATEL))
    smith = local_times(found, SMITH)
    assert "09:30" in smith and "10:30" in smith  # touching is fine
    assert "09:45" not in smith and "10:00" not in smith and "10:15" not in smith
    assert local_times(found, PATEL) == quarter_hours("09:00", "11:30") + quarter_hours("13:00", "16:30")


def test_patients_own_appointment_blocks_every_dentist() -> None:
    """Alice's 14:00 cleaning with Dr Patel hides 14:00 from both dentists when booking for Alice."""
    busy = [BusyInterval(local(MONDAY, 14), local(MONDAY, 14, 45), dentist_id=PATEL, patient_id=ALICE)]
    for_alice = slots(busy=busy, dentists=(SMITH, PATEL), patient_id=ALICE)
    assert "14:00" not in local_times(for_alice, SMITH)
    assert "14:00" not in local_times(for_alice, PATEL)
    assert "13:30" in local_times(for_alice, SMITH) and "14:45" in local_times(for_alice, SMITH)
    for_bob = slots(busy=busy, dentists=(SMITH, PATEL), patient_id=BOB)
    assert "14:00" in local_times(for_bob, SMITH)
    assert "14:00" not in local_times(for_bob, PATEL)


def test_exceptions_shape_the_offer() -> None:
    """A day off offers nothing; Saturday extra hours offer starts that would otherwise not exist."""
    day_off = ScheduleException(SMITH, local(MONDAY, 0), local(MONDAY, 23, 59), "closed")
    assert slots(exceptions=[day_off]) == []
    saturday = MONDAY + timedelta(days=5)
    extra = ScheduleException(SMITH, local(saturday, 9), local(saturday, 10), "extra")
    assert slots(date_from=saturday, date_to=saturday) == []
    assert local_times(slots(date_from=saturday, date_to=saturday, exceptions=[extra])) == [
        "09:00", "09:15", "09:30"
    ]


def test_sorted_by_start_then_dentist() -> None:
    """Slots over several days and dentists come back ordered by (start, dentist_id)."""
    found = slots(dentists=(PATEL, SMITH), date_to=MONDAY + timedelta(days=4))
    keys = [(s.start, s.dentist_id) for s in found]
    assert keys == sorted(keys)
    assert found[0].dentist_id == SMITH and found[1].dentist_id == PATEL
    assert len({s.start.date() for s in found}) == 5


def test_date_range_is_inclusive_local_dates() -> None:
    """date_from..date_to covers whole local days, both ends included, and nothing outside."""
    found = slots(date_from=MONDAY, date_to=MONDAY + timedelta(days=1))
    days = {s.start.astimezone(LONDON).date() for s in found}
    assert days == {MONDAY, MONDAY + timedelta(days=1)}
    assert slots(date_from=MONDAY, date_to=MONDAY - timedelta(days=1)) == []


def test_never_offers_the_past() -> None:
    """Asked at 10:07 on the day, the first start offered (even to the front desk) is 10:15."""
    now = local(MONDAY, 10, 7)
    found = slots(now=now)
    assert found and all(s.start >= now for s in found)
    assert local_times(found)[0] == "10:15"
    assert slots(now=local(MONDAY, 10, 15))[0].start == local(MONDAY, 10, 15)


def test_min_notice_applies_to_patients_not_admin() -> None:
    """At 09:00 a patient's first start is 11:00 (two hours' notice); the front desk still gets 09:00."""
    now = local(MONDAY, 9)
    assert local_times(slots(now=now, role="patient"))[0] == "11:00"
    assert local_times(slots(now=now, role="admin"))[0] == "09:00"
    assert local_times(slots(now=now, role="dentist"))[0] == "09:00"


def test_max_advance_applies_to_patients_not_admin() -> None:
    """Asked on a Wednesday at 09:00, a patient sees up to 09:00 ninety days on; the front desk more."""
    wednesday = MONDAY + timedelta(days=2)
    now = local(wednesday, 9)
    last_day = wednesday + timedelta(days=90)  # a Tuesday
    until = wednesday + timedelta(days=120)
    patient = slots(now=now, role="patient", date_to=until)
    admin = slots(now=now, role="admin", date_to=until)
    assert patient[-1].start == local(last_day, 9) == now + timedelta(days=90)
    assert admin[-1].start > local(last_day, 9) + timedelta(days=20)
    assert local_times(slots(now=now, role="patient", date_from=last_day, date_to=last_day)) == ["09:00"]
    assert len(slots(now=now, role="admin", date_from=last_day, date_to=last_day)) == 26


def test_staff_only_type_is_refused_to_patients() -> None:
    """A patient asking for root-canal slots is told to call; the front desk gets the slots."""
    with pytest.raises(BookingError) as refused:
        slots(ROOT_CANAL, role="patient")
    assert refused.value.reason == Reason.FORBIDDEN
    assert "Root canal" in refused.value.message
    assert slots(ROOT_CANAL, role="admin")


def test_unknown_role_is_refused() -> None:
    """A role the rules do not know gets nothing rather than staff rights."""
    with pytest.raises(BookingError) as refused:
        slots(role="superuser")
    assert refused.value.reason == Reason.FORBIDDEN


def test_every_slot_offered_can_be_booked_and_no_other_start() -> None:
    """find_slots and check_booking agree: each offered start passes, each grid start not offered fails."""
    busy = [
        BusyInterval(local(MONDAY, 10), local(MONDAY, 10, 45), dentist_id=SMITH, patient_id=BOB),
        BusyInterval(local(MONDAY, 15), local(MONDAY, 16), dentist_id=PATEL, patient_id=ALICE),
    ]
    exceptions = [ScheduleException(SMITH, local(MONDAY, 14), local(MONDAY, 14, 30), "closed")]
    offered = {s.start for s in slots(FILLING, busy=busy, exceptions=exceptions, patient_id=ALICE)}
    assert offered
    grid = [local(MONDAY, 0) + timedelta(minutes=15 * i) for i in range(96)]
    for start in grid:
        try:
            check_booking(
                settings=SETTINGS, role="admin", appt_type=FILLING, dentist_id=SMITH,
                patient_id=ALICE, chair_id=None, start=start, hours=HOURS,
                exceptions=exceptions, busy=busy, now=NOW,
            )
            bookable = True
        except BookingError:
            bookable = False
        assert bookable == (start.astimezone(UTC) in offered), start


def test_two_dentists_ninety_days_is_fast() -> None:
    """Two dentists over 90 days with a busy diary takes well under 100 ms."""
    now = local(MONDAY, 8)
    busy = [
        BusyInterval(
            local(MONDAY + timedelta(days=d), 9) + timedelta(minutes=45 * i),
            local(MONDAY + timedelta(days=d), 9) + timedelta(minutes=45 * i + 30),
            dentist_id=SMITH if i % 2 else PATEL,
            patient_id=100 + i,
        )
        for d in range(90)
        for i in range(10)
    ]
    best = float("inf")
    for _ in range(5):
        started = clock.perf_counter()
        found = slots(
            dentists=(SMITH, PATEL), date_to=MONDAY + timedelta(days=89), busy=busy, now=now,
            role="patient", patient_id=ALICE,
        )
        best = min(best, clock.perf_counter() - started)
    assert len(found) > 1000
    assert best < 0.1, f"find_slots took {best * 1000:.1f} ms"

"""check_booking, the late-cancel rule and ownership: what a single booking or change may do."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.booking import (
    ApptType,
    BookingError,
    BusyInterval,
    ClinicSettings,
    ScheduleException,
    WorkingPeriod,
    check_booking,
    check_patient_change,
    may_act_on,
)
from server.protocol import Reason
from tests.server.booking_world import (
    ALICE, BOB, CHAIR_1, CHAIR_2, CHECK_UP, FILLING, HOURS, MONDAY, NOW, PATEL, ROOT_CANAL, SETTINGS,
    SMITH, local,
)


def book(
    start: datetime,
    *,
    role: str = "admin",
    appt_type: ApptType = CHECK_UP,
    dentist_id: int = SMITH,
    patient_id: int = ALICE,
    chair_id: int | None = CHAIR_1,
    exceptions: list[ScheduleException] | None = None,
    busy: list[BusyInterval] | None = None,
    now: datetime = NOW,
    exclude_appointment_id: int | None = None,
) -> datetime:
    """check_booking with the demo clinic and defaults that tests override one at a time."""
    return check_booking(
        settings=SETTINGS,
        role=role,
        appt_type=appt_type,
        dentist_id=dentist_id,
        patient_id=patient_id,
        chair_id=chair_id,
        start=start,
        hours=HOURS,
        exceptions=exceptions or [],
        busy=busy or [],
        now=now,
        exclude_appointment_id=exclude_appointment_id,
    )


def refusal(start: datetime, **kwargs: object) -> BookingError:
    """The BookingError a booking raises (the test fails if it is accepted)."""
    with pytest.raises(BookingError) as caught:
        book(start, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_valid_booking_returns_its_end_in_utc() -> None:
    """A filling at 10:00 London is accepted and ends at 11:00 London, returned as UTC."""
    end = book(local(MONDAY, 10), appt_type=FILLING)
    assert end == datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
    assert end.tzinfo is UTC


def test_start_in_another_offset_is_the_same_instant() -> None:
    """A start given with a +02:00 offset is judged by the instant it names, not its wall clock."""
    start = local(MONDAY, 10).astimezone(ZoneInfo("Europe/Berlin"))
    assert book(start) == local(MONDAY, 10, 30)


def test_naive_start_is_invalid_params() -> None:
    """A start without an offset is refused with a per-field message on "start"."""
    error = refusal(datetime(2026, 4, 20, 10, 0))
    assert error.reason == Reason.INVALID_PARAMS
    assert set(error.fields) == {"start"}


@pytest.mark.parametrize("start", [(10, 10, 0), (10, 5, 0), (10, 0, 30)])
def test_start_off_the_grid_is_invalid_params(start: tuple[int, int, int]) -> None:
    """Starts at 10:10, 10:05 or 10:00:30 are not on the 15-minute grid."""
    error = refusal(local(MONDAY, *start))
    assert error.reason == Reason.INVALID_PARAMS
    assert "start" in error.fields
    assert "15 minutes" in error.message


def test_grid_is_local_wall_clock_not_utc() -> None:
    """On an hourly grid in Kolkata (UTC+05:30), 10:00 local (04:30Z) is on it, 09:30 local (04:00Z) not."""
    kolkata = ZoneInfo("Asia/Kolkata")
    common = dict(
        settings=ClinicSettings(timezone="Asia/Kolkata", slot_minutes=60), role="admin",
        appt_type=CHECK_UP, dentist_id=SMITH, patient_id=ALICE, chair_id=None,
        hours=[WorkingPeriod(SMITH, 0, time(9), time(17))], exceptions=[], busy=[], now=NOW,
    )
    check_booking(start=datetime.combine(MONDAY, time(10), tzinfo=kolkata), **common)  # type: ignore
    with pytest.raises(BookingError) as caught:
        half_past = datetime.combine(MONDAY, time(9, 30), tzinfo=kolkata)
        check_booking(start=half_past, **common)  # type: ignore
    assert caught.value.reason == Reason.INVALID_PARAMS


def test_invalid_params_comes_before_forbidden() -> None:
    """A patient asking for a staff-only type at an off-grid time hears about the time first."""
    error = refusal(local(MONDAY, 10, 10), role="patient", appt_type=ROOT_CANAL)
    assert error.reason == Reason.INVALID_PARAMS


def test_staff_only_type_is_forbidden_for_patients() -> None:
    """A patient cannot book a root canal online; the front desk can."""
    error = refusal(local(MONDAY, 9), role="patient", appt_type=ROOT_CANAL)
    assert error.reason == Reason.FORBIDDEN
    assert book(local(MONDAY, 9), appt_type=ROOT_CANAL) == local(MONDAY, 10, 30)


def test_forbidden_comes_before_too_soon() -> None:
    """A patient booking a staff-only type in the past is told about the type first."""
    error = refusal(local(MONDAY, 9), role="patient", appt_type=ROOT_CANAL, now=local(MONDAY, 12))
    assert error.reason == Reason.FORBIDDEN


@pytest.mark.parametrize("role", ["admin", "dentist", "patient"])
def test_past_start_is_too_soon_for_everyone(role: str) -> None:
    """Nobody can book a start that has already passed."""
    error = refusal(local(MONDAY, 9), role=role, now=local(MONDAY, 9, 1))
    assert error.reason == Reason.TOO_SOON
    assert book(local(MONDAY, 9), role="admin", now=local(MONDAY, 9)) == local(MONDAY, 9, 30)


def test_min_notice_applies_to_patients_only() -> None:
    """At 09:00 a patient cannot book 10:45 (under two hours' notice) but can book 11:00; staff can."""
    now = local(MONDAY, 9)
    error = refusal(local(MONDAY, 10, 45), role="patient", now=now)
    assert error.reason == Reason.TOO_SOON
    assert "2 hours" in error.message
    assert book(local(MONDAY, 11), role="patient", now=now)
    assert book(local(MONDAY, 10, 45), role="admin", now=now)
    assert book(local(MONDAY, 10, 45), role="dentist", now=now)


def test_max_advance_applies_to_patients_only() -> None:
    """A patient can book exactly 90 days ahead but not a slot later; the front desk can."""
    now = local(MONDAY, 9)
    ninety = now + timedelta(days=90)  # Sunday 19 July: use the Monday after for a working day
    monday_after = local(MONDAY + timedelta(days=91), 9)
    error = refusal(monday_after, role="patient", now=now)
    assert error.reason == Reason.TOO_FAR
    assert "90 days" in error.message
    assert book(monday_after, role="admin", now=now)
    assert refusal(ninety, role="patient", now=now).reason == Reason.OUTSIDE_WORKING_HOURS  # not too_far
    assert refusal(ninety + timedelta(minutes=15), role="patient", now=now).reason == Reason.TOO_FAR


def test_too_soon_comes_before_outside_working_hours() -> None:
    """A past Saturday start is reported as too soon, not as outside hours."""
    saturday = MONDAY - timedelta(days=2)
    error = refusal(local(saturday, 10), now=local(MONDAY, 9))
    assert error.reason == Reason.TOO_SOON


@pytest.mark.parametrize(
    ("start", "appt_type"),
    [
        ((11, 30), FILLING),  # would run into the 12:00 break
        ((11, 15), FILLING),
        ((12, 0), CHECK_UP),  # during the break
        ((8, 45), CHECK_UP),  # before opening
        ((16, 45), CHECK_UP),  # past closing
    ],
)
@pytest.mark.parametrize("role", ["admin", "dentist", "patient"])
def test_outside_working_hours_for_every_role(
    start: tuple[int, int], appt_type: ApptType, role: str
) -> None:
    """An appointment not wholly inside one working interval is refused, whoever books it."""
    error = refusal(local(MONDAY, *start), appt_type=appt_type, role=role)
    assert error.reason == Reason.OUTSIDE_WORKING_HOURS
    assert appt_type.name in error.message


def test_filling_at_eleven_fits_before_the_break() -> None:
    """A filling from 11:00 to 12:00 ends exactly as the break starts and is accepted."""
    assert book(local(MONDAY, 11), appt_type=FILLING) == local(MONDAY, 12)


def test_exceptions_decide_working_hours() -> None:
    """A clinic closure refuses a normal weekday; extra hours allow a Saturday."""
    closure = ScheduleException(None, local(MONDAY, 0), local(MONDAY, 23), "closed", "Bank holiday")
    assert refusal(local(MONDAY, 10), exceptions=[closure]).reason == Reason.OUTSIDE_WORKING_HOURS
    saturday = MONDAY + timedelta(days=5)
    extra = ScheduleException(SMITH, local(saturday, 9), local(saturday, 12), "extra")
    assert refusal(local(saturday, 10)).reason == Reason.OUTSIDE_WORKING_HOURS
    assert book(local(saturday, 10), exceptions=[extra]) == local(saturday, 10, 30)
    assert refusal(local(saturday, 10), dentist_id=PATEL, exceptions=[extra]).reason == (
        Reason.OUTSIDE_WORKING_HOURS
    )


def appointment(
    start: datetime, minutes: int, *, dentist: int, patient: int, chair: int | None, appt_id: int
) -> BusyInterval:
    """An existing occupying appointment."""
    return BusyInterval(start, start + timedelta(minutes=minutes), dentist, patient, chair, appt_id)


def test_overlap_with_the_dentist_is_slot_unavailable() -> None:
    """Dr Smith is busy 10:00-10:30 with Bob, so Alice cannot have 10:15 with him."""
    busy = [appointment(local(MONDAY, 10), 30, dentist=SMITH, patient=BOB, chair=CHAIR_2, appt_id=1)]
    error = refusal(local(MONDAY, 10, 15), busy=busy)
    assert error.reason == Reason.SLOT_UNAVAILABLE
    assert "dentist" in error.message and "10:00" in error.message
    assert book(local(MONDAY, 10, 15), busy=busy, dentist_id=PATEL)


def test_overlap_with_the_patient_is_slot_unavailable() -> None:
    """Alice is with Dr Patel 10:00-11:00, so she cannot also see Dr Smith at 10:30."""
    busy = [appointment(local(MONDAY, 10), 60, dentist=PATEL, patient=ALICE, chair=CHAIR_2, appt_id=1)]
    error = refusal(local(MONDAY, 10, 30), busy=busy)
    assert error.reason == Reason.SLOT_UNAVAILABLE
    assert "patient" in error.message
    assert book(local(MONDAY, 10, 30), busy=busy, patient_id=BOB)


def test_overlap_with_the_chair_is_slot_unavailable() -> None:
    """Chair 1 is taken 10:00-10:30, so another dentist's patient cannot use it then; no chair, no clash."""
    busy = [appointment(local(MONDAY, 10), 30, dentist=PATEL, patient=BOB, chair=CHAIR_1, appt_id=1)]
    error = refusal(local(MONDAY, 10), busy=busy, chair_id=CHAIR_1)
    assert error.reason == Reason.SLOT_UNAVAILABLE
    assert "chair" in error.message
    assert book(local(MONDAY, 10), busy=busy, chair_id=CHAIR_2)
    assert book(local(MONDAY, 10), busy=busy, chair_id=None)


def test_back_to_back_appointments_do_not_clash() -> None:
    """An appointment may start exactly when the previous one ends and end when the next begins."""
    busy = [
        appointment(local(MONDAY, 9, 30), 30, dentist=SMITH, patient=BOB, chair=CHAIR_1, appt_id=1),
        appointment(local(MONDAY, 10, 30), 30, dentist=SMITH, patient=BOB, chair=CHAIR_1, appt_id=2),
    ]
    assert book(local(MONDAY, 10), busy=busy) == local(MONDAY, 10, 30)


def test_outside_working_hours_comes_before_slot_unavailable() -> None:
    """A clash at a time the dentist is not working reports the working hours."""
    busy = [appointment(local(MONDAY, 11, 30), 30, dentist=SMITH, patient=BOB, chair=None, appt_id=1)]
    assert refusal(local(MONDAY, 11, 30), appt_type=FILLING, busy=busy).reason == (
        Reason.OUTSIDE_WORKING_HOURS
    )


def test_moving_an_appointment_ignores_its_own_old_slot() -> None:
    """Moving appointment 42 from 10:00 to 10:15 does not clash with itself, but does with others."""
    own = appointment(local(MONDAY, 10), 30, dentist=SMITH, patient=ALICE, chair=CHAIR_1, appt_id=42)
    assert refusal(local(MONDAY, 10, 15), busy=[own]).reason == Reason.SLOT_UNAVAILABLE
    assert book(local(MONDAY, 10, 15), busy=[own], exclude_appointment_id=42) == local(MONDAY, 10, 45)
    other = appointment(local(MONDAY, 10, 30), 30, dentist=SMITH, patient=BOB, chair=None, appt_id=43)
    error = refusal(local(MONDAY, 10, 15), busy=[own, other], exclude_appointment_id=42)
    assert error.reason == Reason.SLOT_UNAVAILABLE


def test_unknown_role_is_forbidden() -> None:
    """A role the rules do not know cannot book."""
    assert refusal(local(MONDAY, 10), role="guest").reason == Reason.FORBIDDEN


LATE_MESSAGE = "Appointments starting within 24 hours can't be changed online; please call the clinic."


@pytest.mark.parametrize(
    "before", [timedelta(hours=23, minutes=59), timedelta(hours=1), -timedelta(hours=1)]
)
def test_late_cancel_window_refuses_online_changes(before: timedelta) -> None:
    """Within 24 hours of the start (or after it) a patient must call instead of changing online."""
    start = local(MONDAY, 10)
    with pytest.raises(BookingError) as caught:
        check_patient_change(settings=SETTINGS, start=start, now=start - before)
    assert caught.value.reason == Reason.TOO_SOON
    assert caught.value.message == LATE_MESSAGE


@pytest.mark.parametrize("before", [timedelta(hours=24), timedelta(days=3)])
def test_late_cancel_window_allows_earlier_changes(before: timedelta) -> None:
    """24 hours or more before the start, a patient may cancel or move online."""
    start = local(MONDAY, 10)
    check_patient_change(settings=SETTINGS, start=start, now=start - before)


def test_late_cancel_window_follows_the_setting() -> None:
    """A clinic with a 48-hour window refuses a change 30 hours ahead and says so."""
    start = local(MONDAY, 10)
    with pytest.raises(BookingError) as caught:
        check_patient_change(
            settings=ClinicSettings(late_cancel_hours=48), start=start, now=start - timedelta(hours=30)
        )
    assert "48 hours" in caught.value.message


@pytest.mark.parametrize(
    ("role", "user_dentist", "user_patient", "expected"),
    [
        ("admin", None, None, True),
        ("dentist", SMITH, None, True),
        ("dentist", PATEL, None, False),
        ("dentist", None, None, False),
        ("patient", None, ALICE, True),
        ("patient", None, BOB, False),
        ("patient", None, None, False),
        ("patient", SMITH, None, False),  # a patient login never acts through a dentist id
        ("guest", SMITH, ALICE, False),
    ],
)


def test_may_act_on_own_appointments_only(
    role: str, user_dentist: int | None, user_patient: int | None, expected: bool
) -> None:
    """Admins act on any appointment; dentists and patients only on their own."""
    assert (
        may_act_on(
            role=role,
            user_dentist_id=user_dentist,
            user_patient_id=user_patient,
            appointment_dentist_id=SMITH,
            appointment_patient_id=ALICE,
        )
        is expected
    )


def test_booking_error_carries_a_protocol_reason() -> None:
    """BookingError keeps reason, message and per-field messages, and rejects unknown reasons."""
    error = BookingError("too_far", "Too far ahead.", {"start": "Too far ahead."})
    assert error.reason == Reason.TOO_FAR and error.reason == "too_far"
    assert error.message == str(error) == "Too far ahead."
    assert error.fields == {"start": "Too far ahead."}
    assert BookingError("forbidden", "No.").fields == {}
    with pytest.raises(ValueError):
        BookingError("nope", "Not a reason.")

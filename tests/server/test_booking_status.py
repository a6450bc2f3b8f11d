"""The appointment status machine: allowed moves, final states, no-show timing and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.booking import OCCUPYING, BookingError, check_transition, next_statuses, undo_statuses
from server.protocol import Reason

START = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
AFTER = START + timedelta(minutes=10)
BEFORE = START - timedelta(minutes=10)
STATUSES = ["scheduled", "confirmed", "checked_in", "in_chair", "completed", "cancelled", "no_show"]

ALLOWED = [
    ("scheduled", "confirmed"),
    ("scheduled", "checked_in"),
    ("scheduled", "cancelled"),
    ("scheduled", "no_show"),
    ("confirmed", "checked_in"),
    ("confirmed", "cancelled"),
    ("confirmed", "no_show"),
    ("checked_in", "in_chair"),
    ("checked_in", "no_show"),
    ("checked_in", "cancelled"),
    ("in_chair", "completed"),
]

# Taking back a mistaken status change: staff only, on the appointment's own day.
UNDOS = [
    ("checked_in", "scheduled"),
    ("checked_in", "confirmed"),
    ("in_chair", "checked_in"),
    ("completed", "in_chair"),
    ("no_show", "scheduled"),
    ("no_show", "confirmed"),
]
NEXT_DAY = START + timedelta(days=1)


def refusal(old: str, new: str, *, role: str = "admin", now: datetime = AFTER) -> BookingError:
    """The BookingError a transition raises (the test fails if it is allowed)."""
    with pytest.raises(BookingError) as caught:
        check_transition(old, new, role=role, start=START, now=now)
    return caught.value


@pytest.mark.parametrize("role", ["admin", "dentist"])
@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_staff_may_make_every_allowed_transition(old: str, new: str, role: str) -> None:
    """The front desk and dentists may make each move of the status machine (after the start)."""
    check_transition(old, new, role=role, start=START, now=AFTER)


def test_every_other_transition_is_invalid() -> None:
    """Every pair of different statuses not in the machine (nor a same-day undo) is refused as invalid_transition."""
    refused = 0
    for old in STATUSES:
        for new in STATUSES:
            if old == new or (old, new) in ALLOWED:
                continue
            if (old, new) in UNDOS:
                assert refusal(old, new, now=NEXT_DAY).reason == Reason.INVALID_TRANSITION, (old, new)
                continue
            assert refusal(old, new).reason == Reason.INVALID_TRANSITION, (old, new)
            refused += 1
    assert refused == 7 * 6 - len(ALLOWED) - len(UNDOS)


@pytest.mark.parametrize("role", ["admin", "dentist"])
@pytest.mark.parametrize(("old", "new"), UNDOS)
def test_staff_may_undo_a_status_change_on_the_day(old: str, new: str, role: str) -> None:
    """A mistaken check-in, seating, completion or no-show can be taken back on the appointment's day only."""
    check_transition(old, new, role=role, start=START, now=AFTER)
    error = refusal(old, new, role=role, now=NEXT_DAY)
    assert error.reason == Reason.INVALID_TRANSITION and "day of the appointment" in error.message


def test_the_day_of_an_undo_is_the_clinic_day() -> None:
    """At 00:30 local time in New York (05:30 UTC) the clinic's day is still the appointment's previous day."""
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    late_evening = datetime(2026, 4, 20, 22, 0, tzinfo=new_york)
    after_midnight = datetime(2026, 4, 21, 0, 30, tzinfo=new_york)
    assert late_evening.astimezone(UTC).date() == after_midnight.astimezone(UTC).date()
    check_transition("completed", "in_chair", role="admin", start=late_evening,
                     now=late_evening + timedelta(minutes=30), zone=new_york)
    assert refusal_at(late_evening, after_midnight, new_york).reason == Reason.INVALID_TRANSITION


def refusal_at(start: datetime, now: datetime, zone) -> BookingError:
    with pytest.raises(BookingError) as caught:
        check_transition("completed", "in_chair", role="admin", start=start, now=now, zone=zone)
    return caught.value


@pytest.mark.parametrize(("old", "new"), UNDOS)
def test_patients_may_not_undo(old: str, new: str) -> None:
    """Undoing a status change is the clinic's call, not the patient's."""
    assert refusal(old, new, role="patient").reason == Reason.FORBIDDEN


def test_menus_offer_only_what_the_machine_allows() -> None:
    """next_statuses and undo_statuses list exactly the moves check_transition would accept now."""
    assert next_statuses("scheduled", role="admin", start=START, now=BEFORE) == ["confirmed", "checked_in", "cancelled"]
    assert next_statuses("scheduled", role="admin", start=START, now=AFTER) == [
        "confirmed", "checked_in", "cancelled", "no_show"]
    assert next_statuses("checked_in", role="dentist", start=START, now=AFTER) == ["in_chair", "cancelled", "no_show"]
    assert next_statuses("completed", role="admin", start=START, now=AFTER) == []
    assert undo_statuses("completed", role="admin", start=START, now=AFTER) == ["in_chair"]
    assert undo_statuses("completed", role="admin", start=START, now=NEXT_DAY) == []
    assert undo_statuses("scheduled", role="admin", start=START, now=AFTER) == []
    assert undo_statuses("checked_in", role="patient", start=START, now=AFTER) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("completed", "cancelled"),
        ("cancelled", "scheduled"),
        ("no_show", "checked_in"),
        ("scheduled", "completed"),
        ("scheduled", "in_chair"),
        ("confirmed", "scheduled"),
        ("in_chair", "cancelled"),
        ("in_chair", "no_show"),
        ("in_chair", "scheduled"),
    ],
)
def test_selected_forbidden_transitions_say_why(old: str, new: str) -> None:
    """Skipping steps, going backwards or leaving a final state is refused with a readable message."""
    error = refusal(old, new)
    assert error.reason == Reason.INVALID_TRANSITION
    assert error.message.endswith(".") and "_" not in error.message


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("role", ["admin", "dentist", "patient"])
def test_same_status_is_a_no_op(status: str, role: str) -> None:
    """Setting the status an appointment already has is allowed and changes nothing."""
    check_transition(status, status, role=role, start=START, now=BEFORE)


@pytest.mark.parametrize("old", ["scheduled", "confirmed", "checked_in"])
def test_no_show_only_after_the_start(old: str) -> None:
    """A no-show cannot be recorded before the appointment starts; from the start time it can."""
    assert refusal(old, "no_show", now=BEFORE).reason == Reason.INVALID_TRANSITION
    check_transition(old, "no_show", role="admin", start=START, now=START)


@pytest.mark.parametrize(
    ("old", "new"),
    [("scheduled", "confirmed"), ("scheduled", "cancelled"), ("confirmed", "cancelled")],
)
def test_patients_may_confirm_and_cancel(old: str, new: str) -> None:
    """A patient may confirm a scheduled appointment and cancel one, well before it starts."""
    check_transition(old, new, role="patient", start=START, now=BEFORE - timedelta(days=2))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("scheduled", "checked_in"),
        ("confirmed", "checked_in"),
        ("checked_in", "in_chair"),
        ("in_chair", "completed"),
        ("scheduled", "no_show"),
    ],
)
def test_patients_may_not_run_the_clinic_workflow(old: str, new: str) -> None:
    """Checking in, seating, completing and no-shows are staff actions: forbidden for patients."""
    error = refusal(old, new, role="patient")
    assert error.reason == Reason.FORBIDDEN


def test_patients_still_get_invalid_transition_for_impossible_moves() -> None:
    """A patient trying to revive a cancelled appointment hears it is final, not merely forbidden."""
    assert refusal("cancelled", "confirmed", role="patient").reason == Reason.INVALID_TRANSITION


def test_unknown_status_or_role_is_refused() -> None:
    """A made-up status is invalid_params on "status"; a made-up role is forbidden."""
    error = refusal("scheduled", "teeth_whitened")
    assert error.reason == Reason.INVALID_PARAMS and "status" in error.fields
    assert refusal("scheduled", "confirmed", role="receptionist").reason == Reason.FORBIDDEN


def test_occupying_statuses() -> None:
    """Every status but cancelled and no_show holds the chair, dentist and patient."""
    assert OCCUPYING == frozenset(STATUSES) - {"cancelled", "no_show"}
